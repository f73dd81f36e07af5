"""Connection limits for HTTP listeners, and CORS.

aiohttp has an idle (keep-alive) timeout but no limit on how long a client may take to send its
request headers, nor on how many connections are open: a few thousand slow clients hold a file
descriptor each until the process cannot accept anyone. :class:`ConnectionGuard` wraps each
connection's protocol:

- past ``max_connections`` open connections on the listener, or past what the process's
  open-file limit leaves room for across all listeners (:func:`process_connection_limit`), a new
  one is answered ``503`` and closed at once, so the gateway never runs out of descriptors for
  its own files, exporters and the next client;
- from the moment a connection opens (or the first byte of a next request on a kept-alive
  connection) the request line and headers must end within ``read_header_timeout``, else the
  client gets ``408`` and the connection is closed.

The body has its own deadline, enforced where it is read (``body_timeout`` in
:mod:`gateway.receivers._http`). Every cut is counted in
``gateway_listener_connections_cut_total{endpoint, reason}`` and logged at most every few
seconds per reason.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

if TYPE_CHECKING:
    from prometheus_client import Counter

    from gateway.listeners import CorsConfig

from gateway.telemetry import RateLimitedLog

log = logging.getLogger(__name__)

_END_OF_HEADERS = b"\r\n\r\n"
_TOO_MANY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Descriptors kept free of client connections: log and queue files, exporter and gRPC sockets.
FD_HEADROOM = 128
_process_open = 0  # HTTP connections open in this process, every listener together


def process_connection_limit() -> int:
    """How many client connections the open-file limit leaves room for."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(16, soft - FD_HEADROOM)


# Headers a browser may send cross-origin without asking (besides the CORS-safelisted ones).
_ALWAYS_ALLOWED = ("content-type", "content-encoding")


class ConnectionGuard:
    """Per listener: the open connections and their header deadlines."""

    def __init__(self, endpoint: str, *, max_connections: int, read_header_timeout: float, cut: Counter | None) -> None:
        self.endpoint = endpoint
        self.max_connections = max_connections
        self.process_limit = process_connection_limit()
        self.read_header_timeout = read_header_timeout
        self._cut = cut
        self._warn = RateLimitedLog(log)
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}

    def protocol(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _Guarded(self, inner)

    def cut(self, reason: str, peer: Any) -> None:
        if self._cut is not None:
            self._cut.labels(self.endpoint, reason).inc()
        self._warn.warning(reason, "listener %s: closed a connection from %s: %s", self.endpoint, peer, reason)

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            # The next request on this connection gets a fresh header deadline.
            guarded = self._open.get(request.transport) if request.transport is not None else None
            if guarded is not None:
                guarded.request_done()


class _Guarded(asyncio.Protocol):
    """Passes everything to aiohttp's protocol, watching the header deadline on the way."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: Any = None  # asyncio's or uvloop's transport (not asyncio.Transport subclasses)
        self._refused = False
        self._awaiting_headers = True
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        global _process_open
        self._transport = transport
        guard = self._guard
        if len(guard._open) >= guard.max_connections or _process_open >= guard.process_limit:
            self._refused = True
            guard.cut("max_connections", transport.get_extra_info("peername"))
            self._transport.write(_TOO_MANY)
            transport.close()
            return
        guard._open[transport] = self
        _process_open += 1
        self._arm()
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        if self._guard.read_header_timeout > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._guard.read_header_timeout, self._header_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_timeout(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._guard.cut("header_timeout", transport.get_extra_info("peername"))
        transport.write(_TIMEOUT)
        transport.close()

    def request_done(self) -> None:
        self._awaiting_headers = True
        self._tail = b""

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_headers:
            if self._timer is None:
                self._arm()  # the first byte of a next request on a kept-alive connection
            window = self._tail + data[: len(data)]
            if _END_OF_HEADERS in window:
                self._disarm()
                self._awaiting_headers = False
            else:
                self._tail = window[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        global _process_open
        self._disarm()
        if self._refused:
            return
        if self._guard._open.pop(self._transport, None) is not None:
            _process_open -= 1
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _origin_allowed(origin: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        if pattern == "*" or pattern == origin:
            return True
        head, star, tail = pattern.partition("*")
        if star and origin.startswith(head) and origin.endswith(tail) and len(origin) > len(head) + len(tail):
            return True
    return False


def cors_middleware(cfg: CorsConfig) -> Middleware:
    """Answers preflight ``OPTIONS`` for allowed origins (403 for others) and marks the answers
    to allowed origins' requests. A preflight carries no credentials by the Fetch standard, so
    it is answered before any authentication; the request that follows is authenticated."""
    allow_any_header = "*" in cfg.allowed_headers
    allowed_headers = {h.lower() for h in cfg.allowed_headers} | set(_ALWAYS_ALLOWED)

    @web.middleware
    async def cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        allowed = _origin_allowed(origin, cfg.allowed_origins)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not allowed:
                return web.Response(status=403, text="CORS origin not allowed\n")
            asked = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
            asked = [h for h in asked if h]
            refused = [h for h in asked if not allow_any_header and h.lower() not in allowed_headers]
            if refused:
                return web.Response(status=403, text=f"CORS header not allowed: {refused[0]}\n")
            headers = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST",
                "Vary": "Origin",
            }
            if asked:
                headers["Access-Control-Allow-Headers"] = ", ".join(asked)
            if cfg.max_age:
                headers["Access-Control-Max-Age"] = str(int(cfg.max_age))
            return web.Response(status=204, headers=headers)
        response = await handler(request)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    return cors
