"""HTTP helpers shared by receivers: bounded body reading, decompression, credentials.

Bodies are read in chunks and refused as soon as they pass ``max_body_bytes``; compressed
bodies (gzip, zstd, deflate) are inflated incrementally and refused as soon as the output passes
``max_decompressed_bytes``, so neither a huge body nor a compression bomb is ever held whole.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import zlib
from typing import Any

import orjson
import zstandard
from aiohttp import web

from gateway.model import Context
from gateway.units import ByteSize

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024
_CHUNK = 256 * 1024


class BodyTooLarge(Exception):
    """The body, or its decompressed form, is over the receiver's limit."""


class BadEncoding(Exception):
    """Unsupported ``Content-Encoding`` or a corrupt compressed stream."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BodyLimits:
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # on the wire, compressed or not
    max_decompressed_bytes: ByteSize = ByteSize(DEFAULT_MAX_DECOMPRESSED)  # after inflating


class _Inflater:
    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        self._zstd: zstandard.ZstdDecompressionObj | None = None
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)  # RFC 9110 deflate = zlib stream
        elif encoding == "zstd":
            self._zstd = zstandard.ZstdDecompressor().decompressobj()
        else:
            raise BadEncoding(f"unsupported Content-Encoding {encoding!r} (supported: gzip, zstd, deflate)")

    def feed(self, data: bytes) -> None:
        try:
            if self._zlib is not None:
                # Bound every step's output, so a bomb never expands past the limit in memory.
                while data:
                    out = self._zlib.decompress(data, self.limit - self.size + 1)
                    self._add(out)
                    data = self._zlib.unconsumed_tail
            else:
                assert self._zstd is not None
                self._add(self._zstd.decompress(data))
        except (zlib.error, zstandard.ZstdError) as exc:
            raise BadEncoding(f"corrupt compressed body: {exc}") from None

    def _add(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self.limit:
            raise BodyTooLarge(f"decompressed body exceeds {self.limit} bytes")
        self.parts.append(out)

    def finish(self) -> bytes:
        if self._zlib is not None:
            self._add(self._zlib.flush())
            if not self._zlib.eof:
                raise BadEncoding("corrupt compressed body: truncated stream")
        return b"".join(self.parts)


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """Reads and decompresses the body within ``limits``; raises BodyTooLarge or BadEncoding."""
    max_body = int(limits.max_body_bytes)
    if request.content_length is not None and request.content_length > max_body:
        raise BodyTooLarge(f"body exceeds {max_body} bytes")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    inflater = None if encoding in ("", "identity") else _Inflater(encoding, int(limits.max_decompressed_bytes))
    raw: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge(f"body exceeds {max_body} bytes")
        if inflater is not None:
            inflater.feed(chunk)
        else:
            raw.append(chunk)
    return inflater.finish() if inflater is not None else b"".join(raw)


def capture_context(request: web.Request, receiver: str, keep_headers: tuple[str, ...] = ()) -> Context:
    """Collects the tenant and the credentials the client presented into a Context."""
    h = request.headers
    ctx = Context(receiver=receiver, transport="http", tenant=h.get("X-Scope-OrgID", "").strip())
    # Any run of whitespace separates scheme and credentials (Foglamp matches `Bearer\s+<key>`).
    scheme, value = [*h.get("Authorization", "").split(None, 1), "", ""][:2]
    if scheme.lower() == "bearer" and value.strip():
        ctx.bearer_token = value.strip()
    elif scheme.lower() == "basic" and value.strip():
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            ctx.basic_user, ctx.basic_password = user, password
        except (binascii.Error, UnicodeDecodeError):
            pass
    ctx.api_key = h.get("x-api-key", "")
    for name in keep_headers:
        if name in h:
            ctx.headers[name.lower()] = h[name]
    return ctx


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A JSON body, the shape every JSON-speaking receiver answers in."""
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def retry_after(seconds: float | None, default: float = 1.0) -> dict[str, str]:
    """``Retry-After`` in whole seconds, at least 1 (clients treat 0 as "now")."""
    return {"Retry-After": str(max(1, math.ceil(seconds if seconds is not None else default)))}
