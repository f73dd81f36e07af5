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

A config reload builds a new set of listeners; :meth:`Listeners.start` with ``previous`` lets
each listener whose endpoint and options did not change take over the running server of its
predecessor and only swap the routes behind it, so its socket never closes. Requests are
counted per route generation, so a reload can wait for those still running on the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
from aiohttp import web

from gateway._conn_guard import ConnectionGuard, cors_middleware
from gateway.telemetry import RateLimitedLog, Telemetry
from gateway.tls import ServerTls, TlsServerConfig
from gateway.units import Duration

log = logging.getLogger(__name__)
# Requests refused with a 4xx/5xx (bad input, 401, 429, …): debug lines, at most one per
# route and status per interval, so a flood of bad requests cannot flood the log.
_refused = RateLimitedLog(log, interval=5.0)
REFUSED_BODY_CHARS = 200  # how much of a refusal's body the debug line quotes

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
            # match_info is cached on first read (the outer middlewares read it): forget the outer
            # one so that handlers see the inner route's (path parameters included).
            request._cache.pop("match_info", None)
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
    _switch: _HttpSwitch | None = None

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
        switch = _HttpSwitch(self._routes_app())
        app.router.add_route("*", "/{path:.*}", switch.handle)
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
        self._switch = switch
        if self._tls is not None and self._tls.cfg.reload_interval:
            self._reload_task = asyncio.create_task(self._reload_tls(self._tls), name=f"tls-reload {self.endpoint}")
        sockets: tuple[Any, ...] = tuple(self._server.sockets or ())
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http listener started endpoint=%s port=%d tls=%s", self.endpoint, self.port, self._tls is not None)

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
        """True when ``other``'s running server can serve this listener's routes as is (same
        address and the same listener options: TLS, CORS, timeouts, connection cap)."""
        return other._runner is not None and (other.endpoint, other.reuse_port, other.options) == (
            self.endpoint,
            self.reuse_port,
            self.options,
        )

    def adopt(self, previous: HttpListener) -> Generation:
        """Takes over ``previous``'s running server with this listener's routes; returns the
        retired route generation (its requests may still be running)."""
        assert previous._runner is not None and previous._switch is not None
        self._runner, previous._runner = previous._runner, None
        self._server, previous._server = previous._server, None
        self._tls, previous._tls = previous._tls, None
        self._reload_task, previous._reload_task = previous._reload_task, None
        self._switch, previous._switch = previous._switch, None
        self.port = previous.port
        retired = self._switch.generation
        self._switch.app = self._routes_app()
        self._switch.generation = Generation()
        return retired

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
            self._switch = None
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
    _switch: _GrpcSwitch | None = None

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
        switch = _GrpcSwitch({})
        switch.methods = self._method_table(switch.generation)
        server.add_generic_rpc_handlers((switch,))
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
        self._switch = switch
        self.port = bound
        log.info("grpc listener started endpoint=%s port=%d tls=%s", self.endpoint, self.port, tls is not None)

    def _method_table(self, gen: Generation) -> dict[str, grpc.RpcMethodHandler]:
        # No (de)serializers: handlers see raw bytes so undecodable input gets a clear
        # INVALID_ARGUMENT from the receiver, not a generic framework error.
        table: dict[str, grpc.RpcMethodHandler] = {}
        for name, (_owner, methods) in self.services.items():
            for m, h in methods.items():
                full = f"/{name}/{m}"
                if h.stream is not None:
                    table[full] = grpc.stream_unary_rpc_method_handler(_counted(gen, full, h.stream))
                else:
                    assert h.unary is not None
                    table[full] = grpc.unary_unary_rpc_method_handler(_counted(gen, full, h.unary))
        return table

    @property
    def running(self) -> bool:
        return self._server is not None

    def same_socket(self, other: GrpcListener) -> bool:
        """True when ``other``'s running server can serve this listener's services as is."""
        return other._server is not None and (
            other.endpoint,
            other.reuse_port,
            other.max_message_bytes,
            other.options,
        ) == (self.endpoint, self.reuse_port, self.max_message_bytes, self.options)

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


_Call = TypeVar("_Call", GrpcUnary, GrpcStream)


def _counted(gen: Generation, method: str, fn: _Call) -> _Call:
    """``fn`` counted in the route generation ``gen`` and its refusals logged (unary or stream)."""

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        gen.enter()
        try:
            response: bytes = await fn(request, context)
        except grpc.aio.AbortError:
            _log_refused_grpc(method, context)
            raise
        finally:
            gen.exit()
        _log_refused_grpc(method, context)
        return response

    return cast(_Call, call)


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
