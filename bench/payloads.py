"""Realistic Sigil generations for load tests: ~1.8 KB of protojson each."""

from __future__ import annotations

import random
from typing import Any

_TEXT = (
    "the weather in paris is mild today with light wind from the west and a chance of rain "
    "later please summarise the quarterly report focusing on revenue growth churn and hiring"
)
_WORDS = tuple(_TEXT.split(" "))


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def generation(i: int, rng: random.Random | None = None) -> dict[str, Any]:
    rng = rng or random.Random(i)
    return {
        "id": f"gen_{i:016x}",
        "conversation_id": f"conv-{i % 997}",
        "operation_name": "generateText",
        "mode": "GENERATION_MODE_SYNC",
        "trace_id": f"{rng.getrandbits(128):032x}",
        "span_id": f"{rng.getrandbits(64):016x}",
        "model": {"provider": "openai", "name": "gpt-4o"},
        "response_id": f"chatcmpl-{i}",
        "response_model": "gpt-4o-2024-08-06",
        "system_prompt": "You are a helpful assistant. " + _text(rng, 20),
        "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": _text(rng, 80)}]}],
        "output": [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": _text(rng, 110)}]}],
        "usage": {
            "input_tokens": "812",
            "output_tokens": "143",
            "total_tokens": "955",
            "cache_read_input_tokens": "512",
        },
        "stop_reason": "stop",
        "started_at": "2026-11-23T09:00:00.125Z",
        "completed_at": "2026-11-23T09:00:01.900Z",
        "tags": {"env": "bench", "team": "platform"},
        "metadata": {"sigil.sdk.name": "sdk-python", "request_id": f"req-{i}"},
        "agent_name": "bench-agent",
        "agent_version": "1.0.0",
        "temperature": 0.2,
        "max_tokens": "1024",
    }


def request_body(start: int, n: int) -> bytes:
    import orjson

    return orjson.dumps({"generations": [generation(start + k) for k in range(n)]})
