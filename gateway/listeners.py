"""Shared listeners: one HTTP server and one gRPC server per endpoint.

Receivers register their routes (HTTP method + path) or gRPC services on the listener for
their endpoint while the graph is built; two receivers naming the same endpoint share one
socket, and two claiming the same route is a configuration error. Listeners start after every
exporter and processor is up, and stop first.

A config reload builds a new set of listeners; :meth:`Listeners.start` with ``previous`` lets
each listener whose endpoint (and socket options) did not change take over the running server
of its predecessor and only swap the routes behind it, so its socket never closes. Requests are
counted per route generation, so a reload can wait for those still running on the old one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from gateway.telemetry import RateLimitedLog

log = logging.getLogger(__name__)
# Requests refused with a 4xx/5xx (bad input, 401, 429, …): debug lines, at most one per
# route and status per interval, so a flood of bad requests cannot flood the log.
_refused = RateLimitedLog(log, interval=5.0)
REFUSED_BODY_CHARS = 200  # how much of a refusal's body the debug line quotes

HttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GrpcUnary = Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]

DEFAULT_GRPC_MAX_MESSAGE = 16 * 1024 * 1024


class Generation:
    """One set of routes and the requests running through it; a reload retires a generation
    and waits for it to be idle before stopping the components behind it."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def exit(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


