"""Test doubles for the Foglamp and LumiqTrace backends: real HTTP servers that check what the
real services check and record what they accepted.

* :class:`FakeFoglamp` runs the gateway's own Foglamp contract (``decode_ingest``, the zod
  rules) on every body, so a body the exporter sends that Foglamp would refuse fails the test
  with the 400 Foglamp would give. Keys are checked like Foglamp does (Bearer first, then
  ``x-api-key``).
* :class:`FakeLumiqTrace` inflates gzip, splits NDJSON, enforces 100 events and the field
  schema (``decode_ndjson``), and deduplicates by ``event_id`` as LumiqTrace promises.

Both answer with the services' bodies and let a test inject a failure per request number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf


@dataclasses.dataclass
class Reply:
    """An injected answer: status, JSON body, headers; ``store`` keeps the data anyway (as a
    server that stored the batch and then failed to answer would)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    store: bool = False


@dataclasses.dataclass
class Request:
    headers: dict[str, str]
    body: bytes  # as it arrived (compressed if it was)
    status: int  # what the fake answered


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


class _Server:
    path = ""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.requests: list[Request] = []
        self.inject: Callable[[int], Reply | None] = lambda n: None  # n = request number, from 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # The bodies as sent: the fakes inflate what their service inflates, nothing else.
        app = web.Application(client_max_size=64 * 1024 * 1024, handler_args={"auto_decompress": False})
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        async def loop() -> None:
            while not done():
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(loop(), timeout)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        response = self.answer(request, body)
        self.requests.append(Request(dict(request.headers), body, response.status))
        self._arrived.set()
        return response

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        raise NotImplementedError


class FakeFoglamp(_Server):
    """Foglamp's ``POST /ingest``: auth, JSON, the strict contract, then 202 ``{"accepted": N}``."""

    path = "/ingest"

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__(keys if keys is not None else {"fl_test"})
        self.bodies: list[dict[str, Any]] = []  # every accepted body, parsed

    def spans(self) -> list[dict[str, Any]]:
        """Every accepted span, its trace's fields beside it under ``"trace"``."""
        out: list[dict[str, Any]] = []
        for body in self.bodies:
            for trace in body["traces"]:
                envelope = {k: v for k, v in trace.items() if k != "spans"}
                out.extend({**span, "trace": envelope} for span in trace["spans"])
        return out

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        await self._wait(lambda: len(self.spans()) >= n, timeout)

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        key = value.strip() if scheme.lower() == "bearer" and value.strip() else request.headers.get("x-api-key", "")
        if not key:
            return _json(401, {"error": "missing API key"})
        if key not in self.keys:
            return _json(401, {"error": "invalid or revoked API key"})
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(400, {"error": "invalid JSON body"})
        try:
            ff.decode_ingest(obj)
        except ff.FoglampValidationError as exc:
            return _json(400, {"error": "invalid payload", "issues": exc.issues[:20]})
        injected = self.inject(len(self.requests))
        if injected is not None and not injected.store:
            return _json(injected.status, injected.body, injected.headers)
        self.bodies.append(obj)
        if injected is not None:
            return _json(injected.status, injected.body, injected.headers)
        return _json(202, {"accepted": ff.count_spans(obj)})


class FakeLumiqTrace(_Server):
    """LumiqTrace's ``POST /v1/ingest``: key, gzip NDJSON, ≤100 events, dedup by ``event_id``."""

    path = "/v1/ingest"

    def __init__(self, keys: set[str] | None = None) -> None:
        super().__init__(keys if keys is not None else {"lqt_test"})
        self.stored: dict[str, dict[str, Any]] = {}  # event_id -> the first copy (events are immutable)
        self.duplicates = 0  # events that arrived again with a stored event_id

    def events(self) -> list[dict[str, Any]]:
        return list(self.stored.values())

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        await self._wait(lambda: len(self.stored) >= n, timeout)

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        if request.headers.get("x-api-key", "") not in self.keys:
            return _json(401, {"error": "Invalid API key"})
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return _json(400, {"error": "invalid gzip body"})
        try:
            lf.decode_ndjson(body, max_events=lf.MAX_EVENTS)
        except lf.LumiqValidationError as exc:
            return _json(400, {"error": str(exc)})
        lines = [orjson.loads(line) for line in body.split(b"\n") if line.strip()]
        injected = self.inject(len(self.requests))
        if injected is not None and not injected.store:
            return _json(injected.status, injected.body, injected.headers)
        for event in lines:
            if event["event_id"] in self.stored:
                self.duplicates += 1
            else:
                self.stored[event["event_id"]] = event
        if injected is not None:
            return _json(injected.status, injected.body, injected.headers)
        return _json(202, {"accepted": len(lines)})
