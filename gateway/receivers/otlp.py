"""``otlp`` receiver: OTLP traces carrying GenAI attributes, and logs carrying GenAI events.

gRPC ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` and
``opentelemetry.proto.collector.logs.v1.LogsService/Export`` (one server with the sigil
receiver's services when both name the same endpoint) and HTTP ``POST /v1/traces`` and
``POST /v1/logs`` with ``application/x-protobuf`` or ``application/json`` (OTLP/JSON: hex ids,
integer enums) bodies, plain or gzip, zstd or deflate compressed.

Spans with ``gen_ai.*`` attributes (the current names and older ones such as ``gen_ai.system``
and ``gen_ai.usage.prompt_tokens``) or OpenInference's ``openinference.span.kind`` become records.
GenAI events sent as logs (``gen_ai.user.message``, ``gen_ai.choice``,
``gen_ai.client.inference.operation.details``, ...) give their span's record its content: see
:mod:`gateway.receivers._otlp_join` for how the two sides wait for each other (``logs.join_wait``,
``logs.max_pending``); other log records are refused like non-GenAI spans. One call reported by
two instrumentations (``dedup.pairs``) is sent once: see :mod:`gateway.receivers._otlp_dedup`.

Other spans are dropped and counted
(``gateway_receiver_ignored_records_total{reason="not_genai"}``), and the client is told through
OTLP's partial success (``rejected_spans`` with a message), which it must not retry. With
``passthrough_non_genai: true`` they travel instead, as records of kind ``other`` marked
``otlp.passthrough`` that an ``otlp`` exporter sends on as the same span and other exporters drop.
``keep_genai_ancestors: true`` passes on only the ancestors of GenAI spans, so trees stay whole
(see :mod:`gateway.receivers._otlp_ancestors` for how and what it costs).

When every consumer downstream is an ``otlp`` exporter that takes them (the ``otlp.traces``
native kind: see ``gateway.exporters.otlp``), a traces request whose every span the records path
would give back unchanged is handed on as parsed, with the bytes it came in, instead of as
records (:mod:`gateway.formats.otlp.native` states the rule). Requests the receiver's own state
could change take the records path as before: with ``keep_genai_ancestors`` always; spans from a
scope of a ``dedup`` pair; spans that GenAI events waiting in the join buffer belong to, or of a
service that has sent GenAI events (they may wait for theirs). ``docs/mapping.md`` ("OTLP → OTLP
without records") lists what arrives differently (form only).

Answers follow the OTLP specification: 200 with an ``ExportTraceServiceResponse`` in the
request's encoding; failures carry a ``google.rpc.Status`` in the request's encoding: 400
(``INVALID_ARGUMENT``) for bodies that do not decode, naming the problem; 413 past
``max_body_bytes`` or ``max_decompressed_bytes`` (a compression bomb stops there); 415 for other
content types (as JSON, the request's encoding being unknown); 405 for other methods; 401
(``UNAUTHENTICATED``); 429 or 503 with ``Retry-After`` (``RESOURCE_EXHAUSTED`` / ``UNAVAILABLE``
with ``RetryInfo``) when the pipeline cannot take the data now.

.. code-block:: yaml

    receivers:
      otlp:
        grpc: {endpoint: 127.0.0.1:4317}
        http: {endpoint: 127.0.0.1:4318}
        passthrough_non_genai: false
        auth: {authenticator: auth}   # optional: credentials checked before any body is read
        logs: {join_wait: 5s, max_pending: 10000}
        dedup: {enabled: true, wait: 2s}
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from aiohttp import web
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway.auth import Gate, Principal, ReceiverAuthConfig
from gateway.component import Consumer, ReceiverSettings, receiver_factory
from gateway.errors import BadInput, ConsumeError, Overloaded, PermanentError, RetryableError, Unauthenticated
from gateway.formats import otlp
from gateway.formats.otlp import decode_logs
from gateway.formats.otlp import native as otlp_native
from gateway.listeners import DEFAULT_GRPC_MAX_MESSAGE, GrpcServerOptions
from gateway.model import Context, Record
from gateway.receivers._common import deliver, grpc_context
from gateway.receivers._http import BadEncoding, BodyLimits, BodyTimeout, BodyTooLarge, capture_context, read_body
from gateway.receivers._http import retry_after as retry_after_header
from gateway.receivers._otlp_ancestors import Ancestors
from gateway.receivers._otlp_dedup import Dedup
from gateway.receivers._otlp_join import JoinBuffer
from gateway.units import ByteSize, Duration

log = logging.getLogger(__name__)

DEFAULT_GRPC_ENDPOINT = "127.0.0.1:4317"
DEFAULT_HTTP_ENDPOINT = "127.0.0.1:4318"
TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
DEFAULT_JOIN_WAIT = 5.0  # seconds a span or its events wait for the other side
DEFAULT_MAX_PENDING = 10_000  # spans (and as many event groups) waiting at once
DEFAULT_DEDUP_WAIT = 2.0  # seconds a record of a known pair waits for its twin
# Instrumentation scopes known to report the same call twice; the first of each pair is kept.
# OpenLLMetry's anthropic instrumentation and the anthropic SDK's own tracing (both on by default).
DEFAULT_DEDUP_PAIRS = (("opentelemetry.instrumentation.anthropic", "com.anthropic.sdk.python"),)
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PRESSURE_RETRY_AFTER = 1.0  # seconds a client is asked to wait when memory is short


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpHttpConfig(BodyLimits):
    endpoint: str = DEFAULT_HTTP_ENDPOINT  # host:port; serves POST /v1/traces and /v1/logs
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpGrpcConfig(GrpcServerOptions):
    endpoint: str = DEFAULT_GRPC_ENDPOINT  # host:port
    max_recv_msg_size: ByteSize = ByteSize(DEFAULT_GRPC_MAX_MESSAGE)  # RESOURCE_EXHAUSTED past it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpLogsConfig:
    join_wait: Duration = Duration(DEFAULT_JOIN_WAIT)  # how long a span and its events wait for each other
    max_pending: int = DEFAULT_MAX_PENDING  # spans (and event groups) waiting at most; more are let go

    def validate(self) -> list[str]:
        # A negative duration does not parse; 0 turns the waiting off.
        return ["max_pending: must be at least 1"] if self.max_pending < 1 else []


def _default_pairs() -> list[list[str]]:
    return [list(pair) for pair in DEFAULT_DEDUP_PAIRS]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpDedupConfig:
    enabled: bool = True  # send one record for a call two instrumentations reported
    wait: Duration = Duration(DEFAULT_DEDUP_WAIT)  # how long a record of a pair waits for its twin
    max_pending: int = DEFAULT_MAX_PENDING  # records waiting or remembered at most; more go on unchecked
    pairs: list[list[str]] = dataclasses.field(default_factory=_default_pairs)  # scope pairs; the first is kept

    def validate(self) -> list[str]:
        problems = []
        if self.max_pending < 1:
            problems.append("max_pending: must be at least 1")
        for i, pair in enumerate(self.pairs):
            if len(pair) != 2 or pair[0] == pair[1]:
                problems.append(f"pairs: entry {i} must name two different scopes")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpReceiverConfig:
    # Only the transports listed open, as in the Collector: `grpc: {}` is the default endpoint,
    # absent or null is off.
    grpc: OtlpGrpcConfig | None = None
    http: OtlpHttpConfig | None = None
    passthrough_non_genai: bool = False  # pass spans without gen_ai attributes on to otlp exporters
    auth: ReceiverAuthConfig | None = None  # authenticator checked before any body is read (HTTP and gRPC)
    keep_genai_ancestors: bool = False  # pass on the non-GenAI ancestors of GenAI spans only
    logs: OtlpLogsConfig | None = dataclasses.field(default_factory=OtlpLogsConfig)  # GenAI events; null: no logs
    dedup: OtlpDedupConfig = dataclasses.field(default_factory=OtlpDedupConfig)  # one call reported twice

    def validate(self) -> list[str]:
        if self.http is None and self.grpc is None:
            return ["at least one of http, grpc must be configured"]
        return []


@dataclasses.dataclass(frozen=True, slots=True)
class _Signal:
    """What differs between the traces and the logs endpoints."""

    decode_json: Callable[[bytes], Any]
    decode_protobuf: Callable[[bytes], Any]
    consume: Callable[[Any, Context, bytes | None], Awaitable[Any]]  # request, context, its protobuf


@dataclasses.dataclass(frozen=True, slots=True)
class _Failure:
    """A refusal, as both wires say it."""

    http: int
    grpc: grpc.StatusCode
    message: str
    retry_after: float | None = None


def _failure(exc: ConsumeError) -> _Failure:
    """The Collector's mapping of pipeline errors onto OTLP answers."""
    if isinstance(exc, Unauthenticated):
        return _Failure(401, grpc.StatusCode.UNAUTHENTICATED, str(exc))
    if isinstance(exc, BadInput | PermanentError):
        return _Failure(400, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
    if isinstance(exc, Overloaded):
        return _Failure(429, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), retry_after or PRESSURE_RETRY_AFTER)
    return _Failure(503, grpc.StatusCode.UNAVAILABLE, str(exc), retry_after or PRESSURE_RETRY_AFTER)


