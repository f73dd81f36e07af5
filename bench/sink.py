"""A fast Sigil backend for benchmarks: accepts every generation (gRPC and HTTP), counts them.

Run: python -m bench.sink --port-file PATH   (writes "<grpc_port> <http_port>" when ready)
GET /count on the HTTP port returns the number of generations received so far.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
import orjson
from aiohttp import web

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def grpc_export(self, request: bytes, context: Any) -> bytes:
        req = pb.ExportGenerationsRequest.FromString(request)
        self.count += len(req.generations)
        resp = pb.ExportGenerationsResponse()
        for g in req.generations:
            resp.results.add(generation_id=g.id, accepted=True)
        return bytes(resp.SerializeToString())

    async def http_export(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        gens = body.get("generations", [])
        self.count += len(gens)
        results = [{"generation_id": g.get("id", ""), "accepted": True} for g in gens]
        return web.Response(status=202, body=orjson.dumps({"results": results}), content_type="application/json")

    async def http_count(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"count": self.count}), content_type="application/json")


async def main(port_file: str) -> None:
    sink = Sink()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    handler = grpc.method_handlers_generic_handler(
        "sigil.v1.GenerationIngestService",
        {"ExportGenerations": grpc.unary_unary_rpc_method_handler(sink.grpc_export)},
    )
    server.add_generic_rpc_handlers((handler,))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/api/v1/generations:export", sink.http_export)
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
