"""``lumiqtrace`` receiver: LumiqTrace's ``POST /v1/ingest`` (NDJSON events, usually gzip).

Answers as LumiqTrace documents (``wire/lumiqtrace.md`` §4): 401 ``Invalid API key`` without
``x-api-key`` (an ``auth`` processor checks the key itself), 413 past the body limits, 400
``Max 100 events per batch`` or a message naming the line and field of the first bad event
(the whole batch is refused: LumiqTrace does not document per-line results), 429
``Rate limit exceeded`` + ``Retry-After`` when the pipeline is overloaded, and 202
``{"accepted": N}``. Bodies may be gzip, zstd or deflate.

.. code-block:: yaml

    receivers:
      lumiqtrace:
        endpoint: 127.0.0.1:4100
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import orjson
from aiohttp import web

from gateway.component import Consumer, Factory, ReceiverSettings
from gateway.errors import ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.formats import lumiqtrace as lf
from gateway.processors.memory_limiter import under_pressure
from gateway.receivers._common import deliver
from gateway.receivers._http import BadEncoding, BodyLimits, BodyTooLarge, capture_context, read_body

DEFAULT_ENDPOINT = "127.0.0.1:4100"
MAX_EVENTS = 100


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LumiqReceiverConfig(BodyLimits):
    endpoint: str = DEFAULT_ENDPOINT  # host:port; serves POST /v1/ingest
    require_api_key: bool = True  # 401 "Invalid API key" without x-api-key, as LumiqTrace
    max_events: int = MAX_EVENTS  # events per request (LumiqTrace: 100)
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context

    def validate(self) -> list[str]:
        return [] if self.max_events >= 1 else ["max_events: must be at least 1"]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


class LumiqReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: LumiqReceiverConfig, next_: Consumer) -> None:
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        settings.listeners.http_listener(cfg.endpoint).add_route("POST", "/v1/ingest", self._ingest, self._id)

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def _ingest(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            return await self._handle(request)
        finally:
            self._t.receiver_request_duration.labels(self._id, "http").observe(time.monotonic() - started)

    async def _handle(self, request: web.Request) -> web.Response:
        refused = self._t.receiver_refused
        ctx = capture_context(request, self._id, tuple(self._cfg.keep_headers))
        if self._cfg.require_api_key and not ctx.api_key.strip():
            refused.labels(self._id, "http", "unauthenticated").inc()
            return _json(401, {"error": "Invalid API key"})
        if under_pressure():
            refused.labels(self._id, "http", "overloaded").inc()
            return _json(429, {"error": "Rate limit exceeded"}, {"Retry-After": "1"})
        try:
            body = await read_body(request, self._cfg)
        except BodyTooLarge as exc:
            refused.labels(self._id, "http", "too_large").inc()
            return _json(413, {"error": f"Payload too large: {exc}"})
        except BadEncoding as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _json(400, {"error": str(exc)})
        try:
            records = lf.decode_ndjson(body, max_events=self._cfg.max_events)
        except lf.LumiqValidationError as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _json(400, {"error": str(exc)})
        if not records:
            refused.labels(self._id, "http", "bad_input").inc()
            return _json(400, {"error": "empty body: expected at least one NDJSON event"})
        try:
            await deliver(self._next, records, ctx, self._t, self._id)
        except Unauthenticated:
            return _json(401, {"error": "Invalid API key"})
        except RetryableError as exc:
            retry = str(max(1, math.ceil(exc.retry_after or 1)))
            if isinstance(exc, Overloaded):
                return _json(429, {"error": "Rate limit exceeded"}, {"Retry-After": retry})
            return _json(503, {"error": "Service unavailable"}, {"Retry-After": retry})
        except ConsumeError as exc:
            return _json(400, {"error": str(exc)})
        return _json(202, {"accepted": len(records)})


def _create(settings: ReceiverSettings, cfg: LumiqReceiverConfig, next_: Consumer) -> LumiqReceiver:
    return LumiqReceiver(settings, cfg, next_)


FACTORY = Factory("receiver", "lumiqtrace", LumiqReceiverConfig, _create, "LumiqTrace POST /v1/ingest (NDJSON).")
