"""``otlp`` receiver: OTLP traces carrying GenAI attributes, over gRPC and HTTP.

gRPC ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (sharing the gRPC listener
with the sigil receiver when both name the same endpoint) and HTTP ``POST /v1/traces`` with
``application/x-protobuf`` or ``application/json`` bodies (gzip, zstd or deflate). Spans with
``gen_ai.*`` attributes (the current names and the older ones such as ``gen_ai.system`` and
``gen_ai.usage.prompt_tokens``) become records. Other spans are dropped and counted
(``reason="not_genai"``); the client is told through OTLP's partial success
(``rejected_spans`` + message), which it must not retry. Answers follow the OTLP spec: 200 with
an ``ExportTraceServiceResponse`` in the request's encoding, 400 (``INVALID_ARGUMENT``) with a
``google.rpc.Status`` body naming the problem, 415 for other content types, 413 past the size
limits, 429/503 + ``Retry-After`` (``RESOURCE_EXHAUSTED``/``UNAVAILABLE``) on overload.

.. code-block:: yaml

    receivers:
      otlp:
        grpc: {endpoint: 127.0.0.1:4317}
        http: {endpoint: 127.0.0.1:4318}
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import grpc
import orjson
from aiohttp import web
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway.component import Consumer, Factory, ReceiverSettings
from gateway.config import ByteSize
from gateway.errors import BadInput, ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.formats import otlp
from gateway.listeners import DEFAULT_GRPC_MAX_MESSAGE
from gateway.model import Context, Record
from gateway.processors.memory_limiter import under_pressure
from gateway.receivers._common import deliver
from gateway.receivers._http import BadEncoding, BodyLimits, BodyTooLarge, capture_context, read_body

DEFAULT_GRPC_ENDPOINT = "127.0.0.1:4317"
DEFAULT_HTTP_ENDPOINT = "127.0.0.1:4318"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# gRPC codes as numbers for google.rpc.Status bodies.
_CODE_INVALID_ARGUMENT = 3
_CODE_UNAUTHENTICATED = 16
_CODE_RESOURCE_EXHAUSTED = 8
_CODE_UNAVAILABLE = 14


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpHttpConfig(BodyLimits):
    endpoint: str = DEFAULT_HTTP_ENDPOINT  # host:port; serves POST /v1/traces
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpGrpcConfig:
    endpoint: str = DEFAULT_GRPC_ENDPOINT  # host:port
    max_recv_msg_size: ByteSize = ByteSize(DEFAULT_GRPC_MAX_MESSAGE)  # RESOURCE_EXHAUSTED past it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpReceiverConfig:
    grpc: OtlpGrpcConfig | None = dataclasses.field(default_factory=OtlpGrpcConfig)  # null: off
    http: OtlpHttpConfig | None = dataclasses.field(default_factory=OtlpHttpConfig)  # null: off

    def validate(self) -> list[str]:
        if self.http is None and self.grpc is None:
            return ["at least one of http, grpc must be configured"]
        return []


def _partial(rejected: int) -> ExportTraceServiceResponse:
    resp = ExportTraceServiceResponse()
    if rejected:
        resp.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=rejected,
                error_message=f"{rejected} spans without gen_ai attributes were dropped by the LLM telemetry gateway",
            )
        )
    return resp


class OtlpReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: OtlpReceiverConfig, next_: Consumer) -> None:
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        if cfg.http is not None:
            listener = settings.listeners.http_listener(cfg.http.endpoint)
            listener.add_route("POST", "/v1/traces", self._http, self._id)
        if cfg.grpc is not None:
            g = settings.listeners.grpc_listener(cfg.grpc.endpoint)
            g.max_message_bytes = max(g.max_message_bytes, int(cfg.grpc.max_recv_msg_size))
            g.add_service(TRACE_SERVICE, {"Export": self._grpc}, self._id)

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def _consume(self, request: ExportTraceServiceRequest, ctx: Context) -> ExportTraceServiceResponse:
        records: list[Record]
        records, other = otlp.traces_to_records(request)
        if other:
            self._t.receiver_refused.labels(self._id, ctx.transport, "not_genai").inc(other)
        await deliver(self._next, records, ctx, self._t, self._id)
        return _partial(other)

    # -- gRPC --------------------------------------------------------------------------------

    async def _grpc(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        started = time.monotonic()
        try:
            if under_pressure():
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "memory limit reached; retry later")
            try:
                request = otlp.decode_otlp_protobuf(data)
            except BadInput as exc:
                self._t.receiver_refused.labels(self._id, "grpc", "bad_input").inc()
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            md = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            ctx = Context(receiver=self._id, transport="grpc", tenant=md.get("x-scope-orgid", ""))
            auth = md.get("authorization", "")
            if auth.lower().startswith("bearer "):
                ctx.bearer_token = auth[7:].strip()
            ctx.api_key = md.get("x-api-key", "")
            try:
                response = await self._consume(request, ctx)
            except Unauthenticated as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            except Overloaded as exc:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            except RetryableError as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            except ConsumeError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return bytes(response.SerializeToString())
        finally:
            self._t.receiver_request_duration.labels(self._id, "grpc").observe(time.monotonic() - started)

    # -- HTTP --------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            return await self._handle_http(request)
        finally:
            self._t.receiver_request_duration.labels(self._id, "http").observe(time.monotonic() - started)

    async def _handle_http(self, request: web.Request) -> web.Response:
        assert self._cfg.http is not None
        ctype = request.content_type
        if ctype not in (PROTOBUF, JSON):
            return web.Response(status=415, text=f"unsupported content type {ctype!r}; use {PROTOBUF} or {JSON}")
        as_json = ctype == JSON
        refused = self._t.receiver_refused
        if under_pressure():
            refused.labels(self._id, "http", "overloaded").inc()
            return _status(as_json, 429, _CODE_RESOURCE_EXHAUSTED, "memory limit reached; retry later", 1.0)
        try:
            body = await read_body(request, self._cfg.http)
        except BodyTooLarge as exc:
            refused.labels(self._id, "http", "too_large").inc()
            return _status(as_json, 413, _CODE_INVALID_ARGUMENT, str(exc))
        except BadEncoding as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _status(as_json, 400, _CODE_INVALID_ARGUMENT, str(exc))
        try:
            req = otlp.decode_otlp_json(body) if as_json else otlp.decode_otlp_protobuf(body)
        except BadInput as exc:
            refused.labels(self._id, "http", "bad_input").inc()
            return _status(as_json, 400, _CODE_INVALID_ARGUMENT, str(exc))
        ctx = capture_context(request, self._id, tuple(self._cfg.http.keep_headers))
        try:
            response = await self._consume(req, ctx)
        except Unauthenticated as exc:
            return _status(as_json, 401, _CODE_UNAUTHENTICATED, str(exc))
        except Overloaded as exc:
            return _status(as_json, 429, _CODE_RESOURCE_EXHAUSTED, str(exc), exc.retry_after)
        except RetryableError as exc:
            return _status(as_json, 503, _CODE_UNAVAILABLE, str(exc), exc.retry_after)
        except ConsumeError as exc:
            return _status(as_json, 400, _CODE_INVALID_ARGUMENT, str(exc))
        if as_json:
            body_out = b"{}"
            if response.HasField("partial_success"):
                ps = response.partial_success
                body_out = orjson.dumps(
                    {"partialSuccess": {"rejectedSpans": str(ps.rejected_spans), "errorMessage": ps.error_message}}
                )
            return web.Response(status=200, body=body_out, content_type=JSON)
        return web.Response(status=200, body=response.SerializeToString(), content_type=PROTOBUF)


def _status(as_json: bool, http: int, code: int, message: str, retry_after: float | None = None) -> web.Response:
    """A google.rpc.Status body in the request's encoding (OTLP/HTTP failure responses)."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    if as_json:
        return web.Response(
            status=http, body=orjson.dumps({"code": code, "message": message}), content_type=JSON, headers=headers
        )
    body = status_pb2.Status(code=code, message=message).SerializeToString()
    return web.Response(status=http, body=body, content_type=PROTOBUF, headers=headers)


def _create(settings: ReceiverSettings, cfg: OtlpReceiverConfig, next_: Consumer) -> OtlpReceiver:
    return OtlpReceiver(settings, cfg, next_)


FACTORY = Factory("receiver", "otlp", OtlpReceiverConfig, _create, "OTLP traces with GenAI attributes (gRPC, HTTP).")
