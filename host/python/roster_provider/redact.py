"""Secrets never echo back, as in the Rust host (host/runtime/src/redact.rs) and the Node host
(host/js/redact.js): every secret value handed to the component is replaced by ``[redacted]`` in
the errors this host raises, in the forms it travels in (as is, base64, URL-encoded, JSON- and
HTML-escaped), and where a quoted text was cut inside one. (This host cannot see the component's
requests, so credentials it builds itself, such as a bearer token, are not known here.)
tests/vectors/redact.json holds the cases all three hosts run."""

from __future__ import annotations

import base64
import binascii
import json
import re
import string
from typing import List

REDACTED = "[redacted]"
MIN_LEN = 4
_MIN_PREFIX = 4
_ALNUM = set(string.ascii_letters + string.digits)


def _form(b: bytes) -> str:
    return "".join(chr(x) if chr(x) in _ALNUM or chr(x) in "*-._" else "+" if x == 0x20 else f"%{x:02X}" for x in b)


def _percent(b: bytes, lower: bool) -> str:
    return "".join(chr(x) if chr(x) in _ALNUM or chr(x) in "-._~" else (f"%{x:02x}" if lower else f"%{x:02X}") for x in b)


def _u_escape(s: str, upper: bool) -> str:
    return "".join((f"\\u{ord(c):04X}" if upper else f"\\u{ord(c):04x}") if c in string.punctuation else c for c in s)


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")


def forms(value: str) -> List[str]:
    """The encoded forms of ``value`` (itself included), longest first; none when it is too short."""
    b = value.encode()
    if len(b) < MIN_LEN:
        return []
    b64 = base64.b64encode(b).decode()
    url = base64.urlsafe_b64encode(b).decode()
    js = json.dumps(value, ensure_ascii=False)[1:-1]
    found = {value, b64, b64.rstrip("="), url, url.rstrip("="), _form(b), _percent(b, False), _percent(b, True), _html(value),
             js.replace("/", "\\/"), js, _u_escape(value, False), _u_escape(value, True)}
    return sorted(found, key=lambda f: (-len(f), f))


def redact_with(text: str, all_forms: List[str]) -> str:
    """``text`` with every form replaced, and a form's prefix (≥ 4) removed where the text is cut."""
    out = str(text)
    for f in all_forms:
        out = out.replace(f, REDACTED)
    cuts = [i for i, c in enumerate(out) if c == "…"] + [len(out)]
    for cut in reversed(cuts):
        head = out[:cut]
        longest = 0
        for f in all_forms:
            for k in range(len(f) - 1, max(_MIN_PREFIX, longest + 1) - 1, -1):
                if head.endswith(f[:k]):
                    longest = k
                    break
        if longest:
            out = out[: cut - longest] + REDACTED + out[cut:]
    return out


class Redactor:
    """The values one provider must never print."""

    def __init__(self) -> None:
        self._forms: List[str] = []

    def add(self, value: str) -> None:
        """Remembers ``value`` and its forms."""
        fresh = [f for f in forms(str(value)) if f not in self._forms]
        if fresh:
            self._forms = sorted(self._forms + fresh, key=lambda f: (-len(f), f))

    def redact(self, text: str) -> str:
        """``text`` with every remembered value redacted; also any base64 run that decodes to
        text holding one (``Authorization: Basic`` carries ``client:secret`` so: this host
        cannot see the header itself)."""
        out = redact_with(text, self._forms)

        def blob(m: "re.Match[str]") -> str:
            token = m.group(0)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    decoded = decode(token + "=" * (-len(token) % 4)).decode()
                except (binascii.Error, ValueError):
                    continue
                if redact_with(decoded, self._forms) != decoded:
                    return REDACTED
            return token

        return _BASE64_RUN.sub(blob, out) if self._forms else out


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
