"""Shared listeners: one HTTP server and one gRPC server per endpoint.

Receivers register their routes (HTTP method + path) or gRPC services on the listener for
their endpoint while the graph is built; two receivers naming the same endpoint share one
socket, and two claiming the same route is a configuration error. So is two receivers giving
one endpoint different listener options (TLS, CORS, timeouts, connection cap, keepalive).
Listeners start after every exporter and processor is up, and stop first.

Each HTTP listener guards its connections (:mod:`gateway._conn_guard`): at most
``max_connections`` open, request headers within ``read_header_timeout``, idle keep-alive
connections closed after ``idle_timeout``; what is cut is counted in
``gateway_listener_connections_cut_total`` and logged at most every few seconds. gRPC methods
run as client-streaming handlers, so a receiver checks credentials before the request message
is read (see :meth:`gateway.auth.Gate.grpc_unary`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from gateway._conn_guard import ConnectionGuard, cors_middleware
from gateway.telemetry import Telemetry
from gateway.tls import ServerTls, TlsServerConfig
from gateway.units import Duration

log = logging.getLogger(__name__)

HttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GrpcUnary = Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]
GrpcStream = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes]]


@dataclasses.dataclass(frozen=True, slots=True)
class GrpcHandler:
    """One method's handler, on serialized bytes. ``unary`` gets the message, read by gRPC first;
    ``stream`` gets the request stream (one message from a unary client: the wire is the same),
    so it may refuse the call before the message is read. Exactly one is set."""

    unary: GrpcUnary | None = None
    stream: GrpcStream | None = None


DEFAULT_GRPC_MAX_MESSAGE = 16 * 1024 * 1024
DEFAULT_READ_HEADER_TIMEOUT = 10.0  # seconds
DEFAULT_IDLE_TIMEOUT = 75.0  # seconds (aiohttp's keep-alive default)
DEFAULT_MAX_CONNECTIONS = 512  # per HTTP listener: well under the usual 1,024 open files
DEFAULT_KEEPALIVE_TIME = 60.0  # seconds between server pings on a quiet connection
DEFAULT_KEEPALIVE_TIMEOUT = 20.0  # seconds to wait for a ping's answer before closing
DEFAULT_MAX_CONNECTION_IDLE = 300.0  # seconds without calls before a connection is closed
DEFAULT_MIN_PING_INTERVAL = 10.0  # clients pinging more often are told off (GOAWAY)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CorsConfig:
    allowed_origins: list[str] = dataclasses.field(default_factory=list)  # https://a.example, https://*.b.example, *
    allowed_headers: list[str] = dataclasses.field(default_factory=list)  # also allowed to send; * = any
    max_age: Duration = Duration(0)  # how long a browser may cache a preflight answer; 0: the browser's default

    def validate(self) -> list[str]:
        if not self.allowed_origins:
            return ["allowed_origins: must list at least one origin"]
        bad = [o for o in self.allowed_origins if o.count("*") > 1]
        return [f"allowed_origins: at most one * per origin, got {bad[0]!r}"] if bad else []


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HttpServerOptions:
    """What an HTTP listener itself does, whoever's routes it serves."""

    tls: TlsServerConfig | None = None  # HTTPS (and mTLS with client_ca_file); null: plain HTTP
    cors: CorsConfig | None = None  # cross-origin access for browser SDKs; null: no CORS headers
    read_header_timeout: Duration = Duration(DEFAULT_READ_HEADER_TIMEOUT)  # headers within it, else 408 + close
    idle_timeout: Duration = Duration(DEFAULT_IDLE_TIMEOUT)  # a keep-alive connection without a request is closed
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # open connections; more are answered 503 and closed

    def validate(self) -> list[str]:
        return ["max_connections: must be at least 1"] if self.max_connections < 1 else []


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GrpcKeepalive:
    time: Duration = Duration(DEFAULT_KEEPALIVE_TIME)  # server pings after this long without activity
    timeout: Duration = Duration(DEFAULT_KEEPALIVE_TIMEOUT)  # closes the connection when a ping is not answered
    max_connection_idle: Duration = Duration(DEFAULT_MAX_CONNECTION_IDLE)  # closes a quiet connection; 0 = never
    max_connection_age: Duration = Duration(0)  # closes any connection this old (clients reconnect); 0 = never
    max_connection_age_grace: Duration = Duration(0)  # time calls get to finish after max_connection_age; 0 = unlimited
    min_ping_interval: Duration = Duration(DEFAULT_MIN_PING_INTERVAL)  # clients pinging more often are disconnected


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GrpcServerOptions:
    """What a gRPC listener itself does, whoever's services it serves."""

    tls: TlsServerConfig | None = None  # TLS (and mTLS with client_ca_file); null: plaintext
    keepalive: GrpcKeepalive = dataclasses.field(default_factory=GrpcKeepalive)  # pings and connection ages

    def validate(self) -> list[str]:
        if self.tls is not None and self.tls.min_version != "1.2":
            # grpc's Python API has no TLS floor setting: refuse rather than ignore it.
            return ['tls::min_version: gRPC listeners take "1.2" only (gRPC itself accepts TLS 1.2 and 1.3)']
        return []


