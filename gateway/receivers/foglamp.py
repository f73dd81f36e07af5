"""``foglamp`` receiver: Foglamp's ``POST /ingest``, answering as the Foglamp ingest service.

Checks run in Foglamp's order, first failure wins (``wire/foglamp.md`` §3):

1. a declared body size over ``max_body_bytes``: 413 ``{"error":"payload too large"}``;
2. the receiver is shutting down: 503 ``{"error":"shutting down"}``;
3. no key (``Authorization: Bearer …``, scheme case-insensitive and key trimmed, else
   ``x-api-key``): 401 ``{"error":"missing API key"}``;
4. the body itself: over the byte limit or, compressed, over ``max_decompressed_bytes``: 413;
   not JSON (or a compressed stream that does not inflate): 400 ``{"error":"invalid JSON body"}``;
5. the strict v1 schema: 400 ``{"error":"invalid payload","issues":[…the first 20…]}``;
6. the pipeline: a full queue or memory limit 429 ``{"error":"rate limit exceeded"}`` +
   ``Retry-After``, another transient failure 503 + ``Retry-After``;
7. 202 ``{"accepted": <spans>}``.

With an authenticator (``auth: {authenticator: …}`` here, or an ``auth`` processor in a pipeline
this receiver feeds) a key that is present but not valid gets 401
``{"error":"invalid or revoked API key"}`` right after step 3, before the body is read, as
Foglamp itself answers. One deliberate difference from Foglamp, for the gateway's own safety:
under memory pressure the 429 comes before the body is read (shedding load is the point). A
body Foglamp itself could not read (integers past 64 bits, lone surrogates) is refused as
invalid JSON; a body slower than ``body_timeout`` gets 408.

Also ``GET /health`` (200 ``{"status":"ok","buffered":<batches in exporter queues>}``),
``POST /v1/traces`` (501, Foglamp has no OTLP ingest), ``GET /`` (``foglamp ingest``) and, on
these paths, Foglamp's JSON 404 for any other method. With an authenticator, ``/health`` and
``/`` need valid credentials too.

.. code-block:: yaml

    receivers:
      foglamp:
        endpoint: 127.0.0.1:4000
        auth: {authenticator: auth}   # optional: credentials checked before any body is read
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from gateway.auth import Gate, ReceiverAuthConfig
from gateway.component import Consumer, ReceiverSettings, receiver_factory
from gateway.errors import ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.formats import foglamp as ff
from gateway.formats.foglamp import body as foglamp_body
from gateway.receivers._common import deliver
from gateway.receivers._http import (
    BadEncoding,
    BodyLimits,
    BodyTimeout,
    BodyTooLarge,
    capture_context,
    json_response,
    read_body,
    retry_after,
)
from gateway.units import ByteSize

DEFAULT_ENDPOINT: Final = "127.0.0.1:4000"
DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024  # Foglamp's INGEST_MAX_BODY_BYTES
MAX_ISSUES: Final = 20  # Foglamp returns the first 20 zod issues
OVERLOAD_RETRY_AFTER: Final = 1  # seconds; Foglamp's own limiter answers 1 in practice
NOT_FOUND_HINT: Final = "Check the API reference at https://docs.foglamp.dev"

_Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FoglampReceiverConfig(BodyLimits):
    endpoint: str = DEFAULT_ENDPOINT  # host:port; serves POST /ingest, GET /health
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # 413 past it (Foglamp's 10 MiB default)
    require_api_key: bool = True  # 401 "missing API key" without Bearer or x-api-key, as Foglamp
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context
    auth: ReceiverAuthConfig | None = None  # authenticator checked before any body is read


class FoglampReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: FoglampReceiverConfig, next_: Consumer) -> None:
        self._saturated = settings.saturated
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        self._http_seconds = self._t.receiver_request_duration.labels(self._id, "http")
        self._closing = False
        self._gate = settings.auth or Gate(self._id, [])
        listener = settings.listeners.http_listener(cfg.endpoint)
        listener.configure(cfg, self._id)
        # Every method on each path, so that a wrong method gets Foglamp's JSON 404 rather than
        # aiohttp's text 405 (Hono, which Foglamp runs on, has no 405).
        routes: dict[str, dict[str, _Handler]] = {
            "/ingest": {"POST": self._ingest},
            "/health": {"GET": self._guarded(self._health), "HEAD": self._guarded(self._health)},
            "/v1/traces": {"POST": self._otlp},
            "/": {"GET": self._guarded(self._root), "HEAD": self._guarded(self._root)},
        }
        for path, methods in routes.items():
            listener.add_route("*", path, self._dispatcher(methods), self._id)

    async def start(self) -> None:
        self._closing = False

    async def shutdown(self) -> None:
        self._closing = True

    @staticmethod
    def _dispatcher(methods: dict[str, _Handler]) -> _Handler:
        async def dispatch(request: web.Request) -> web.Response:
            handler = methods.get(request.method)
            if handler is None:
                return json_response(
                    404,
                    {
                        "error": f"No route for {request.method} {request.path}",
                        "code": "not_found",
                        "hint": NOT_FOUND_HINT,
                    },
                )
            return await handler(request)

        return dispatch

    def _guarded(self, handler: _Handler) -> _Handler:
        """A read that needs valid credentials when the receiver has an authenticator."""

        async def guarded(request: web.Request) -> web.Response:
            try:
                await self._gate.http(request)
            except Unauthenticated as exc:
                return json_response(401, {"error": str(exc)})
            return await handler(request)

        return guarded

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="foglamp ingest")

    async def _health(self, request: web.Request) -> web.Response:
        return json_response(200, {"status": "ok", "buffered": self._buffered()})

    def _buffered(self) -> int:
        # Foglamp reports rows in its write buffer; the gateway's nearest equivalent is what
        # waits in exporter queues (batches, every exporter of the process).
        total = 0.0
        for metric in self._t.exporter_queue_size.collect():
            total += sum(s.value for s in metric.samples)
        return int(total)

    async def _otlp(self, request: web.Request) -> web.Response:
        return json_response(501, {"error": "OTLP ingest not yet implemented; use POST /ingest"})

    async def _ingest(self, request: web.Request) -> web.Response:
        with self._http_seconds.time():
            return await self._handle(request)

    def _refuse(
        self, reason: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, *, n: int = 1
    ) -> web.Response:
        # Counted in records where the body says how many, else as one (like the other receivers).
        self._t.receiver_refused.labels(self._id, "http", reason).inc(n)
        return json_response(status, body, headers)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self._cfg.max_body_bytes:
            return self._refuse("too_large", 413, {"error": "payload too large"})
        if self._closing:
            return self._refuse("shutting_down", 503, {"error": "shutting down"})
        ctx = capture_context(request, self._id, tuple(self._cfg.keep_headers))
        # capture_context takes a Bearer token first and keeps x-api-key beside it; the auth
        # processor presents the token before the header, which is Foglamp's precedence.
        if self._cfg.require_api_key and not (ctx.bearer_token or ctx.api_key.strip()):
            return self._refuse("unauthenticated", 401, {"error": "missing API key"})
        try:
            principal = await self._gate.http(request)
        except Unauthenticated as exc:
            # The authenticator's texts are Foglamp's: "missing API key", "invalid or revoked API key".
            return json_response(401, {"error": str(exc)})
        if principal is not None:
            principal.apply(ctx)
        if self._saturated():
            return self._refuse(
                "overloaded", 429, {"error": "rate limit exceeded"}, {"Retry-After": str(OVERLOAD_RETRY_AFTER)}
            )
        try:
            body = await read_body(request, self._cfg)
        except BodyTooLarge:
            return self._refuse("too_large", 413, {"error": "payload too large"})
        except BadEncoding:
            # Foglamp reads no compressed bodies; whatever it cannot read is not JSON to it.
            return self._refuse("bad_input", 400, {"error": "invalid JSON body"})
        except BodyTimeout:
            return self._refuse("timeout", 408, {"error": "request timeout"})
        try:
            obj = foglamp_body.loads(body)  # as JSON.parse does: lone surrogates accepted
        except ValueError:
            return self._refuse("bad_input", 400, {"error": "invalid JSON body"})
        try:
            records = ff.decode_ingest(obj)
        except ff.FoglampValidationError as exc:
            body_out = {"error": "invalid payload", "issues": exc.issues[:MAX_ISSUES]}
            return self._refuse("bad_input", 400, body_out, n=max(1, ff.count_spans(obj)))
        try:
            await deliver(self._next, records, ctx, self._t, self._id)
        except Unauthenticated as exc:
            # The auth processor's texts are Foglamp's: "missing API key", "invalid or revoked API key".
            return json_response(401, {"error": str(exc)})
        except Overloaded as exc:
            return json_response(429, {"error": "rate limit exceeded"}, retry_after(exc.retry_after))
        except RetryableError as exc:
            return json_response(503, {"error": "service unavailable"}, retry_after(exc.retry_after))
        except ConsumeError as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(202, {"accepted": len(records)})


def _create(settings: ReceiverSettings, cfg: FoglampReceiverConfig, next_: Consumer) -> FoglampReceiver:
    return FoglampReceiver(settings, cfg, next_)


FACTORY = receiver_factory("foglamp", FoglampReceiverConfig, _create, "Foglamp POST /ingest (JSON traces).")
