"""Shared listeners: one HTTP server and one gRPC server per endpoint.

Receivers register their routes (HTTP method + path) or gRPC services on the listener for
their endpoint while the graph is built; two receivers naming the same endpoint share one
socket, and two claiming the same route is a configuration error. Listeners start after every
exporter and processor is up, and stop first.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

log = logging.getLogger(__name__)

HttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GrpcUnary = Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]

DEFAULT_GRPC_MAX_MESSAGE = 16 * 1024 * 1024


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
        for (method, path), (_owner, handler) in self.routes.items():
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=self.reuse_port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http listener started endpoint=%s port=%d", self.endpoint, self.port)

    async def shutdown(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


@dataclasses.dataclass
class GrpcListener:
    endpoint: str
    services: dict[str, tuple[str, dict[str, GrpcUnary]]] = dataclasses.field(default_factory=dict)
    max_message_bytes: int = DEFAULT_GRPC_MAX_MESSAGE
    port: int = 0
    reuse_port: bool = False  # several worker processes share the socket (SO_REUSEPORT)
    _server: grpc.aio.Server | None = None

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
        handlers = []
        for name, (_owner, methods) in self.services.items():
            # No (de)serializers: handlers see raw bytes so undecodable input gets a clear
            # INVALID_ARGUMENT from the receiver, not a generic framework error.
            rpc = {m: grpc.unary_unary_rpc_method_handler(fn) for m, fn in methods.items()}
            handlers.append(grpc.method_handlers_generic_handler(name, rpc))
        server.add_generic_rpc_handlers(tuple(handlers))
        bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {self.endpoint}")
        await server.start()
        self._server = server
        self.port = bound
        log.info("grpc listener started endpoint=%s port=%d", self.endpoint, self.port)

    async def shutdown(self, grace: float = 1.0) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(grace)


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

    async def start(self) -> None:
        started: list[HttpListener | GrpcListener] = []
        everything: list[HttpListener | GrpcListener] = [*self.http.values(), *self.grpc.values()]
        try:
            for listener in everything:
                await listener.start()
                started.append(listener)
        except BaseException:
            for listener in reversed(started):
                await listener.shutdown()
            raise

    async def shutdown(self) -> None:
        for h in self.http.values():
            await h.shutdown()
        for g in self.grpc.values():
            await g.shutdown()