def _own_part(options: Any, cls: type[Any]) -> Any:
    """The listener-level fields of a receiver's server config (which may extend ``cls``)."""
    return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


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
    telemetry: Telemetry | None = None
    options: HttpServerOptions = dataclasses.field(default_factory=HttpServerOptions)
    _options_owner: str = ""
    _runner: web.AppRunner | None = None
    _server: asyncio.Server | None = None
    _tls: ServerTls | None = None
    _reload_task: asyncio.Task[None] | None = None

    def configure(self, options: HttpServerOptions, owner: str) -> None:
        """Sets the listener's options; a second owner must ask for the same ones."""
        own = _own_part(options, HttpServerOptions)
        if self._options_owner and self._options_owner != owner and own != self.options:
            raise ValueError(
                f"{owner} and {self._options_owner} share endpoint {self.endpoint} with different "
                "tls, cors, timeouts or max_connections; give them the same settings"
            )
        if not self._options_owner:
            self.options, self._options_owner = own, owner

    def add_route(self, method: str, path: str, handler: HttpHandler, owner: str) -> None:
        """Registers ``method path``; ``method="*"`` takes every method (for exact 405 bodies)."""
        existing = self.routes.get((method, path))
        if existing is not None and existing[0] != owner:
            raise ValueError(f"{owner} and {existing[0]} both claim {method} {path} on endpoint {self.endpoint}")
        self.routes[(method, path)] = (owner, handler)

    async def start(self) -> None:
        host, port = split_endpoint(self.endpoint)
        opts = self.options
        guard = ConnectionGuard(
            self.endpoint,
            max_connections=opts.max_connections,
            read_header_timeout=float(opts.read_header_timeout),
            cut=self.telemetry.listener_cut if self.telemetry is not None else None,
        )
        # Bodies are read by the receivers with their own limits, streaming, so the app-wide
        # cap only guards aiohttp's own helpers.
        app = web.Application(
            client_max_size=1024**3,
            handler_args={"max_field_size": 65536, "auto_decompress": False},
            middlewares=[guard.middleware, *([cors_middleware(opts.cors)] if opts.cors is not None else [])],
        )
        for (method, path), (_owner, handler) in self.routes.items():
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=float(opts.idle_timeout))
        await runner.setup()
        try:
            self._tls = ServerTls(opts.tls, self.endpoint) if opts.tls is not None else None
            handler_factory = runner.server
            assert handler_factory is not None
            self._server = await asyncio.get_running_loop().create_server(
                lambda: guard.protocol(handler_factory()),
                host,
                port,
                ssl=self._tls.ssl_context if self._tls is not None else None,
                # The handshake comes before the header deadline starts: bound it the same way.
                ssl_handshake_timeout=(float(opts.read_header_timeout) or None) if self._tls is not None else None,
                reuse_address=True,
                reuse_port=self.reuse_port,
                backlog=1024,
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self._tls is not None and self._tls.cfg.reload_interval:
            self._reload_task = asyncio.create_task(self._reload_tls(self._tls), name=f"tls-reload {self.endpoint}")
        sockets: tuple[Any, ...] = tuple(self._server.sockets or ())
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http listener started endpoint=%s port=%d tls=%s", self.endpoint, self.port, self._tls is not None)

    @staticmethod
    async def _reload_tls(tls: ServerTls) -> None:
        while True:
            await asyncio.sleep(float(tls.cfg.reload_interval))
            tls.maybe_reload()

    async def shutdown(self) -> None:
        if self._reload_task is not None:
            task, self._reload_task = self._reload_task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()  # no new connections
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # ends the open ones, gracefully
        if self._server is not None:
            server, self._server = self._server, None
            await server.wait_closed()


@dataclasses.dataclass
class GrpcListener:
    endpoint: str
    services: dict[str, tuple[str, dict[str, GrpcHandler]]] = dataclasses.field(default_factory=dict)
    max_message_bytes: int = DEFAULT_GRPC_MAX_MESSAGE
    port: int = 0
    reuse_port: bool = False  # several worker processes share the socket (SO_REUSEPORT)
    options: GrpcServerOptions = dataclasses.field(default_factory=GrpcServerOptions)
    _options_owner: str = ""
    _server: grpc.aio.Server | None = None

    def configure(self, options: GrpcServerOptions, owner: str) -> None:
        """Sets the listener's options; a second owner must ask for the same ones."""
        own = _own_part(options, GrpcServerOptions)
        if self._options_owner and self._options_owner != owner and own != self.options:
            raise ValueError(
                f"{owner} and {self._options_owner} share gRPC endpoint {self.endpoint} with different "
                "tls or keepalive settings; give them the same settings"
            )
        if not self._options_owner:
            self.options, self._options_owner = own, owner

    def add_service(self, name: str, methods: dict[str, GrpcHandler], owner: str) -> None:
        """Registers a service whose methods take and return serialized bytes."""
        existing = self.services.get(name)
        if existing is not None and existing[0] != owner:
            raise ValueError(f"{owner} and {existing[0]} both claim gRPC service {name} on {self.endpoint}")
        self.services[name] = (owner, methods)

    async def start(self) -> None:
        host, port = split_endpoint(self.endpoint)
        ka = self.options.keepalive
        options: list[tuple[str, int]] = [
            # The limit applies to the message after decompression, so a gzip bomb stops here.
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 1 if self.reuse_port else 0),
            ("grpc.keepalive_time_ms", _ms(ka.time)),
            ("grpc.keepalive_timeout_ms", _ms(ka.timeout)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(ka.min_ping_interval)),
            ("grpc.http2.max_ping_strikes", 2),
        ]
        for key, value in (
            ("grpc.max_connection_idle_ms", ka.max_connection_idle),
            ("grpc.max_connection_age_ms", ka.max_connection_age),
            ("grpc.max_connection_age_grace_ms", ka.max_connection_age_grace),
        ):
            if value:
                options.append((key, _ms(value)))
        server = grpc.aio.server(options=options)
        handlers = []
        for name, (_owner, methods) in self.services.items():
            # No (de)serializers: handlers see raw bytes so undecodable input gets a clear
            # INVALID_ARGUMENT from the receiver, not a generic framework error.
            rpc = {
                m: grpc.stream_unary_rpc_method_handler(h.stream)
                if h.stream is not None
                else grpc.unary_unary_rpc_method_handler(h.unary)
                for m, h in methods.items()
            }
            handlers.append(grpc.method_handlers_generic_handler(name, rpc))
        server.add_generic_rpc_handlers(tuple(handlers))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        tls = self.options.tls
        if tls is not None:
            bound = server.add_secure_port(address, ServerTls(tls, self.endpoint).grpc_credentials())
        else:
            bound = server.add_insecure_port(address)
        if bound == 0:
            raise OSError(f"cannot listen on {self.endpoint}")
        await server.start()
        self._server = server
        self.port = bound
        log.info("grpc listener started endpoint=%s port=%d tls=%s", self.endpoint, self.port, tls is not None)

    async def shutdown(self, grace: float = 1.0) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(grace)


class Listeners:
    """All listeners of one service, keyed by endpoint string."""

    def __init__(self, reuse_port: bool = False, telemetry: Telemetry | None = None) -> None:
        self.http: dict[str, HttpListener] = {}
        self.grpc: dict[str, GrpcListener] = {}
        self.reuse_port = reuse_port
        self.telemetry = telemetry

    def http_listener(self, endpoint: str) -> HttpListener:
        split_endpoint(endpoint)
        return self.http.setdefault(
            endpoint, HttpListener(endpoint, reuse_port=self.reuse_port, telemetry=self.telemetry)
        )

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
