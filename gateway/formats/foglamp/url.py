"""What zod's ``z.string().url()`` accepts: JavaScript's ``trim()``, then WHATWG ``new URL()``.

Foglamp validates ``customer.imageUrl`` with zod, which trims the string the JavaScript way and
parses it with the WHATWG URL parser; a URL the parser refuses makes Foglamp refuse the whole
body. This follows the parser's host rules for the special schemes (``http``, ``https``, ``ws``,
``wss``, ``ftp``): the host is percent-decoded and turned to ASCII (invalid punycode ``xn--``
labels refused), a host ending in a number must be a valid IPv4 address (at most 4 parts, each
within range), a bracketed host must be a valid IPv6 address, and a port must be at most 65535.
Other schemes (``mailto:``, ``data:``) only need a scheme. Checked against the parser's rules, not
a JavaScript engine: internationalised domains follow Python's IDNA 2003 codec where WHATWG uses
UTS 46, which differ on a few rare code points.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Final

# String.prototype.trim: WhiteSpace and LineTerminator code points.
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPECIAL: Final = frozenset({"http", "https", "ws", "wss", "ftp"})
_C0_OR_SPACE: Final = "".join(chr(c) for c in range(0x21))
_FORBIDDEN_DOMAIN: Final = frozenset(
    [chr(c) for c in range(0x20)] + list(" #%/:<>?@[\\]^|") + ["\x7f"]
)  # fmt: skip
_MAX_PORT: Final = 65535


def js_trim(value: str) -> str:
    return value.strip(JS_WHITESPACE)


def is_url(value: str) -> bool:
    """Whether ``new URL(value)`` succeeds (``value`` already trimmed as zod does)."""
    value = value.strip(_C0_OR_SPACE)
    value = value.replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(value)
    if match is None:
        return False
    scheme = match.group()[:-1].lower()
    if scheme not in _SPECIAL:
        return True
    rest = value[match.end() :].lstrip("/\\")
    authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0:
            return False
        host, after = host_port[: end + 1], host_port[end + 1 :]
        if after and not after.startswith(":"):
            return False
        port = after[1:] if after else ""
    else:
        host, _, port = host_port.partition(":")
    return _valid_port(port) and _valid_host(host)


def _valid_port(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and int(port) <= _MAX_PORT)


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        inner = host[1:-1]
        if not host.endswith("]") or "%" in inner:
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    if not host:
        return False
    try:
        domain = urllib.parse.unquote(host, errors="strict") if "%" in host else host
    except UnicodeDecodeError:
        return False
    ascii_domain = _to_ascii(domain)
    if ascii_domain is None or not ascii_domain or any(c in _FORBIDDEN_DOMAIN for c in ascii_domain):
        return False
    if _ends_in_a_number(ascii_domain):
        return _valid_ipv4(ascii_domain)
    return True


def _to_ascii(domain: str) -> str | None:
    """Domain to ASCII, or None where it fails (invalid punycode, an unencodable label)."""
    # WHATWG maps these dots to '.' before splitting into labels.
    domain = re.sub("[\u3002\uff0e\uff61]", ".", domain)
    labels = []
    for label in domain.split("."):
        if label.isascii():
            lower = label.lower()
            if lower.startswith("xn--"):
                try:
                    decoded = lower[4:].encode("ascii").decode("punycode")
                except (UnicodeError, ValueError):
                    return None
                if not decoded or decoded.isascii():
                    return None
            labels.append(lower)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            return None
    return ".".join(labels)


def _ends_in_a_number(domain: str) -> bool:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in last[2:])


def _ipv4_number(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if digits == "":
        return 0
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def _valid_ipv4(domain: str) -> bool:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4 or any(p == "" for p in parts):
        return False
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return False
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]):
        return False
    limit: int = 256 ** (5 - len(values))
    return values[-1] < limit