class _HttpSwitch:
    """The one handler of a running HTTP server: hands each request to the current routes."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.generation = Generation()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        gen, app = self.generation, self.app
        gen.enter()
        try:
            # Application._handle resolves the route and runs it; an inner, frozen application
            # per generation is what lets a reload swap routes under a server that stays up.
            response = await app._handle(request)
        except web.HTTPException as exc:
            _log_refused_http(request, exc.status, exc.text or "")
            raise
        finally:
            gen.exit()
        if response.status >= 400 and log.isEnabledFor(logging.DEBUG):
            body = response.body if isinstance(response, web.Response) else None
            text = (
                bytes(body[:REFUSED_BODY_CHARS]).decode(errors="replace") if isinstance(body, bytes | bytearray) else ""
            )
            _log_refused_http(request, response.status, text)
        return response


class _GrpcSwitch(grpc.GenericRpcHandler):  # type: ignore[misc]
    """The one generic handler of a running gRPC server: looks methods up in the current table."""

    def __init__(self, methods: dict[str, grpc.RpcMethodHandler]) -> None:
        self.methods = methods
        self.generation = Generation()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self.methods.get(handler_call_details.method)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` → ("127.0.0.1", 8080); ``"[::1]:0"`` → ("::1", 0)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid endpoint {endpoint!r}: expected host:port, like 127.0.0.1:8080")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)


@dataclasses.dataclass
class HttpListener:
    endpoint: str
    routes: dict[tuple[str, str], tuple[str, HttpHandler]] = dataclasses.field(default_factory=dict)
    port: int = 0
    reuse_port: bool = False  # several worker processes share the socket (SO_REUSEPORT)
    _runner: web.AppRunner | None = None
    _switch: _HttpSwitch | None = None

    def add_route(self, method: str, path: str, handler: HttpHandler, owner: str) -> None:
        """Registers ``method path``; ``method="*"`` takes every method (for exact 405 bodies)."""
        existing = self.routes.get((method, path))
        if existing is not None and existing[0] != owner:
            raise ValueError(f"{owner} and {existing[0]} both claim {method} {path} on endpoint {self.endpoint}")
        self.routes[(method, path)] = (owner, handler)

    async def start(self) -> None:
        host, port = split_endpoint(self.endpoint)
        # Bodies are read by the receivers with their own limits, streaming, so the app-wide
        # cap only guards aiohttp's own helpers.
        app = web.Application(client_max_size=1024**3, handler_args={"max_field_size": 65536, "auto_decompress": False})
        switch = _HttpSwitch(self._routes_app())
        app.router.add_route("*", "/{path:.*}", switch.handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=self.reuse_port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._switch = switch
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http listener started endpoint=%s port=%d", self.endpoint, self.port)

    def _routes_app(self) -> web.Application:
        app = web.Application()
        for (method, path), (_owner, handler) in self.routes.items():
            app.router.add_route(method, path, handler)
        app.freeze()
        return app

    @property
    def running(self) -> bool:
        return self._runner is not None

    def same_socket(self, other: HttpListener) -> bool:
        """True when ``other``'s running server can serve this listener's routes as is."""
        return other._runner is not None and (other.endpoint, other.reuse_port) == (self.endpoint, self.reuse_port)

    def adopt(self, previous: HttpListener) -> Generation:
        """Takes over ``previous``'s running server with this listener's routes; returns the
        retired route generation (its requests may still be running)."""
        assert previous._runner is not None and previous._switch is not None
        self._runner, previous._runner = previous._runner, None
        self._switch, previous._switch = previous._switch, None
        self.port = previous.port
        retired = self._switch.generation
        self._switch.app = self._routes_app()
        self._switch.generation = Generation()
        return retired

    async def shutdown(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._switch = None
            await runner.cleanup()


@dataclasses.dataclass
class GrpcListener:
    endpoint: str
    services: dict[str, tuple[str, dict[str, GrpcUnary]]] = dataclasses.field(default_factory=dict)
    max_message_bytes: int = DEFAULT_GRPC_MAX_MESSAGE
    port: int = 0
    reuse_port: bool = False  # several worker processes share the socket (SO_REUSEPORT)
    _server: grpc.aio.Server | None = None
    _switch: _GrpcSwitch | None = None

    def add_service(self, name: str, methods: dict[str, GrpcUnary], owner: str) -> None:
        """Registers a unary service whose handlers take and return serialized bytes."""
        existing = self.services.get(name)
        if existing is not None and existing[0] != owner:
            raise ValueError(f"{owner} and {existing[0]} both claim gRPC service {name} on {self.endpoint}")
        self.services[name] = (owner, methods)

    async def start(self) -> None:
        host, port = split_endpoint(self.endpoint)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.so_reuseport", 1 if self.reuse_port else 0),
            ]
        )
        switch = _GrpcSwitch({})
        switch.methods = self._method_table(switch.generation)
        server.add_generic_rpc_handlers((switch,))
        bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {self.endpoint}")
        await server.start()
        self._server = server
        self._switch = switch
        self.port = bound
        log.info("grpc listener started endpoint=%s port=%d", self.endpoint, self.port)

    def _method_table(self, gen: Generation) -> dict[str, grpc.RpcMethodHandler]:
        # No (de)serializers: handlers see raw bytes so undecodable input gets a clear
        # INVALID_ARGUMENT from the receiver, not a generic framework error.
        return {
            f"/{name}/{m}": grpc.unary_unary_rpc_method_handler(_counted(gen, f"/{name}/{m}", fn))
            for name, (_owner, methods) in self.services.items()
            for m, fn in methods.items()
        }

    @property
    def running(self) -> bool:
        return self._server is not None

    def same_socket(self, other: GrpcListener) -> bool:
        """True when ``other``'s running server can serve this listener's services as is."""
        return other._server is not None and (other.endpoint, other.reuse_port, other.max_message_bytes) == (
            self.endpoint,
            self.reuse_port,
            self.max_message_bytes,
        )

    def adopt(self, previous: GrpcListener) -> Generation:
        """Takes over ``previous``'s running server with this listener's services; returns the
        retired generation."""
        assert previous._server is not None and previous._switch is not None
        self._server, previous._server = previous._server, None
        self._switch, previous._switch = previous._switch, None
        self.port = previous.port
        retired = self._switch.generation
        gen = Generation()
        self._switch.methods, self._switch.generation = self._method_table(gen), gen
        return retired

    async def shutdown(self, grace: float = 1.0) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            self._switch = None
            await server.stop(grace)


def _log_refused_http(request: web.Request, status: int, text: str) -> None:
    fields = {
        "transport": "http",
        "method": request.method,
        "path": request.path,
        "status": status,
        "remote": request.remote,
        "reason": " ".join(text[:REFUSED_BODY_CHARS].split()),
    }
    _refused.log(logging.DEBUG, f"{request.path}:{status}", "request refused", extra=fields)


def _log_refused_grpc(method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    code = context.code()
    if code is None or code == grpc.StatusCode.OK:
        return
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    details = " ".join(str(context.details() or "")[:REFUSED_BODY_CHARS].split())
    fields = {"transport": "grpc", "method": method, "status": name, "remote": context.peer(), "reason": details}
    _refused.log(logging.DEBUG, f"{method}:{name}", "request refused", extra=fields)


def _counted(gen: Generation, method: str, fn: GrpcUnary) -> GrpcUnary:
    async def call(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        gen.enter()
        try:
            response = await fn(request, context)
        except grpc.aio.AbortError:
            _log_refused_grpc(method, context)
            raise
        finally:
            gen.exit()
        _log_refused_grpc(method, context)
        return response

    return call


class Listeners:
    """All listeners of one service, keyed by endpoint string."""

    def __init__(self, reuse_port: bool = False) -> None:
        self.http: dict[str, HttpListener] = {}
        self.grpc: dict[str, GrpcListener] = {}
        self.reuse_port = reuse_port

    def http_listener(self, endpoint: str) -> HttpListener:
        split_endpoint(endpoint)
        return self.http.setdefault(endpoint, HttpListener(endpoint, reuse_port=self.reuse_port))

    def grpc_listener(self, endpoint: str) -> GrpcListener:
        split_endpoint(endpoint)
        return self.grpc.setdefault(endpoint, GrpcListener(endpoint, reuse_port=self.reuse_port))

    async def start(self, previous: Listeners | None = None) -> list[Generation]:
        """Starts every listener; with ``previous`` (a reload), see :meth:`open` and
        :meth:`take_over`. Returns the retired route generations, to wait for."""
        await self.open(previous)
        return await self.take_over(previous)

    async def open(self, previous: Listeners | None = None) -> None:
        """Opens the listeners ``previous`` cannot lend: a failure closes what this call opened
        and leaves ``previous`` serving. A running listener on the same address whose socket
        options changed is closed first (and reopened if this fails)."""
        started: list[HttpListener | GrpcListener] = []
        released: list[HttpListener | GrpcListener] = []
        try:
            for listener in self._fresh(previous):
                if previous is not None:
                    released += await previous._release(listener.endpoint)
                await listener.start()
                started.append(listener)
        except BaseException:
            for listener in reversed(started):
                await listener.shutdown()
            for listener in released:  # the reload failed: the old config keeps serving
                await listener.start()
            raise

    async def take_over(self, previous: Listeners | None) -> list[Generation]:
        """Swaps the routes of every listener whose endpoint and socket options are unchanged
        (the socket stays open), then closes what ``previous`` has left (each finishes the
        requests it was serving). Returns the retired route generations."""
        if previous is None:
            return []
        retired: list[Generation] = []
        for h in self.http.values():
            old_h = previous.http.get(h.endpoint)
            if old_h is not None and h.same_socket(old_h):
                retired.append(h.adopt(old_h))
        for g in self.grpc.values():
            old_g = previous.grpc.get(g.endpoint)
            if old_g is not None and g.same_socket(old_g):
                retired.append(g.adopt(old_g))
        await previous.shutdown()  # only those not taken over are still running
        return retired

    def _fresh(self, previous: Listeners | None) -> list[HttpListener | GrpcListener]:
        fresh: list[HttpListener | GrpcListener] = []
        for h in self.http.values():
            old_h = previous.http.get(h.endpoint) if previous is not None else None
            if old_h is None or not h.same_socket(old_h):
                fresh.append(h)
        for g in self.grpc.values():
            old_g = previous.grpc.get(g.endpoint) if previous is not None else None
            if old_g is None or not g.same_socket(old_g):
                fresh.append(g)
        return fresh

    async def _release(self, endpoint: str) -> list[HttpListener | GrpcListener]:
        """Closes the running listeners on ``endpoint`` (socket options changed, or the other
        transport now), so the new one can bind the same address; returns them."""
        released: list[HttpListener | GrpcListener] = []
        for listener in (self.http.get(endpoint), self.grpc.get(endpoint)):
            if listener is not None and listener.running:
                await listener.shutdown()
                released.append(listener)
        return released

    async def shutdown(self) -> None:
        for h in self.http.values():
            await h.shutdown()
        for g in self.grpc.values():
            await g.shutdown()
