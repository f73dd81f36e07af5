"""A fake OpenAI Chat Completions and Anthropic Messages server on loopback, for tests that drive
the real ``openai`` and ``anthropic`` clients (and the instrumentation packages wrapped around them).

``POST /v1/chat/completions`` answers with one tool call (``get_weather``), cached and reasoning
token counts; model ``rate-limited`` gets OpenAI's 429 error body. ``POST /v1/messages`` answers
the same tool call in Anthropic's shape, with cache read and cache creation counts. Requests are
kept in :attr:`FakeOpenAI.requests`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

TOOL_ARGUMENTS = '{"city":"Paris"}'
RESPONSE_MODEL = "gpt-4o-2024-08-06"
RATE_LIMITED_MODEL = "rate-limited"
USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 50,
    "total_tokens": 1050,
    "prompt_tokens_details": {"cached_tokens": 900},
    "completion_tokens_details": {"reasoning_tokens": 20},
}

ANTHROPIC_RESPONSE_MODEL = "claude-sonnet-4-5-20250929"
# Anthropic's input_tokens exclude the cache counts.
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "output_tokens": 40,
    "cache_read_input_tokens": 900,
    "cache_creation_input_tokens": 50,
}


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("model") == RATE_LIMITED_MODEL:
            error = {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit_exceeded"}
            return web.json_response({"error": error}, status=429)
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS}}
            ],
        }
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1795424400,
                "model": RESPONSE_MODEL,
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls", "logprobs": None}],
                "usage": USAGE,
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("model") == RATE_LIMITED_MODEL:
            error = {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your rate limit"}
            return web.json_response({"type": "error", "error": error}, status=429)
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": ANTHROPIC_RESPONSE_MODEL,
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": ANTHROPIC_USAGE,
            }
        )
