"""The outgoing-HTTP allow-list rule, the same as the Rust host's (host/runtime/src/http.rs) and
the Node host's (host/js/allowlist.js): an entry is ``[scheme://]host[:port]``, where ``host`` may
start with ``*.`` to allow every subdomain; without a port, an entry allows its scheme's default
port (443 for https, 80 for http; the request's, when no scheme is given). Matching ignores case;
an IPv6 address goes in brackets and is compared in one form (the URL standard's).
tests/vectors/allowlist.json holds the cases all three hosts run."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

DEFAULT_PORTS = {"https": 443, "http": 80}
_HOST_CHARS = re.compile(r"^[A-Za-z0-9\-.\[\]:_]+$")


def _rfc5952(ip: ipaddress.IPv6Address) -> str:
    groups = [int(g, 16) for g in ip.exploded.split(":")]
    best, run = (0, 0), (0, 0)
    for i, g in enumerate(groups):
        if g == 0:
            run = (i, 1) if run[1] == 0 or run[0] + run[1] != i else (run[0], run[1] + 1)
            if run[1] > best[1]:
                best = run
    hexes = lambda gs: ":".join(f"{g:x}" for g in gs)
    if best[1] < 2:
        return hexes(groups)
    return f"{hexes(groups[:best[0]])}::{hexes(groups[best[0] + best[1]:])}"


def _canonical_ipv6(s: str) -> Optional[str]:
    if "%" in s:
        return None
    try:
        return _rfc5952(ipaddress.IPv6Address(s))
    except ValueError:
        return None


def canonical_host(host: str) -> str:
    """A host as compared: lower case; a bracketed IPv6 address in RFC 5952 form."""
    lower = host.lower()
    if lower.startswith("[") and lower.endswith("]"):
        v6 = _canonical_ipv6(lower[1:-1])
        if v6 is not None:
            return f"[{v6}]"
    return lower


def split_host_port(s: str) -> Optional[Tuple[str, Optional[int]]]:
    """``host[:port]`` (IPv6 in brackets) split; ``None`` for a bad port."""
    if s.startswith("["):
        i = s.find("]:")
        colon = i + 1 if i >= 0 else -1
    else:
        colon = s.rfind(":")
    if colon < 0:
        return s, None
    digits = s[colon + 1 :]
    if not digits.isascii() or not digits.isdigit() or not 1 <= int(digits) <= 65535:
        return None
    return s[:colon], int(digits)


@dataclass(frozen=True)
class AllowedHost:
    """One allowed destination."""

    scheme: Optional[str]
    host: str
    wildcard: bool
    port: Optional[int]

    @staticmethod
    def parse(entry: str) -> "AllowedHost":
        """Parses ``[scheme://]host[:port]``; raises ValueError naming the entry when it is bad."""
        text = str(entry).strip()

        def bad(why: str) -> ValueError:
            return ValueError(f"allowed host `{text}`: {why}")

        scheme, rest = None, text
        if "://" in text:
            scheme, rest = text.split("://", 1)
            scheme = scheme.lower()
            if scheme not in DEFAULT_PORTS:
                raise bad("scheme must be http or https")
        if rest.endswith("/"):
            rest = rest[:-1]
        if any(c in rest for c in "/?@"):
            raise bad("give only [scheme://]host[:port], no path or user")
        split = split_host_port(rest)
        if split is None:
            raise bad("the port must be a number from 1 to 65535")
        host, port = split
        wildcard = host.startswith("*.")
        if wildcard:
            host = host[2:]
        if host == "" or "*" in host:
            raise bad("a wildcard may only be a leading `*.`")
        if not _HOST_CHARS.match(host):
            raise bad(f"`{host}` is not a host name or IP address")
        bracketed = host[1:-1] if host.startswith("[") and host.endswith("]") and len(host) >= 2 else None
        v6 = _canonical_ipv6(bracketed) if bracketed is not None else None
        if (any(c in host for c in ":[]") or bracketed is not None) and (v6 is None or wildcard):
            raise bad("an IPv6 address goes in brackets, e.g. `[::1]:8080`")
        return AllowedHost(scheme, canonical_host(host), wildcard, port)

    def allows(self, scheme: str, host: str, port: int) -> bool:
        """Whether a request to ``scheme://host:port`` is allowed by this entry."""
        host = canonical_host(host)
        host_ok = host.endswith("." + self.host) if self.wildcard else host == self.host
        scheme_ok = self.scheme is None or self.scheme == scheme
        port_ok = self.port == port if self.port is not None else DEFAULT_PORTS.get(self.scheme or scheme) == port
        return host_ok and scheme_ok and port_ok

    def __str__(self) -> str:
        return f"{self.scheme + '://' if self.scheme else ''}{'*.' if self.wildcard else ''}{self.host}{':' + str(self.port) if self.port else ''}"


class AllowList:
    """A provider's allow-list."""

    def __init__(self, entries: Iterable[str] = ()):
        self._entries: List[AllowedHost] = []
        for e in entries:
            parsed = e if isinstance(e, AllowedHost) else AllowedHost.parse(e)
            if parsed not in self._entries:
                self._entries.append(parsed)

    def allows(self, scheme: str, host: str, port: Optional[int]) -> bool:
        """Whether ``scheme://host:port`` may be requested (``port`` None: the scheme's default)."""
        scheme = (scheme or "https").lower()
        port = port if port is not None else DEFAULT_PORTS.get(scheme)
        return bool(host) and port is not None and any(e.allows(scheme, host, port) for e in self._entries)

    def allows_authority(self, scheme: str, authority: str) -> bool:
        """Whether a request with this scheme and authority (user info before ``@`` aside) may be sent."""
        split = split_host_port(authority[authority.rfind("@") + 1 :])
        return split is not None and self.allows(scheme, split[0], split[1])

    @property
    def entries(self) -> List[str]:
        """The entries, as text."""
        return [str(e) for e in self._entries]

    def __str__(self) -> str:
        return ", ".join(self.entries)
