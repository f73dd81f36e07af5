"""Fake judge providers on loopback: an OpenAI-compatible ``/chat/completions`` and an
Anthropic-compatible ``/v1/messages`` server that answer what the test scripts.

``statuses`` are the HTTP statuses of the first requests (then ``status``); ``text`` is the judge's
answer; ``garbage`` answers 200 with a body that is not JSON; ``hang`` holds every request until
the test calls :meth:`release` (a slow judge, without a sleep in the test).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
from aiohttp import web


@dataclasses.dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeJudge:
    def __init__(self, api: str = "openai", text: str = '{"score": 8, "explanation": "clear and correct"}') -> None:
        self.api = api
        self.text = text
        self.statuses: list[int] = []
        self.status = 200  # of every request past ``statuses``
        self.garbage = False
        self.hang = False
        self.requests: list[Seen] = []
        self.usage = (120, 14, 100)  # input, output, cache read
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.api == "openai" else root

    def release(self) -> None:
        self._released.set()

    async def start(self) -> None:
        app = web.Application()
        path = "/v1/chat/completions" if self.api == "openai" else "/v1/messages"
        app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        n = len(self.requests)
        self.requests.append(Seen(request.path, dict(request.headers), orjson.loads(await request.read())))
        if self.hang:
            await self._released.wait()
        status = self.statuses[n] if n < len(self.statuses) else self.status
        if status != 200:
            return web.Response(status=status, text="overloaded", headers={"Retry-After": "0"})
        if self.garbage:
            return web.Response(status=200, text="<html>proxy error</html>", content_type="text/html")
        inp, out, cached = self.usage
        if self.api == "openai":
            body: dict[str, Any] = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": inp,
                    "completion_tokens": out,
                    "total_tokens": inp + out,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            }
        else:
            body = {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": self.text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": cached},
            }
        return web.json_response(body)
