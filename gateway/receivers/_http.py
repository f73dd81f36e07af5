"""HTTP helpers shared by receivers: bounded body reading, decompression, credentials.

Bodies are read in chunks and refused as soon as they pass ``max_body_bytes``; compressed
bodies (gzip, zstd, deflate) are inflated incrementally and refused as soon as the output passes
``max_decompressed_bytes``, so neither a huge body nor a compression bomb is ever held whole.
A compressed stream that ends early (a truncated gzip member or zstd frame) is refused as
corrupt rather than read as the part that arrived. The whole body must arrive within
``body_timeout``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import zlib
from typing import Any

import orjson
import zstandard
from aiohttp import web

from gateway.auth import parse_authorization
from gateway.listeners import HttpServerOptions
from gateway.model import Context
from gateway.units import ByteSize, Duration

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 30.0  # seconds for the whole body once the headers are in
_CHUNK = 256 * 1024
# A zstd block inflates to at most 128 KiB and takes at least 4 bytes of input (a 3-byte header
# and one byte of RLE payload), so feeding ``4 * n`` bytes yields at most ``(n + 1)`` blocks:
# slicing the input by what the limit still allows bounds every step's output (the zstandard
# binding has no output cap of its own; its decompress() inflates a whole slice at once).
_ZSTD_BLOCK = 128 * 1024
_ZSTD_MIN_SLICE = 64
_ZSTD_WINDOW = 8 * 1024 * 1024  # largest window a frame may ask for (zstd's default level uses 1-8 MiB)


class BodyTooLarge(Exception):
    """The body, or its decompressed form, is over the receiver's limit."""


class BadEncoding(Exception):
    """Unsupported ``Content-Encoding`` or a corrupt (or truncated) compressed stream."""


class BodyTimeout(Exception):
    """The body did not arrive within ``body_timeout`` (a slow or stalled client): 408."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BodyLimits(HttpServerOptions):
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # on the wire, compressed or not
    max_decompressed_bytes: ByteSize = ByteSize(DEFAULT_MAX_DECOMPRESSED)  # after inflating
    body_timeout: Duration = Duration(DEFAULT_BODY_TIMEOUT)  # whole body after the headers; 408 past it; 0 = none


class _Inflater:
    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        self._zstd: zstandard.ZstdDecompressionObj | None = None
        self._zlib: zlib._Decompress | None = None
        self._frames = 0  # zstd frames decoded whole
        self._mid_frame = False  # the current zstd decoder holds part of a frame
        if encoding in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self._wbits = zlib.MAX_WBITS  # RFC 9110 deflate = zlib stream
        elif encoding == "zstd":
            self._wbits = 0
        else:
            raise BadEncoding(f"unsupported Content-Encoding {encoding!r} (supported: gzip, zstd, deflate)")
        self._new_stream()

    def _new_stream(self) -> None:
        if self._wbits:
            self._zlib = zlib.decompressobj(self._wbits)
        else:
            # The window is what a frame may make the decoder hold besides the output: capped.
            self._zstd = zstandard.ZstdDecompressor(max_window_size=_ZSTD_WINDOW).decompressobj()

    def feed(self, data: bytes) -> None:
        try:
            if self._zlib is not None:
                self._feed_zlib(data)
            else:
                self._feed_zstd(data)
        except (zlib.error, zstandard.ZstdError) as exc:
            raise BadEncoding(f"corrupt compressed body: {exc}") from None

    def _feed_zlib(self, data: bytes) -> None:
        assert self._zlib is not None
        # Bound every step's output, so a bomb never expands past the limit in memory.
        while data:
            out = self._zlib.decompress(data, self.limit - self.size + 1)
            self._add(out)
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                # Concatenated gzip members (RFC 1952 allows them) or trailing garbage.
                data = self._zlib.unused_data + data
                if data:
                    self._new_stream()

    def _feed_zstd(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            assert self._zstd is not None
            step = max(_ZSTD_MIN_SLICE, 4 * ((self.limit - self.size) // _ZSTD_BLOCK))
            piece, view = view[:step], view[step:]
            self._mid_frame = True
            self._add(self._zstd.decompress(piece))
            if self._zstd.eof:
                # Several frames one after the other are one valid zstd stream.
                rest = self._zstd.unused_data
                self._frames += 1
                self._mid_frame = False
                self._new_stream()
                if rest:
                    view = memoryview(rest + bytes(view))

    def _add(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self.limit:
            raise BodyTooLarge(f"decompressed body exceeds {self.limit} bytes")
        if out:
            self.parts.append(out)

    def finish(self) -> bytes:
        if self._zlib is not None:
            try:
                self._add(self._zlib.flush())
            except zlib.error as exc:
                raise BadEncoding(f"corrupt compressed body: {exc}") from None
            if not self._zlib.eof:
                raise BadEncoding("corrupt compressed body: truncated stream")
        elif self._mid_frame or not self._frames:
            # A fresh decoder after a whole frame is a clean end; one fed part of a frame (or
            # none at all: an empty body is no zstd stream) means the body was cut short.
            raise BadEncoding("corrupt compressed body: truncated zstd frame")
        return b"".join(self.parts)


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """Reads and decompresses the body within ``limits``; raises BodyTooLarge, BadEncoding or
    BodyTimeout."""
    timeout = float(limits.body_timeout) or None
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(request, limits)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout:g}s") from None


async def _read_body(request: web.Request, limits: BodyLimits) -> bytes:
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
    parse_authorization(h.get("Authorization", ""), ctx)
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
