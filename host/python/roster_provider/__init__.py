"""Run a Roster provider component (WASI 0.2, world ``roster:provider/provider-component``)
from Python with wasmtime-py.

>>> from roster_provider import Provider, NotFound, builtin
>>> nimbus = Provider(builtin("nimbus"), secrets={"client_secret": "..."})   # or a path to any component
>>> nimbus.configure({"cluster": "ch-01", "tenant_id": "...", "client_id": "..."})
>>> nimbus.read("nimbus_user", "9fce70af-a632-49ca-bc0d-53db5a21c5b3")   # a dict, or None

What this host does: it loads the component, supplies ``roster:provider/secrets`` from a dict
or a callable, and turns each ``provider-error`` into an exception of its own class
(``NotFound``, ``RateLimited``, ...), with every secret it handed over redacted from the text.

The network is denied unless you pass the provider's allow-list: with ``allowed_hosts=None``
(the default) every outgoing request fails with ``Denied`` (validate-only use). With a list,
``configure`` first checks that every host the component asks for under its config is in your
list (else ``Denied`` names the ones missing), then links wasi:http; because of what it cannot
do, a list is taken only with ``trust_declared_hosts=True``. What it cannot do:
wasmtime-py gives Python no way to look inside an outgoing request, so once the network is on,
this host **cannot stop the component from reaching a host it did not ask for**; Roster's own
host does. The private-network rule it applies to the host names in ``allowed_hosts``, resolved
at ``configure`` (``allow_private_networks=True`` opts out), not to what they resolve to later.
It does not pace, retry or keep state either; see README.md.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import wasmtime
from wasmtime import component as wc

from .address import refused_names
from .allowlist import AllowedHost, AllowList
from .redact import REDACTED, Redactor

__all__ = [
    "Provider",
    "builtin",
    "builtins",
    "FieldError",
    "ProviderError",
    "InvalidConfig",
    "InvalidInput",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "AlreadyExists",
    "RateLimited",
    "Unavailable",
    "Denied",
    "VendorError",
    "ComponentTrapped",
    "AllowList",
    "AllowedHost",
    "REDACTED",
]

#: The components built into the package (``nimbus``, ``symbee``), beside this module.
_COMPONENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "components")


def builtins() -> List[str]:
    """The names of the components this package carries."""
    try:
        return sorted(f[: -len(".wasm")] for f in os.listdir(_COMPONENTS) if f.endswith(".wasm"))
    except FileNotFoundError:
        return []


def builtin(name: str) -> str:
    """The path of the component ``name`` this package carries (``"nimbus"``, ``"symbee"``)."""
    path = os.path.join(_COMPONENTS, f"{name}.wasm")
    if not os.path.isfile(path):
        have = ", ".join(builtins()) or "none (a source checkout: build the wheel, or pass a path)"
        raise ValueError(f"no built-in component {name!r}; this package carries: {have}")
    return path


PROVIDER = "roster:provider/provider@0.2.0"
SECRETS = "roster:provider/secrets@0.2.0"
OUTGOING_HANDLER = "wasi:http/outgoing-handler@"

#: A secret source: a mapping from secret name to value, or a callable ``fn(name) -> value``
#: (``None`` or ``KeyError`` when it has no such secret). The callable is asked on every
#: ``get`` and ``refresh``: this host keeps no cache, so each answer is as fresh as the callable.
Secrets = Union[Mapping[str, str], Callable[[str], Optional[str]]]
Json = Union[Mapping[str, Any], str]


# --- errors ---------------------------------------------------------------------------------


class ProviderError(Exception):
    """A ``provider-error`` the component returned. ``kind`` is the WIT case name."""

    kind = "provider-error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _FieldProblem(ProviderError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class InvalidConfig(_FieldProblem):
    """The provider config is wrong; ``field`` names the key."""

    kind = "invalid-config"


class InvalidInput(_FieldProblem):
    """The desired attributes or arguments are wrong; ``field`` names the attribute."""

    kind = "invalid-input"


class Unauthorized(ProviderError):
    """The vendor rejected the credentials (after the refresh the provider attempted)."""

    kind = "unauthorized"


class Forbidden(ProviderError):
    """The credentials are good but not allowed to do this."""

    kind = "forbidden"


class NotFound(ProviderError):
    """The object, or one it depends on, does not exist."""

    kind = "not-found"


class AlreadyExists(ProviderError):
    """The object to create exists already."""

    kind = "already-exists"


class RateLimited(ProviderError):
    """Too many requests; ``retry_after_ms`` is how long the vendor asked to wait, if it said."""

    kind = "rate-limited"

    def __init__(self, message: str, retry_after_ms: Optional[int]):
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class Unavailable(ProviderError):
    """A transient failure (timeout, 5xx, dropped connection). Reads are safe to retry; a
    create may or may not have happened."""

    kind = "unavailable"


class Denied(ProviderError):
    """The host refused a capability: an outgoing request without ``allowed_hosts``, or a host
    the component asks for that ``allowed_hosts`` does not name."""

    kind = "denied"


class VendorError(ProviderError):
    """Any other vendor answer; ``status`` is the HTTP status (0 for a 200 with a vendor code)."""

    kind = "vendor"

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ComponentTrapped(RuntimeError):
    """The component trapped (a panic, or memory exhausted). The instance is discarded; the
    next call starts a new one and configures it again with the last config."""


def _error(variant: wc.Variant, redactor: Optional[Redactor] = None) -> ProviderError:
    """The exception for a WIT ``provider-error``, with the secrets ``redactor`` knows redacted."""
    tag, payload = variant.tag, variant.payload
    r = redactor.redact if redactor is not None else (lambda text: text)
    if tag == "invalid-config":
        return InvalidConfig(payload.field, r(payload.message))
    if tag == "invalid-input":
        return InvalidInput(payload.field, r(payload.message))
    if tag == "rate-limited":
        return RateLimited(r(payload.message), getattr(payload, "retry-after-ms"))
    if tag == "vendor":
        return VendorError(r(payload.message), payload.status)
    classes = {c.kind: c for c in (Unauthorized, Forbidden, NotFound, AlreadyExists, Unavailable, Denied)}
    if tag in classes:
        return classes[tag](r(payload))
    return ProviderError(r(f"{tag}: {payload!r}"))


@dataclass(frozen=True)
class FieldError:
    """One problem ``validate`` found."""

    field: str
    message: str


# --- conversions ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A wasmtime-py value as plain Python: records become dicts with snake_case keys."""
    if isinstance(value, wc.Record):
        return {k.replace("-", "_"): _plain(v) for k, v in vars(value).items()}
    if isinstance(value, wc.Variant):
        return {"tag": value.tag, "payload": _plain(value.payload)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _json_text(value: Json) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- the host -------------------------------------------------------------------------------

_DEFAULT_ENGINE: Optional[wasmtime.Engine] = None
_COMPILED: Dict[Tuple[int, str, int, int], wc.Component] = {}
_COMPILE_LOCK = threading.Lock()


def _default_engine() -> wasmtime.Engine:
    global _DEFAULT_ENGINE
    if _DEFAULT_ENGINE is None:
        _DEFAULT_ENGINE = wasmtime.Engine()
    return _DEFAULT_ENGINE


def _compile(engine: wasmtime.Engine, wasm: Union[str, os.PathLike, bytes]) -> wc.Component:
    """Compiles a component; a file is compiled once per engine while it is unchanged."""
    if isinstance(wasm, (bytes, bytearray)):
        return wc.Component(engine, bytes(wasm))
    path = os.path.abspath(os.fspath(wasm))
    stat = os.stat(path)
    key = (id(engine), path, stat.st_mtime_ns, stat.st_size)
    with _COMPILE_LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = wc.Component.from_file(engine, path)
        return _COMPILED[key]


class Provider:
    """One instance of a Roster provider component.

    ``wasm``: the component (a path or its bytes). ``secrets``: a mapping or a callable (see
    :data:`Secrets`). ``allowed_hosts``: ``None`` (the default) denies every outgoing request;
    a list of ``[scheme://]host[:port]`` entries (review what :meth:`allowed_hosts` asks for,
    then pass it) turns the network on, and :meth:`configure` refuses a config under which the
    component asks for a host not in it. wasmtime-py cannot filter requests one by one, so the
    list is checked against what the component declares, not enforced per request: the network
    is turned on only with ``trust_declared_hosts=True`` as well, which says you trust the
    component to keep to its declaration (else ``ValueError``).
    ``memory_limit``: bytes of linear memory the instance may use (64 MiB, as in Roster's host).

    The component keeps its config per instance: call :meth:`configure` before ``read``,
    ``create``, ``delete`` and ``query``. Calls are serialized by a lock; a trapped instance is
    replaced on the next call.
    """

    def __init__(
        self,
        wasm: Union[str, os.PathLike, bytes],
        *,
        secrets: Optional[Secrets] = None,
        allowed_hosts: Optional[List[str]] = None,
        allow_private_networks: bool = False,
        trust_declared_hosts: bool = False,
        memory_limit: int = 64 << 20,
        engine: Optional[wasmtime.Engine] = None,
    ):
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts is a list of entries, not one string")
        self._grant = AllowList(allowed_hosts) if allowed_hosts is not None else None  # ValueError names a bad entry
        if self._grant is not None and not trust_declared_hosts:
            # Refuse what this host cannot guarantee rather than let the list look enforced.
            raise ValueError(
                "allowed_hosts turns the network on, and this host cannot hold a component to it: "
                "wasmtime-py links wasi:http whole, so a component can reach any host once the network is on. "
                "Pass trust_declared_hosts=True if you trust the component to contact only the hosts it declares "
                "(configure checks that declaration against allowed_hosts), or run it in Roster's own host or the "
                "Node host, which check every request"
            )
        self._engine = engine or _default_engine()
        self._component = _compile(self._engine, wasm)
        self._secrets: Secrets = secrets if secrets is not None else {}
        self._network = "deny" if self._grant is None else "allow"
        self._allow_private = allow_private_networks
        self._redactor = Redactor()
        self._stderr = _RedactedStderr(self._redactor)
        self._memory_limit = memory_limit
        self._config: Optional[str] = None
        self._lock = threading.RLock()
        self._linker = self._make_linker()
        self._store: Optional[wasmtime.Store] = None
        self._instance: Optional[wc.Instance] = None
        self._funcs: Dict[str, wc.Func] = {}
        self._instantiate()  # a component this host cannot link fails here, not at first call

    @property
    def network(self) -> str:
        """``"deny"`` (no ``allowed_hosts`` given) or ``"allow"``."""
        return self._network

    # -- the provider interface --

    def metadata(self) -> Dict[str, Any]:
        """What the provider is: name, version, config schema, secrets, resources, data
        sources, rate limit (WIT names in snake_case). No config, no network."""
        return _plain(self._call("metadata"))

    def allowed_hosts(self, config: Json) -> List[str]:
        """The hosts the provider would contact under ``config`` (no network). Informational
        here: this host cannot enforce them."""
        return self._result(self._call("allowed-hosts", _json_text(config)))

    def configure(self, config: Json) -> None:
        """Validates and takes the provider config (a dict or JSON text); remembered, so a
        replacement instance after a trap is configured again. With ``allowed_hosts`` given,
        every host the component asks for under ``config`` must be in it (else ``Denied``)."""
        text = _json_text(config)
        if self._grant is not None:
            asked = [AllowedHost.parse(h) for h in self.allowed_hosts(text)]
            missing = [str(h) for h in asked if str(h) not in self._grant.entries]
            if missing:
                raise Denied(
                    f"the component asks for {', '.join(missing)}, not in allowed_hosts ({self._grant}); "
                    "add them to allowed_hosts if you grant them"
                )
            # The private-network rule, where this host can apply it: each host name granted,
            # resolved now (requests themselves are out of wasmtime-py's host's sight).
            refused = refused_names([AllowedHost.parse(e) for e in self._grant.entries], self._allow_private, _resolve)
            if refused:
                raise Denied("; ".join(refused))
        self._result(self._call("configure", text))
        self._config = text

    def validate(self, type_name: str, desired: Json) -> List[FieldError]:
        """Field-level problems of ``desired`` (no network, no config needed); empty when fine."""
        return [FieldError(f.field, f.message) for f in self._call("validate", type_name, _json_text(desired))]

    def read(self, type_name: str, id: str) -> Optional[Dict[str, Any]]:
        """The object's attributes, or ``None`` when it does not exist."""
        text = self._result(self._call("read", type_name, id))
        return None if text is None else json.loads(text)

    def create(self, type_name: str, desired: Json) -> Dict[str, Any]:
        """Creates the object; returns its attributes as the vendor now has them."""
        return json.loads(self._result(self._call("create", type_name, _json_text(desired))))

    def delete(self, type_name: str, id: str) -> None:
        """Deletes the object."""
        self._result(self._call("delete", type_name, id))

    def query(self, data_source: str, arguments: Optional[Json] = None) -> Dict[str, Any]:
        """Looks something up (a data source)."""
        text = self._result(self._call("query", data_source, _json_text(arguments or {})))
        return json.loads(text)

    # -- plumbing --

    def _result(self, value: Any) -> Any:
        # wasmtime-py returns a `result<T, provider-error>` as T's value or as the error's
        # Variant (the two cannot be confused: no T here is a Variant).
        if isinstance(value, wc.Variant):
            raise _error(value, self._redactor)
        return value

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            if self._instance is None:
                self._instantiate()
                # As Roster's host: a new instance is configured before any call that may use
                # its config (validate included), never left half-set-up after a trap.
                if self._config is not None and name not in ("metadata", "allowed-hosts", "configure"):
                    self._result(self._guarded("configure", self._config))
            return self._guarded(name, *args)

    def _guarded(self, name: str, *args: Any) -> Any:
        try:
            return self._funcs[name](self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            self._instance = None
            self._stderr.flush()
            raise ComponentTrapped(self._redactor.redact(f"the component trapped in `{name}`: {e}")) from None

    def _instantiate(self) -> None:
        store = wasmtime.Store(self._engine)
        wasi = wasmtime.WasiConfig()
        # Panics are explained on stderr, redacted (a panic message may quote a secret); no
        # args, env, stdin or files.
        wasi.stderr_custom = self._stderr
        store.set_wasi(wasi)
        store.set_wasi_http()  # linked; without allowed_hosts its `handle` is replaced by _deny
        store.set_limits(memory_size=self._memory_limit)
        instance = self._linker.instantiate(store, self._component)
        iface = instance.get_export_index(store, PROVIDER)
        if iface is None:
            raise TypeError(f"the component does not export {PROVIDER}")
        funcs = {}
        for name in ("metadata", "allowed-hosts", "configure", "validate", "read", "create", "delete", "query"):
            index = instance.get_export_index(store, name, iface)
            func = instance.get_func(store, index) if index is not None else None
            if func is None:
                raise TypeError(f"the component's {PROVIDER} has no function `{name}`")
            funcs[name] = func
        self._store, self._instance, self._funcs = store, instance, funcs

    def _make_linker(self) -> wc.Linker:
        linker = wc.Linker(self._engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        linker.allow_shadowing = True
        with linker.root() as root:
            with root.add_instance(SECRETS) as secrets:
                secrets.add_func("get", lambda _store, name: self._secret(name))
                secrets.add_func("refresh", lambda _store, name: self._secret(name))
            if self._grant is None:
                # Replace wasi:http's `handle` (same version as the component imports) with
                # one that refuses every request: the component reports `denied`.
                imports = self._component.type.imports(self._engine)
                for handler in [n for n in imports if n.startswith(OUTGOING_HANDLER)]:
                    with root.add_instance(handler) as http:
                        http.add_func("handle", _deny)
        return linker

    def _secret(self, name: str) -> Any:
        """`secrets.get` / `secrets.refresh`: the value, or a `secret-error` variant."""
        try:
            source = self._secrets
            value = source(name) if callable(source) else source[name]
        except KeyError:
            value = None
        except PermissionError as e:
            return wc.Variant("denied", f"secret `{name}`: {e}")
        except Exception as e:  # the component gets a typed error, never a trap
            return wc.Variant("unavailable", f"secret `{name}`: {type(e).__name__}: {e}")
        if value is None:
            return wc.Variant("not-found", f"no secret `{name}` was given to the Python host")
        self._redactor.add(str(value))  # never printed from now on
        return str(value)


class _RedactedStderr:
    """A component's stderr, let out to ``sys.stderr`` a line at a time with every secret the
    redactor knows replaced by ``[redacted]`` (a line that never ends, 4 KiB at a time)."""

    def __init__(self, redactor: Redactor):
        self._redactor = redactor
        self._pending = b""

    def __call__(self, data: bytes) -> None:
        self._pending += data
        end = self._pending.rfind(b"\n")
        if end >= 0:
            self._emit(self._pending[: end + 1])
            self._pending = self._pending[end + 1 :]
        if len(self._pending) > 4096:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, data: bytes) -> None:
        sys.stderr.write(self._redactor.redact(data.decode("utf-8", "replace")))
        sys.stderr.flush()


def _resolve(host: str, port: int) -> List[str]:
    """The addresses ``host`` resolves to now; none when it does not resolve."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError:
        return []


def _deny(store: Any, request: Any, options: Any) -> wc.Variant:
    """`wasi:http/outgoing-handler.handle` that refuses: `error-code.HTTP-request-denied`."""
    request.drop(store)
    if options is not None:
        options.drop(store)
    return wc.Variant("HTTP-request-denied")
