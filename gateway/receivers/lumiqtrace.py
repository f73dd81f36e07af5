"""``lumiqtrace`` receiver: LumiqTrace's ``POST /v1/ingest`` (NDJSON events, usually gzip).

Answers as LumiqTrace documents (``wire/lumiqtrace.md`` §4), checks in this order:

1. no ``x-api-key``: 401 ``{"error":"Invalid API key"}``; with an authenticator
   (``auth: {authenticator: …}``, or an ``auth`` processor in a pipeline this receiver feeds) a
   key it does not accept gets the same answer, before the body is read;
2. memory pressure: 429 ``{"error":"Rate limit exceeded"}`` + ``Retry-After``, before the body is
   read;
3. the body over ``max_body_bytes``, or inflated (gzip, zstd, deflate) over
   ``max_decompressed_bytes``: 413 ``{"error":"Payload too large: …"}``; a corrupt, truncated or
   unsupported compression: 400; slower than ``body_timeout``: 408;
4. more than ``max_events`` lines: 400 ``{"error":"Max 100 events per batch"}``; the first bad
   event: 400 with a message naming its line and field (``line 3: missing required field
   "model"``; the whole batch is refused, LumiqTrace documents no per-line results); no event at
   all: 400 ``{"error":"No events in body"}``;
5. the pipeline: 429 + ``Retry-After`` when overloaded, 503 + ``Retry-After`` on another
   transient failure;
6. 202 ``{"accepted": N}``, N = the events in the body.

LumiqTrace deduplicates by ``event_id``. The receiver does the same for what passes through it:
an event whose id it forwarded recently for the same key (``dedup_window`` ids are remembered,
0 turns this off), or that appears twice in one body, is acknowledged but forwarded once, and
counted as ``gateway_receiver_ignored_records{reason="duplicate"}``. That keeps an SDK's retry
after a lost 202 from reaching backends that double count (Foglamp's roll-ups). Ids are
remembered only once the pipeline took the batch, so a client retrying a refused batch is never
mistaken for a duplicate.

.. code-block:: yaml

    receivers:
      lumiqtrace:
        endpoint: 127.0.0.1:4100
        auth: {authenticator: auth}   # optional: credentials checked before any body is read
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Final

from aiohttp import web

from gateway.auth import Gate, ReceiverAuthConfig
from gateway.component import Consumer, ReceiverSettings, receiver_factory
from gateway.errors import ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.formats import lumiqtrace as lf
from gateway.formats.lumiqtrace.scores import scores_from_eval_scores
from gateway.model import Record
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

DEFAULT_ENDPOINT: Final = "127.0.0.1:4100"
MAX_EVENTS: Final = lf.MAX_EVENTS
DEFAULT_DEDUP_WINDOW: Final = 10_000  # ids: 100 full batches, a few MB at most
OVERLOAD_RETRY_AFTER: Final = 1  # seconds


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LumiqReceiverConfig(BodyLimits):
    endpoint: str = DEFAULT_ENDPOINT  # host:port; serves POST /v1/ingest
    require_api_key: bool = True  # 401 "Invalid API key" without x-api-key, as LumiqTrace
    max_events: int = MAX_EVENTS  # events per request (LumiqTrace: 100)
    dedup_window: int = DEFAULT_DEDUP_WINDOW  # recent event ids per key not forwarded again; 0 = off
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context
    auth: ReceiverAuthConfig | None = None  # authenticator checked before any body is read

    def validate(self) -> list[str]:
        problems = []
        if self.max_events < 1:
            problems.append("max_events: must be at least 1")
        if self.dedup_window < 0:
            problems.append("dedup_window: must not be negative")
        return problems


class RecentIds:
    """The last ``capacity`` (key, event id) pairs seen, oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._seen: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()

    def fresh(self, key: str, records: list[Record]) -> list[Record]:
        """The records whose ids are neither remembered nor repeated earlier in ``records``."""
        if not self._capacity:
            return records
        out: list[Record] = []
        ids: set[str] = set()
        for rec in records:
            if rec.id in ids or (key, rec.id) in self._seen:
                continue
            ids.add(rec.id)
            out.append(rec)
        return out

    def remember(self, key: str, records: list[Record]) -> None:
        if not self._capacity:
            return
        seen = self._seen
        for rec in records:
            seen[(key, rec.id)] = None
            seen.move_to_end((key, rec.id))
        while len(seen) > self._capacity:
            seen.popitem(last=False)


class LumiqReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: LumiqReceiverConfig, next_: Consumer) -> None:
        self._saturated = settings.saturated
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        self._http_seconds = self._t.receiver_request_duration.labels(self._id, "http")
        self._recent = RecentIds(cfg.dedup_window)
        self._gate = settings.auth or Gate(self._id, [])
        listener = settings.listeners.http_listener(cfg.endpoint)
        listener.configure(cfg, self._id)
        listener.add_route("POST", "/v1/ingest", self._ingest, self._id)

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def _ingest(self, request: web.Request) -> web.Response:
        with self._http_seconds.time():
            return await self._handle(request)

    def _refuse(
        self, reason: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        # One per request: refused before (or while) decoding, the number of events is unknown.
        self._t.receiver_refused.labels(self._id, "http", reason).inc()
        return json_response(status, body, headers)

    async def _handle(self, request: web.Request) -> web.Response:
        ctx = capture_context(request, self._id, tuple(self._cfg.keep_headers))
        if self._cfg.require_api_key and not ctx.api_key.strip():
            return self._refuse("unauthenticated", 401, {"error": "Invalid API key"})
        try:
            principal = await self._gate.http(request)
        except Unauthenticated:
            return json_response(401, {"error": "Invalid API key"})
        if principal is not None:
            principal.apply(ctx)
        if self._saturated():
            headers = {"Retry-After": str(OVERLOAD_RETRY_AFTER)}
            return self._refuse("overloaded", 429, {"error": "Rate limit exceeded"}, headers)
        try:
            body = await read_body(request, self._cfg)
        except BodyTooLarge as exc:
            return self._refuse("too_large", 413, {"error": f"Payload too large: {exc}"})
        except BadEncoding as exc:
            return self._refuse("bad_input", 400, {"error": str(exc)})
        except BodyTimeout:
            return self._refuse("timeout", 408, {"error": "Request timeout"})
        try:
            records = lf.decode_ndjson(body, max_events=self._cfg.max_events)
        except lf.LumiqValidationError as exc:
            return self._refuse("bad_input", 400, {"error": str(exc)})
        if not records:
            return self._refuse("bad_input", 400, {"error": "No events in body"})
        fresh = self._recent.fresh(ctx.api_key, records)
        try:
            # eval_scores also travel as scores, so a Sigil exporter sends them to scores:export.
            await deliver(self._next, fresh, ctx, self._t, self._id, scores=scores_from_eval_scores(fresh))
        except Unauthenticated:
            return json_response(401, {"error": "Invalid API key"})
        except Overloaded as exc:
            return json_response(429, {"error": "Rate limit exceeded"}, retry_after(exc.retry_after))
        except RetryableError as exc:
            return json_response(503, {"error": "Service unavailable"}, retry_after(exc.retry_after))
        except ConsumeError as exc:
            return json_response(400, {"error": str(exc)})
        self._recent.remember(ctx.api_key, fresh)
        if len(fresh) < len(records):
            self._t.receiver_ignored.labels(self._id, "http", "duplicate").inc(len(records) - len(fresh))
        return json_response(202, {"accepted": len(records)})


def _create(settings: ReceiverSettings, cfg: LumiqReceiverConfig, next_: Consumer) -> LumiqReceiver:
    return LumiqReceiver(settings, cfg, next_)


FACTORY = receiver_factory("lumiqtrace", LumiqReceiverConfig, _create, "LumiqTrace POST /v1/ingest (NDJSON).")
