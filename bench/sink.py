"""A fast backend for benchmarks: accepts everything the gateway's exporters send, counts it.

Sigil gRPC (generations), OTLP gRPC and HTTP (spans; metric requests are accepted and not
counted), Foglamp ``POST /ingest`` (spans), LumiqTrace ``POST /v1/ingest`` (events, gzip).
HTTP bodies may be gzip or zstd (``Content-Encoding``).

Run: python -m bench.sink --port-file PATH   (writes "<grpc_port> <http_port>" when ready)
GET /count on the HTTP port returns the number of items received so far.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
from typing import Any

import grpc
import orjson
import zstandard
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb


async def _read(request: web.Request) -> bytes:
    """The request body, inflated (aiohttp's own inflating knows no zstd without another package)."""
    data = await request.read()
    encoding = request.headers.get("Content-Encoding", "")
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def sigil_grpc(self, request: bytes, context: Any) -> bytes:
        req = pb.ExportGenerationsRequest.FromString(request)
        self.count += len(req.generations)
        resp = pb.ExportGenerationsResponse()
        for g in req.generations:
            resp.results.add(generation_id=g.id, accepted=True)
        return bytes(resp.SerializeToString())

    def _spans(self, data: bytes) -> int:
        req = ExportTraceServiceRequest.FromString(data)
        return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)

    async def otlp_traces_grpc(self, request: bytes, context: Any) -> bytes:
        self.count += self._spans(request)
        return bytes(ExportTraceServiceResponse().SerializeToString())

    async def otlp_metrics_grpc(self, request: bytes, context: Any) -> bytes:
        return b""

    async def sigil_http(self, request: web.Request) -> web.Response:
        body = orjson.loads(await _read(request))
        gens = body.get("generations", [])
        self.count += len(gens)
        results = [{"generation_id": g.get("id", ""), "accepted": True} for g in gens]
        return web.Response(status=202, body=orjson.dumps({"results": results}), content_type="application/json")

    async def otlp_traces_http(self, request: web.Request) -> web.Response:
        self.count += self._spans(await _read(request))
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    async def otlp_metrics_http(self, request: web.Request) -> web.Response:
        await _read(request)
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    async def foglamp(self, request: web.Request) -> web.Response:
        body = orjson.loads(await _read(request))
        n = sum(len(t["spans"]) for t in body["traces"])
        self.count += n
        return web.Response(status=202, body=orjson.dumps({"accepted": n}), content_type="application/json")

    async def lumiq(self, request: web.Request) -> web.Response:
        data = await _read(request)
        n = data.count(b"\n") + 1 if data.strip() else 0
        self.count += n
        return web.Response(status=202, body=orjson.dumps({"accepted": n}), content_type="application/json")

    async def http_count(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"count": self.count}), content_type="application/json")


async def main(port_file: str) -> None:
    sink = Sink()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    services = {
        "sigil.v1.GenerationIngestService": {"ExportGenerations": sink.sigil_grpc},
        "opentelemetry.proto.collector.trace.v1.TraceService": {"Export": sink.otlp_traces_grpc},
        "opentelemetry.proto.collector.metrics.v1.MetricsService": {"Export": sink.otlp_metrics_grpc},
    }
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(
                name, {m: grpc.unary_unary_rpc_method_handler(fn) for m, fn in methods.items()}
            )
            for name, methods in services.items()
        )
    )
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = web.Application(client_max_size=256 * 1024 * 1024, handler_args={"auto_decompress": False})
    app.router.add_post("/api/v1/generations:export", sink.sigil_http)
    app.router.add_post("/v1/traces", sink.otlp_traces_http)
    app.router.add_post("/v1/metrics", sink.otlp_metrics_http)
    app.router.add_post("/ingest", sink.foglamp)
    app.router.add_post("/v1/ingest", sink.lumiq)
    app.router.add_get("/count", sink.http_count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    with open(port_file, "w") as fh:
        fh.write(f"{grpc_port} {http_port}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    asyncio.run(main(parser.parse_args().port_file))