_PRESSURE = _Failure(
    429,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    "gateway overloaded (memory limit or full sending queue); retry later",
    PRESSURE_RETRY_AFTER,
)


class OtlpReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: OtlpReceiverConfig, next_: Consumer) -> None:
        self._saturated = settings.saturated
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        self._http_seconds = self._t.receiver_request_duration.labels(self._id, "http")
        self._grpc_seconds = self._t.receiver_request_duration.labels(self._id, "grpc")
        self._gate = settings.auth or Gate(self._id, [])
        self._join: JoinBuffer | None = None
        if cfg.logs is not None:
            self._join = JoinBuffer(
                receiver=self._id,
                wait=float(cfg.logs.join_wait),
                max_pending=cfg.logs.max_pending,
                send=self._send_joined,
                telemetry=self._t,
            )
        self._ancestors = Ancestors(DEFAULT_MAX_PENDING) if cfg.keep_genai_ancestors else None
        # Requests handed on as parsed spans when every consumer takes them (see _native_traces).
        self._native = otlp_native.KIND in settings.native and not cfg.keep_genai_ancestors
        if self._native:
            log.info("%s: spans the gateway would write unchanged pass through as received", self._id)
        self._dedup: Dedup | None = None
        if cfg.dedup.enabled and cfg.dedup.pairs:
            self._dedup = Dedup(
                receiver=self._id,
                pairs=cfg.dedup.pairs,
                wait=float(cfg.dedup.wait),
                max_pending=cfg.dedup.max_pending,
                send=self._send_joined,
                telemetry=self._t,
            )
        self._traces = _Signal(otlp.decode_traces_json, otlp.decode_traces_protobuf, self._consume)
        self._logs = _Signal(decode_logs.decode_logs_json, decode_logs.decode_logs_protobuf, self._consume_logs)
        if cfg.http is not None:
            listener = settings.listeners.http_listener(cfg.http.endpoint)
            listener.configure(cfg.http, self._id)
            # Every method, so that the 405 is this receiver's answer and not a bare one.
            listener.add_route("*", TRACES_PATH, self._http, self._id)
            if self._join is not None:
                listener.add_route("*", LOGS_PATH, self._http_logs, self._id)
        if cfg.grpc is not None:
            g = settings.listeners.grpc_listener(cfg.grpc.endpoint)
            g.configure(cfg.grpc, self._id)
            g.max_message_bytes = max(g.max_message_bytes, int(cfg.grpc.max_recv_msg_size))
            g.add_service(TRACE_SERVICE, {"Export": self._gate.grpc_unary(self._grpc)}, self._id)
            if self._join is not None:
                g.add_service(LOGS_SERVICE, {"Export": self._gate.grpc_unary(self._grpc_logs)}, self._id)

    async def start(self) -> None:
        if self._join is not None:
            self._join.start()
        if self._dedup is not None:
            self._dedup.start()

    async def shutdown(self) -> None:
        if self._dedup is not None:
            await self._dedup.shutdown()
        if self._join is not None:
            await self._join.shutdown()

    async def _consume(
        self, request: ExportTraceServiceRequest, ctx: Context, body: bytes | None
    ) -> ExportTraceServiceResponse:
        if self._native:
            traces = self._native_traces(request, body)
            if traces is not None:
                await deliver(self._next, None, ctx, self._t, self._id, native=traces)
                return ExportTraceServiceResponse()
        records: list[Record]
        passthrough = self._cfg.passthrough_non_genai
        ancestors = self._ancestors if not passthrough else None
        records, other = otlp.traces_to_records(request, passthrough=passthrough or ancestors is not None)
        rejected = 0 if passthrough else other
        if ancestors is not None:
            records, rejected = ancestors.filter(records)
        if rejected:
            self._t.receiver_ignored.labels(self._id, ctx.transport, "not_genai").inc(rejected)
        if self._dedup is not None:
            records = self._dedup.records(records, ctx)
        if self._join is not None:
            records = self._join.spans(records, ctx)
        await deliver(self._next, records, ctx, self._t, self._id)
        response = ExportTraceServiceResponse()
        if rejected:
            # Per the spec: 200 + partial success, which the client logs and must not retry.
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(
                    rejected_spans=rejected,
                    error_message=(
                        f"{rejected} spans without gen_ai.* attributes were dropped: this endpoint takes "
                        "GenAI spans only (receivers::otlp::passthrough_non_genai passes the others on)"
                    ),
                )
            )
        return response

    def _native_traces(self, request: ExportTraceServiceRequest, body: bytes | None) -> otlp_native.OtlpTraces | None:
        """The request as it came, when the records path would hand on the same spans: every
        span canonical (gateway.formats.otlp.native), none from a scope of a dedup pair, none
        that could take or wait for GenAI events in the join buffer. Else None (records)."""
        found = otlp_native.survey(request, body, passthrough=self._cfg.passthrough_non_genai)
        if found is None or not found.spans:
            return None
        if self._dedup is not None and self._dedup.watches(found.scopes):
            return None
        if self._join is not None and self._join.concerns(found.services, lambda: _span_keys(request)):
            return None
        return otlp_native.OtlpTraces.of(request, found.spans, body)

    async def _consume_logs(
        self, request: ExportLogsServiceRequest, ctx: Context, body: bytes | None
    ) -> ExportLogsServiceResponse:
        assert self._join is not None
        events, rejected = decode_logs.logs_to_events(request)
        if rejected:
            self._t.receiver_ignored.labels(self._id, ctx.transport, "not_genai").inc(rejected)
        for record, span_ctx in self._join.events(events):
            # Sent with the context of the request that brought the span (its tenant, its
            # credentials); a refusal is counted by the buffer, not answered to this sender.
            await self._join.deliver([record], span_ctx)
        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(
                    rejected_log_records=rejected,
                    error_message=(
                        f"{rejected} log records were dropped: this endpoint takes GenAI events "
                        "(gen_ai.* event names with a span id) only"
                    ),
                )
            )
        return response

    async def _send_joined(self, records: list[Record], ctx: Context) -> None:
        await deliver(self._next, records, ctx, self._t, self._id)

    # -- gRPC --------------------------------------------------------------------------------

    async def _grpc(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any], principal: Principal | None
    ) -> bytes:
        with self._grpc_seconds.time():
            return await self._handle_grpc(data, context, principal, self._traces)

    async def _grpc_logs(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any], principal: Principal | None
    ) -> bytes:
        with self._grpc_seconds.time():
            return await self._handle_grpc(data, context, principal, self._logs)

    async def _handle_grpc(
        self,
        data: bytes,
        context: grpc.aio.ServicerContext[Any, Any],
        principal: Principal | None,
        signal: _Signal,
    ) -> bytes:
        if self._saturated():
            self._t.receiver_refused.labels(self._id, "grpc", "overloaded").inc()
            await _abort(context, _PRESSURE)
        try:
            request = signal.decode_protobuf(data)
        except BadInput as exc:
            self._t.receiver_refused.labels(self._id, "grpc", "bad_input").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        ctx = grpc_context(self._id, context)[0]
        if principal is not None:
            principal.apply(ctx)
        try:
            response = await signal.consume(request, ctx, data)
        except ConsumeError as exc:
            await _abort(context, _failure(exc))
        return bytes(response.SerializeToString())

    # -- HTTP --------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.Response:
        with self._http_seconds.time():
            return await self._handle_http(request, self._traces)

    async def _http_logs(self, request: web.Request) -> web.Response:
        with self._http_seconds.time():
            return await self._handle_http(request, self._logs)

    async def _handle_http(self, request: web.Request, signal: _Signal) -> web.Response:
        assert self._cfg.http is not None
        ctype = request.content_type
        if request.method != "POST":
            return _status(ctype == JSON, 405, code_pb2.UNIMPLEMENTED, f"method {request.method} not allowed; use POST")
        if ctype not in (PROTOBUF, JSON):
            # The request's encoding is unknown, so the Status goes as JSON, which people can read.
            message = f"unsupported content type {ctype!r}; use {PROTOBUF} or {JSON}"
            return _status(True, 415, code_pb2.INVALID_ARGUMENT, message)
        as_json = ctype == JSON
        refused = self._t.receiver_refused
        try:
            principal = await self._gate.http(request)
        except Unauthenticated as exc:
            return _status(as_json, 401, code_pb2.UNAUTHENTICATED, str(exc))
        if self._saturated():
            refused.labels(self._id, "http", "overloaded").inc()
            return _failure_response(as_json, _PRESSURE)
        try:
            body = await read_body(request, self._cfg.http)
        except BodyTooLarge as exc:
            refused.labels(self._id, "http", "too_large").inc()
            return _status(as_json, 413, code_pb2.RESOURCE_EXHAUSTED, str(exc))
        except BadEncoding as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _status(as_json, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        except BodyTimeout as exc:
            refused.labels(self._id, "http", "timeout").inc()
            return _status(as_json, 408, code_pb2.DEADLINE_EXCEEDED, str(exc))
        except (ConnectionError, asyncio.IncompleteReadError):
            refused.labels(self._id, "http", "bad_input").inc()
            return _status(as_json, 400, code_pb2.INVALID_ARGUMENT, "the request body could not be read")
        try:
            req = signal.decode_json(body) if as_json else signal.decode_protobuf(body)
        except BadInput as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _status(as_json, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        ctx = capture_context(request, self._id, tuple(self._cfg.http.keep_headers))
        if principal is not None:
            principal.apply(ctx)
        try:
            response = await signal.consume(req, ctx, None if as_json else body)
        except ConsumeError as exc:
            return _failure_response(as_json, _failure(exc))
        if not as_json:
            return web.Response(status=200, body=response.SerializeToString(), content_type=PROTOBUF)
        out: dict[str, Any] = {}
        if response.HasField("partial_success"):
            ps = response.partial_success
            rejected = ps.rejected_spans if signal is self._traces else ps.rejected_log_records
            key = "rejectedSpans" if signal is self._traces else "rejectedLogRecords"
            # OTLP/JSON: int64 as a decimal string.
            out["partialSuccess"] = {key: str(rejected), "errorMessage": ps.error_message}
        return web.Response(status=200, body=orjson.dumps(out), content_type=JSON)


def _span_keys(request: ExportTraceServiceRequest) -> list[tuple[str, str]]:
    """(trace id, span id) in hex, as records carry them, of every span of a request."""
    return [
        (span.trace_id.hex(), span.span_id.hex())
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    whole = math.floor(seconds)
    return error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )


async def _abort(context: grpc.aio.ServicerContext[Any, Any], failure: _Failure) -> None:
    """Ends the call; a retry delay goes out as RetryInfo twice: in the status details (the
    Collector reads those) and as ``google.rpc.retryinfo-bin`` (the OpenTelemetry Python SDK)."""
    if failure.retry_after is not None:
        info = _retry_info(failure.retry_after)
        status = status_pb2.Status(code=failure.grpc.value[0], message=failure.message)
        status.details.add().Pack(info)
        context.set_trailing_metadata(
            (
                ("grpc-status-details-bin", status.SerializeToString()),
                ("google.rpc.retryinfo-bin", info.SerializeToString()),
            )
        )
    await context.abort(failure.grpc, failure.message)


def _failure_response(as_json: bool, failure: _Failure) -> web.Response:
    return _status(as_json, failure.http, failure.grpc.value[0], failure.message, failure.retry_after)


def _status(as_json: bool, http: int, code: int, message: str, retry_after: float | None = None) -> web.Response:
    """A google.rpc.Status body in the request's encoding (OTLP/HTTP failure responses)."""
    headers = retry_after_header(retry_after) if retry_after is not None else {}
    if http == 405:
        headers["Allow"] = "POST"
    if as_json:
        body = orjson.dumps({"code": code, "message": message})
        return web.Response(status=http, body=body, content_type=JSON, headers=headers)
    body = status_pb2.Status(code=code, message=message).SerializeToString()
    return web.Response(status=http, body=body, content_type=PROTOBUF, headers=headers)


def _create(settings: ReceiverSettings, cfg: OtlpReceiverConfig, next_: Consumer) -> OtlpReceiver:
    return OtlpReceiver(settings, cfg, next_)


FACTORY = receiver_factory(
    "otlp",
    OtlpReceiverConfig,
    _create,
    "OTLP traces with GenAI or OpenInference attributes, and logs with GenAI events (gRPC, HTTP protobuf/JSON).",
)
