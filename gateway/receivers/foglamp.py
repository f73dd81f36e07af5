"""``foglamp`` receiver: Foglamp's ``POST /ingest``, answering as the Foglamp ingest service.

Checks run in Foglamp's order, first failure wins (``wire/foglamp.md`` §3): body size (413
``payload too large``), shutting down (503), API key present (401 ``missing API key``; the key
itself is checked by an ``auth`` processor, which answers 401 ``invalid or revoked API key``),
JSON (400 ``invalid JSON body``), the strict schema (400 ``invalid payload`` with the first 20
issues), pipeline overload (429 ``rate limit exceeded`` + ``Retry-After``), then 202
``{"accepted": <spans>}``. Also ``GET /health`` and the 501 on ``POST /v1/traces``.

.. code-block:: yaml

    receivers:
      foglamp:
        endpoint: 127.0.0.1:4000
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import orjson
from aiohttp import web

from gateway.component import Consumer, Factory, ReceiverSettings
from gateway.config import ByteSize
from gateway.errors import ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.formats import foglamp as ff
from gateway.processors.memory_limiter import under_pressure
from gateway.receivers._common import deliver
from gateway.receivers._http import BadEncoding, BodyLimits, BodyTooLarge, capture_context, read_body

DEFAULT_ENDPOINT = "127.0.0.1:4000"
DEFAULT_MAX_BODY = 10 * 1024 * 1024  # Foglamp's INGEST_MAX_BODY_BYTES
MAX_ISSUES = 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FoglampReceiverConfig(BodyLimits):
    endpoint: str = DEFAULT_ENDPOINT  # host:port; serves POST /ingest, GET /health
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # 413 past it (Foglamp's 10 MiB default)
    require_api_key: bool = True  # 401 "missing API key" without Bearer or x-api-key, as Foglamp
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


class FoglampReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: FoglampReceiverConfig, next_: Consumer) -> None:
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        self._closing = False
        listener = settings.listeners.http_listener(cfg.endpoint)
        listener.add_route("POST", "/ingest", self._ingest, self._id)
        listener.add_route("GET", "/health", self._health, self._id)
        listener.add_route("POST", "/v1/traces", self._otlp, self._id)

    async def start(self) -> None:
        self._closing = False

    async def shutdown(self) -> None:
        self._closing = True

    async def _health(self, request: web.Request) -> web.Response:
        return _json(200, {"status": "ok", "buffered": 0 if self._closing else self._buffered()})

    def _buffered(self) -> int:
        total = 0.0
        for metric in self._t.exporter_queue_size.collect():
            total += sum(s.value for s in metric.samples)
        return int(total)

    async def _otlp(self, request: web.Request) -> web.Response:
        return _json(501, {"error": "OTLP ingest not yet implemented; use POST /ingest"})

    async def _ingest(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            return await self._handle(request)
        finally:
            self._t.receiver_request_duration.labels(self._id, "http").observe(time.monotonic() - started)

    async def _handle(self, request: web.Request) -> web.Response:
        refused = self._t.receiver_refused
        if request.content_length is not None and request.content_length > self._cfg.max_body_bytes:
            refused.labels(self._id, "http", "too_large").inc()
            return _json(413, {"error": "payload too large"})
        if self._closing:
            return _json(503, {"error": "shutting down"})
        ctx = capture_context(request, self._id, tuple(self._cfg.keep_headers))
        if self._cfg.require_api_key and not (ctx.bearer_token or ctx.api_key.strip()):
            refused.labels(self._id, "http", "unauthenticated").inc()
            return _json(401, {"error": "missing API key"})
        if under_pressure():
            refused.labels(self._id, "http", "overloaded").inc()
            return _json(429, {"error": "rate limit exceeded"}, {"Retry-After": "1"})
        try:
            body = await read_body(request, self._cfg)
        except BodyTooLarge:
            refused.labels(self._id, "http", "too_large").inc()
            return _json(413, {"error": "payload too large"})
        except BadEncoding as exc:
            return _json(400, {"error": f"invalid body encoding: {exc}"})
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            refused.labels(self._id, "http", "bad_input").inc()
            return _json(400, {"error": "invalid JSON body"})
        try:
            records = ff.decode_ingest(obj)
        except ff.FoglampValidationError as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _json(400, {"error": "invalid payload", "issues": exc.issues[:MAX_ISSUES]})
        try:
            await deliver(self._next, records, ctx, self._t, self._id)
        except Unauthenticated as exc:
            return _json(401, {"error": str(exc)})
        except RetryableError as exc:
            retry = str(max(1, math.ceil(exc.retry_after or 1)))
            if isinstance(exc, Overloaded):
                return _json(429, {"error": "rate limit exceeded"}, {"Retry-After": retry})
            return _json(503, {"error": "service unavailable"}, {"Retry-After": retry})
        except ConsumeError as exc:
            return _json(400, {"error": str(exc)})
        return _json(202, {"accepted": len(records)})


def _create(settings: ReceiverSettings, cfg: FoglampReceiverConfig, next_: Consumer) -> FoglampReceiver:
    return FoglampReceiver(settings, cfg, next_)


FACTORY = Factory("receiver", "foglamp", FoglampReceiverConfig, _create, "Foglamp POST /ingest (JSON traces).")
