"""A fake OTLP collector (gRPC TraceService/MetricsService and HTTP /v1/traces, /v1/metrics) that
records every request as it arrived and decodes it with ``opentelemetry-proto`` alone.

It answers like a collector (an empty ``Export*ServiceResponse``) unless told otherwise:
``respond`` returns an injected answer for the n-th request of a signal. OTLP/JSON bodies are
decoded independently of the gateway's own decoder: hex ids are turned into base64 and the rest
is read by ``json_format`` (which accepts integer enums and 64-bit integers as strings).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
from collections.abc import Callable
from typing import Any

import grpc
import orjson
import zstandard
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


@dataclasses.dataclass
class Answer:
    """An injected answer: an HTTP status (with headers and body) or a gRPC code (with trailers)."""

    http_status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | None = None  # None: an empty Export*ServiceResponse in the request's encoding
    grpc_code: grpc.StatusCode | None = None
    trailers: tuple[tuple[str, bytes | str], ...] = ()


@dataclasses.dataclass
class Request:
    signal: str  # "traces" or "metrics"
    transport: str  # "http" or "grpc"
    headers: dict[str, str]  # lower-cased names
    raw: bytes  # the body as it came over the wire (still compressed, for HTTP)
    data: bytes  # decompressed
    content_type: str
    answered: int | str  # HTTP status or gRPC code name

    def decode(self) -> ExportTraceServiceRequest | ExportMetricsServiceRequest:
        cls = ExportTraceServiceRequest if self.signal == "traces" else ExportMetricsServiceRequest
        message = cls()
        if self.content_type == "application/json":
            parse_otlp_json(self.data, message)
        else:
            message.ParseFromString(self.data)
        return message


def parse_otlp_json(data: bytes, message: Message) -> None:
    """OTLP/JSON → protobuf without the gateway's decoder: hex ids become base64 first."""

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _ID_KEYS and isinstance(v, str) else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(item) for item in node]
        return node

    json_format.ParseDict(fix(orjson.loads(data)), message)


def decompress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert encoding in ("", "identity"), encoding
    return data


class FakeOtlpCollector:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        # (signal, n-th request of that signal) -> an answer, or None for a normal one.
        self.respond: Callable[[str, int], Answer | None] = lambda signal, n: None
        self.http_port = 0
        self.grpc_port = 0
        self._runner: web.AppRunner | None = None
        self._server: grpc.aio.Server | None = None
        self._arrived = asyncio.Event()

    # -- what arrived -------------------------------------------------------------------------

    def accepted(self, signal: str) -> list[Request]:
        return [r for r in self.requests if r.signal == signal and r.answered in (200, "OK")]

    def spans(self) -> list[tuple[Resource, InstrumentationScope, Span]]:
        out: list[tuple[Resource, InstrumentationScope, Span]] = []
        for r in self.accepted("traces"):
            request = r.decode()
            assert isinstance(request, ExportTraceServiceRequest)
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    out.extend((rs.resource, ss.scope, span) for span in ss.spans)
        return out

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        out = []
        for r in self.accepted("metrics"):
            request = r.decode()
            assert isinstance(request, ExportMetricsServiceRequest)
            out.append(request)
        return out

    async def wait(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        async def loop() -> None:
            while not done():
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(loop(), timeout)

    async def wait_for_spans(self, n: int) -> None:
        await self.wait(lambda: len(self.spans()) >= n)

    # -- servers ------------------------------------------------------------------------------

    async def start(self) -> None:
        # The raw body is kept, so the client's compression can be checked.
        app = web.Application(client_max_size=256 * 1024 * 1024, handler_args={"auto_decompress": False})
        app.router.add_post("/v1/traces", self._http_traces)
        app.router.add_post("/v1/metrics", self._http_metrics)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._grpc_traces)}
                ),
                grpc.method_handlers_generic_handler(
                    METRICS_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._grpc_metrics)}
                ),
            )
        )
        self.grpc_port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            await self._server.stop(0)

    def _answer(self, signal: str) -> Answer | None:
        return self.respond(signal, sum(1 for r in self.requests if r.signal == signal))

    async def _http_traces(self, request: web.Request) -> web.Response:
        return await self._http(request, "traces", ExportTraceServiceResponse())

    async def _http_metrics(self, request: web.Request) -> web.Response:
        return await self._http(request, "metrics", ExportMetricsServiceResponse())

    async def _http(self, request: web.Request, signal: str, empty: Message) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        data = decompress(raw, headers.get("content-encoding", ""))
        answer = self._answer(signal) or Answer()
        self.requests.append(Request(signal, "http", headers, raw, data, request.content_type, answer.http_status))
        self._arrived.set()
        if answer.body is not None:
            body = answer.body
        elif request.content_type == "application/json":
            body = b"{}"
        else:
            body = empty.SerializeToString()
        return web.Response(
            status=answer.http_status, body=body, content_type=request.content_type, headers=answer.headers
        )

    async def _grpc_traces(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return await self._grpc(data, context, "traces", ExportTraceServiceResponse())

    async def _grpc_metrics(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return await self._grpc(data, context, "metrics", ExportMetricsServiceResponse())

    async def _grpc(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any], signal: str, empty: Message
    ) -> bytes:
        headers = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        answer = self._answer(signal) or Answer()
        code = answer.grpc_code
        self.requests.append(
            Request(signal, "grpc", headers, data, data, "application/x-protobuf", code.name if code else "OK")
        )
        self._arrived.set()
        if code is not None:
            if answer.trailers:
                context.set_trailing_metadata(answer.trailers)
            await context.abort(code, "injected failure")
        return answer.body if answer.body is not None else bytes(empty.SerializeToString())
