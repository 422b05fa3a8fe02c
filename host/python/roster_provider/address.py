"""The private-network rule, as Roster's host has it (host/runtime/src/address.rs): which
addresses a request may connect to. Public: always. Loopback: when the request names the IP
itself, or ``localhost``. Private (RFC 1918, 100.64/10, fc00::/7, fec0::/10): when it names the
IP. Link-local, cloud metadata, unspecified, multicast/reserved: when it names the IP *and* the
allow-list entry was granted by the embedder. Any of them with ``allow_private_networks``.
IPv4-mapped and NAT64 addresses are classified by the IPv4 address they carry.

wasmtime-py gives this host no way to see a request's address, so it applies the rule where it
can: to every host name in ``allowed_hosts``, resolved when the provider is configured (see
:meth:`roster_provider.Provider.configure`). tests/vectors/addresses.json holds the cases; the
Rust, Node and Python hosts all run them.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

_METADATA = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "fd00:ec2::254")
}


def _classify_v4(ip: ipaddress.IPv4Address) -> str:
    a, b = ip.packed[0], ip.packed[1]
    if ip in _METADATA:
        return "cloud_metadata"
    if a == 0:
        return "unspecified"
    if a == 127:
        return "loopback"
    if a == 10 or (a == 172 and 16 <= b < 32) or (a == 192 and b == 168) or (a == 100 and 64 <= b < 128):
        return "private"
    if a == 169 and b == 254:
        return "link_local"
    if a >= 224:
        return "reserved"
    return "public"


def classify(ip: str) -> str:
    """The class of an IP address: ``public``, ``loopback``, ``private``, ``link_local``,
    ``cloud_metadata``, ``unspecified`` or ``reserved``."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv4Address):
        return _classify_v4(addr)
    s = [int.from_bytes(addr.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    embedded = ipaddress.IPv4Address(addr.packed[12:])
    if addr in _METADATA:
        return "cloud_metadata"
    if s == [0] * 8:
        return "unspecified"
    if s == [0] * 7 + [1]:
        return "loopback"
    if s[:6] == [0, 0, 0, 0, 0, 0xFFFF] or s[:6] == [0x64, 0xFF9B, 0, 0, 0, 0]:
        return _classify_v4(embedded)
    if s[:6] == [0] * 6:
        return "reserved"
    if s[0] & 0xFE00 == 0xFC00 or s[0] & 0xFFC0 == 0xFEC0:
        return "private"
    if s[0] & 0xFFC0 == 0xFE80:
        return "link_local"
    if s[0] & 0xFF00 == 0xFF00:
        return "reserved"
    return "public"


def _same_address(host: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(ip)
    except ValueError:
        return False


def check_address(host: str, ip: str, user_granted: bool, allow_private_networks: bool) -> Optional[str]:
    """``None`` when a request that named ``host`` may connect to ``ip``, else why not."""
    host = host.lstrip("[").rstrip("]").lower()
    cls = classify(ip)
    literal = _same_address(host, ip)
    allowed = (
        allow_private_networks
        or cls == "public"
        or (cls == "loopback" and (literal or host == "localhost"))
        or (cls == "private" and literal)
        or (literal and user_granted and cls not in ("loopback", "private"))
    )
    if allowed:
        return None
    what = cls.replace("_", "-")
    named = f"{ip} is a {what} address" if literal else f"{host} resolves to {ip}, a {what} address"
    grant = "name the IP address itself" if cls in ("loopback", "private") else "list the IP address itself in allowed_hosts"
    return f"{named}; private networks are refused unless you {grant}, or pass allow_private_networks=True"


def refused_names(entries, allow_private_networks: bool, resolve) -> list:
    """Why each host name among ``entries`` (:class:`~roster_provider.allowlist.AllowedHost`)
    may not be reached: ``resolve(host, port)`` gives its addresses now (an empty list when it
    does not resolve: nothing to check). IP addresses and ``*.`` entries are not resolved: an
    IP an embedder lists is theirs to grant, and a wildcard names no one host."""
    out = []
    for e in entries:
        if e.wildcard or e.host.startswith("["):
            continue
        try:
            ipaddress.ip_address(e.host)
            continue
        except ValueError:
            pass
        port = e.port or (80 if e.scheme == "http" else 443)
        for ip in resolve(e.host, port):
            why = check_address(e.host, ip, True, allow_private_networks)
            if why is not None:
                out.append(why)
                break
    return out
