"""Test doubles for backends: a Sigil server (gRPC + HTTP) that records what it receives.

It answers like the real server (per-item results, 202 on HTTP) unless told to fail, so
exporters can be tested against a real socket. Scores (``/api/v1/scores:export``) and ratings
(``/api/v1/conversations/{id}/ratings``) are answered as the March 2026 server answers them:
a duplicate score id is accepted and not stored again, a resent rating id returns the stored
rating or ``409 idempotency conflict``, and with ``score_lookup`` a score for a generation the
fake has not received is rejected with ``generation_id was not found``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import grpc
import orjson
from aiohttp import web

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb


@dataclasses.dataclass
class Received:
    transport: str
    path: str
    headers: dict[str, str]
    body: bytes
    accepted: bool = True  # False when the fake answered with an injected failure


GRPC_MAX_RECEIVE = 16 * 1024 * 1024


class FakeSigilBackend:
    """Records every request; ``reject_ids`` are rejected per item; ``fail_with`` overrides."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.reject_ids: set[str] = set()
        self.http_status: Callable[[int], int | None] = lambda n: None  # n = request number
        self.grpc_status: Callable[[int], grpc.StatusCode | None] = lambda n: None
        self.http_port = 0
        self.grpc_port = 0
        self._runner: web.AppRunner | None = None
        self._server: grpc.aio.Server | None = None
        self.arrived = asyncio.Event()
        self.delay = 0.0  # seconds each gRPC export takes (a slow backend)
        self.score_items: list[dict[str, Any]] = []  # every score stored, as it arrived
        self.rating_items: list[tuple[str, dict[str, Any]]] = []  # (conversation id, body) stored
        self.score_lookup = False  # reject scores whose generation has not arrived

    # -- what arrived -----------------------------------------------------------------------

    def generations(self) -> list[pb.Generation]:
        out: list[pb.Generation] = []
        for r in self.requests:
            if not r.accepted:
                continue
            if r.path.endswith("ExportGenerations"):
                out.extend(pb.ExportGenerationsRequest.FromString(r.body).generations)
            elif r.path.endswith("generations:export"):
                out.extend(_json_generations(r.body))
        return out

    def workflow_steps(self) -> list[pb.WorkflowStep]:
        out: list[pb.WorkflowStep] = []
        for r in self.requests:
            if r.path.endswith("ExportWorkflowSteps"):
                out.extend(pb.ExportWorkflowStepsRequest.FromString(r.body).workflow_steps)
        return out

    async def wait_for_scores(self, n: int, timeout: float = 10.0) -> None:
        async def loop() -> None:
            while len(self.score_items) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(loop(), timeout)

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        async def loop() -> None:
            while len(self.generations()) + len(self.workflow_steps()) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(loop(), timeout)

    # -- servers ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v1/generations:export", self._http)
        app.router.add_post("/api/v1/workflow-steps:export", self._http)
        app.router.add_post("/api/v1/scores:export", self._http_scores)
        app.router.add_post("/api/v1/conversations/{conversation_id}/ratings", self._http_rating)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        # The Sigil server raises grpc-go's 4 MiB receive limit to 16 MiB.
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", GRPC_MAX_RECEIVE)])
        handlers = []
        for package in ("sigil.v1", "agento11y.v1"):
            handlers.append(
                grpc.method_handlers_generic_handler(
                    f"{package}.GenerationIngestService",
                    {"ExportGenerations": grpc.unary_unary_rpc_method_handler(self._grpc_generations)},
                )
            )
            handlers.append(
                grpc.method_handlers_generic_handler(
                    f"{package}.WorkflowStepIngestService",
                    {"ExportWorkflowSteps": grpc.unary_unary_rpc_method_handler(self._grpc_steps)},
                )
            )
        self._server.add_generic_rpc_handlers(tuple(handlers))
        self.grpc_port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            await self._server.stop(0)

    async def _http(self, request: web.Request) -> web.Response:
        body = await request.read()
        n = len(self.requests)
        status = self.http_status(n)
        self.requests.append(Received("http", request.path, dict(request.headers), body, status is None))
        if status is not None:
            return web.Response(status=status, text="injected failure\n", headers={"Retry-After": "0"})
        self.arrived.set()
        items = orjson.loads(body).get("generations", orjson.loads(body).get("workflow_steps", []))
        key = "step_id" if request.path.endswith("workflow-steps:export") else "generation_id"
        results = []
        for it in items:
            gid = it.get("id", "")
            if gid in self.reject_ids:
                results.append({key: gid, "error": "generation already exists"})
            else:
                results.append({key: gid, "accepted": True})
        return web.json_response({"results": results} if results else {}, status=202)

    async def _http_scores(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.http_status(len(self.requests))
        self.requests.append(Received("http", request.path, dict(request.headers), body, status is None))
        if status is not None:
            return web.Response(status=status, text="injected failure\n", headers={"Retry-After": "0"})
        known = {g.id for g in self.generations()}
        stored = {s["score_id"] for s in self.score_items}
        results = []
        for item in orjson.loads(body)["scores"]:
            result: dict[str, Any] = {"score_id": item["score_id"], "accepted": True}
            if self.score_lookup and item.get("generation_id") not in known:
                result = {"score_id": item["score_id"], "accepted": False, "error": "generation_id was not found"}
            elif item["score_id"] not in stored:
                self.score_items.append(item)
                stored.add(item["score_id"])
            results.append(result)
        self.arrived.set()
        return web.Response(
            status=202, body=orjson.dumps({"results": results}) + b"\n", content_type="application/json"
        )

    async def _http_rating(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.http_status(len(self.requests))
        self.requests.append(Received("http", request.path, dict(request.headers), body, status is None))
        if status is not None:
            return web.Response(status=status, text="injected failure\n")
        conversation_id = request.match_info["conversation_id"]
        item = orjson.loads(body)
        for conv, existing in self.rating_items:
            if existing["rating_id"] == item["rating_id"]:
                if (conv, existing) != (conversation_id, item):
                    return web.Response(status=409, text="idempotency conflict\n")
                break
        else:
            self.rating_items.append((conversation_id, item))
        self.arrived.set()
        mine = [r for c, r in self.rating_items if c == conversation_id]
        bad = sum(r["rating"] == "CONVERSATION_RATING_VALUE_BAD" for r in mine)
        stamp = "2026-03-01T00:00:00Z"
        rating = {"rating_id": item["rating_id"], "conversation_id": conversation_id, "rating": item["rating"]}
        summary = {
            "total_count": len(mine),
            "good_count": len(mine) - bad,
            "bad_count": bad,
            "latest_rated_at": stamp,
            "has_bad_rating": bad > 0,
        }
        return web.json_response({"rating": {**rating, "created_at": stamp}, "summary": summary})

    async def _grpc_generations(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if self.delay:
            await asyncio.sleep(self.delay)
        n = len(self.requests)
        status = self.grpc_status(n)
        meta = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        self.requests.append(
            Received("grpc", "/GenerationIngestService/ExportGenerations", meta, request, status is None)
        )
        if status is not None:
            await context.abort(status, "injected failure")
        self.arrived.set()
        req = pb.ExportGenerationsRequest.FromString(request)
        resp = pb.ExportGenerationsResponse()
        for g in req.generations:
            if g.id in self.reject_ids:
                resp.results.add(generation_id=g.id, error="generation already exists")
            else:
                resp.results.add(generation_id=g.id, accepted=True)
        return bytes(resp.SerializeToString())

    async def _grpc_steps(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        meta = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        self.requests.append(Received("grpc", "/WorkflowStepIngestService/ExportWorkflowSteps", meta, request))
        self.arrived.set()
        req = pb.ExportWorkflowStepsRequest.FromString(request)
        resp = pb.ExportWorkflowStepsResponse()
        for s in req.workflow_steps:
            resp.results.add(step_id=s.id, accepted=True)
        return bytes(resp.SerializeToString())


def _json_generations(body: bytes) -> list[pb.Generation]:
    from google.protobuf import json_format

    msg = pb.ExportGenerationsRequest()
    json_format.Parse(body, msg)  # tests only: the reference decoder
    return list(msg.generations)
