"""Run a Roster provider component (WASI 0.2, world ``roster:provider/provider-component``)
from Python with wasmtime-py.

>>> from roster_provider import Provider, NotFound
>>> nimbus = Provider("roster_nimbus.wasm", secrets={"client_secret": "..."})
>>> nimbus.configure({"cluster": "ch-01", "tenant_id": "...", "client_id": "..."})
>>> nimbus.read("nimbus_user", "9fce70af-a632-49ca-bc0d-53db5a21c5b3")   # a dict, or None

What this host does: it loads the component, supplies ``roster:provider/secrets`` from a dict
or a callable, links wasi:http (every host reachable, or none: ``network="deny"``), and turns
each ``provider-error`` into an exception of its own class (``NotFound``, ``RateLimited``, ...).

What it cannot do: wasmtime-py gives Python no way to look inside an outgoing request, so it
cannot enforce the per-provider host allow-list that Roster's own host enforces. The choice is
all hosts (``network="allow"``, the default) or none (``network="deny"``: every request fails
with ``Denied``, which suits validate-only use). It does not pace, retry or keep state either;
see README.md.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import wasmtime
from wasmtime import component as wc

__all__ = [
    "Provider",
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
]

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
    """The host refused a capability (here: any outgoing request when ``network="deny"``)."""

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


def _error(variant: wc.Variant) -> ProviderError:
    tag, payload = variant.tag, variant.payload
    if tag == "invalid-config":
        return InvalidConfig(payload.field, payload.message)
    if tag == "invalid-input":
        return InvalidInput(payload.field, payload.message)
    if tag == "rate-limited":
        return RateLimited(payload.message, getattr(payload, "retry-after-ms"))
    if tag == "vendor":
        return VendorError(payload.message, payload.status)
    classes = {c.kind: c for c in (Unauthorized, Forbidden, NotFound, AlreadyExists, Unavailable, Denied)}
    if tag in classes:
        return classes[tag](payload)
    return ProviderError(f"{tag}: {payload!r}")


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
    :data:`Secrets`). ``network``: ``"allow"`` (every host; wasmtime-py cannot restrict by host)
    or ``"deny"`` (no outgoing request at all). ``memory_limit``: bytes of linear memory the
    instance may use (64 MiB, as in Roster's host).

    The component keeps its config per instance: call :meth:`configure` before ``read``,
    ``create``, ``delete`` and ``query``. Calls are serialized by a lock; a trapped instance is
    replaced on the next call.
    """

    def __init__(
        self,
        wasm: Union[str, os.PathLike, bytes],
        *,
        secrets: Optional[Secrets] = None,
        network: str = "allow",
        memory_limit: int = 64 << 20,
        engine: Optional[wasmtime.Engine] = None,
    ):
        if network not in ("allow", "deny"):
            raise ValueError('network must be "allow" or "deny"')
        self._engine = engine or _default_engine()
        self._component = _compile(self._engine, wasm)
        self._secrets: Secrets = secrets if secrets is not None else {}
        self._network = network
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
        """``"allow"`` or ``"deny"``."""
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
        replacement instance after a trap is configured again."""
        text = _json_text(config)
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

    @staticmethod
    def _result(value: Any) -> Any:
        # wasmtime-py returns a `result<T, provider-error>` as T's value or as the error's
        # Variant (the two cannot be confused: no T here is a Variant).
        if isinstance(value, wc.Variant):
            raise _error(value)
        return value

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            if self._instance is None:
                self._instantiate()
                if self._config is not None and name in ("read", "create", "delete", "query"):
                    self._result(self._guarded("configure", self._config))
            return self._guarded(name, *args)

    def _guarded(self, name: str, *args: Any) -> Any:
        try:
            return self._funcs[name](self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            self._instance = None
            raise ComponentTrapped(f"the component trapped in `{name}`: {e}") from e

    def _instantiate(self) -> None:
        store = wasmtime.Store(self._engine)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stderr()  # panics are explained on stderr; no args, env, stdin or files
        store.set_wasi(wasi)
        store.set_wasi_http()
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
            if self._network == "deny":
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
        return str(value)


def _deny(store: Any, request: Any, options: Any) -> wc.Variant:
    """`wasi:http/outgoing-handler.handle` that refuses: `error-code.HTTP-request-denied`."""
    request.drop(store)
    if options is not None:
        options.drop(store)
    return wc.Variant("HTTP-request-denied")
