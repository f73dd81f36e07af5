"""Judge providers for ``llm_judge`` evaluators: one HTTP client per provider declared in the config.

Two API dialects cover the judges people run: ``openai`` (``POST {base_url}/chat/completions``,
``Authorization: Bearer``; OpenAI, Azure-style proxies, vLLM, Ollama, LiteLLM, OpenRouter, …)
and ``anthropic`` (``POST {base_url}/v1/messages``, ``x-api-key`` and ``anthropic-version``).
``base_url`` follows each vendor's SDK convention: OpenAI's includes ``/v1``
(``https://api.openai.com/v1``), Anthropic's does not (``https://api.anthropic.com``).

Each provider has its own bounds: at most ``max_concurrency`` calls in flight, at most
``requests_per_minute`` started (a token bucket: callers wait for a token rather than being
refused by the vendor), and at most ``max_retries`` retries of a retryable failure (connection
error, timeout, 408, 429, 5xx; exponential backoff from ``retry_backoff`` with jitter, honouring
``Retry-After`` up to ``MAX_RETRY_AFTER``). Anything else (401, 404, a 200 that is not the
dialect's JSON) fails at once: retrying cannot help.

Errors: :class:`JudgeError` (``retryable`` says whether the last attempt could have been
retried), :class:`JudgeTimeout` (every attempt ran out of time) is a subclass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from typing import Any, Literal

import aiohttp
import orjson

from gateway.exporters._pacing import TokenBucket
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_REQUESTS_PER_MINUTE = 60
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 1.0
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is capped, the budget per call stays bounded
ANTHROPIC_VERSION = "2023-06-01"
MAX_RESPONSE_BYTES = 1024 * 1024  # a judge's answer is a few hundred bytes; refuse a runaway body
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# What GET /api/v1/judge-providers reports as the provider's ``type``.
PROVIDER_TYPES = {"openai": "openai_compat", "anthropic": "anthropic_compat"}
# The vendor name genai-prices knows each dialect's models under (cost in metrics).
PRICE_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JudgeProviderConfig:
    id: str  # what llm_judge configs name as their provider (openai, anthropic, local, ...)
    api: Literal["openai", "anthropic"] = "openai"  # the HTTP dialect the endpoint speaks
    name: str = ""  # display name in GET /api/v1/judge-providers; "" = the id
    base_url: str  # e.g. https://api.openai.com/v1 or https://api.anthropic.com
    api_key: str = ""  # use ${env:NAME}; sent as Bearer (openai) or x-api-key (anthropic)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY  # judge calls in flight at once
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE  # calls started per minute; 0 = no limit
    max_retries: int = DEFAULT_MAX_RETRIES  # retries of a retryable failure per judgment
    retry_backoff: Duration = Duration(DEFAULT_RETRY_BACKOFF)  # first retry delay, doubled each time
    price_as: str = ""  # vendor name for the cost metric; "" = openai or anthropic by api

    def validate(self) -> list[str]:
        problems = []
        if not self.id.strip():
            problems.append("id: must not be empty")
        if not self.base_url.startswith(("http://", "https://")):
            problems.append("base_url: must start with http:// or https://")
        if self.max_concurrency < 1:
            problems.append("max_concurrency: must be at least 1")
        if self.requests_per_minute < 0:
            problems.append("requests_per_minute: must be 0 (no limit) or more")
        if self.max_retries < 0:
            problems.append("max_retries: must be 0 or more")
        return problems


@dataclasses.dataclass(frozen=True, slots=True)
class JudgeRequest:
    model: str
    system_prompt: str
    user_prompt: str
    max_tokens: int
    temperature: float
    timeout: float  # seconds per attempt


@dataclasses.dataclass(frozen=True, slots=True)
class JudgeResponse:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    latency_ms: float = 0.0  # of the attempt that answered
    attempts: int = 1


class JudgeError(Exception):
    """The judge gave no usable answer; ``attempts`` calls were made."""

    def __init__(self, message: str, *, retryable: bool, attempts: int = 1, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.attempts = attempts
        self.retry_after = retry_after


class JudgeTimeout(JudgeError):
    """Every attempt ran past the evaluator's ``timeout_ms``."""


class JudgeClient:
    """One provider: a session, a concurrency bound, a start-rate bucket and bounded retries."""

    def __init__(self, cfg: JudgeProviderConfig) -> None:
        self.cfg = cfg
        self.price_provider = cfg.price_as or PRICE_PROVIDERS[cfg.api]
        self._slots = asyncio.Semaphore(cfg.max_concurrency)
        rate = cfg.requests_per_minute / 60.0
        self._bucket = TokenBucket(rate, max(1.0, rate)) if cfg.requests_per_minute else None
        self._session: aiohttp.ClientSession | None = None

    def info(self) -> dict[str, str]:
        """The provider as Sigil's judge discovery lists it."""
        return {"id": self.cfg.id, "name": self.cfg.name or self.cfg.id, "type": PROVIDER_TYPES[self.cfg.api]}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def judge(self, req: JudgeRequest) -> JudgeResponse:
        """The judge's answer, retried within the provider's bounds; raises JudgeError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    if self._bucket is not None:
                        await self._bucket.take(1)
                    response = await self._once(req)
                return dataclasses.replace(response, attempts=attempt)
            except JudgeError as exc:
                exc.attempts = attempt
                if not exc.retryable or attempt > self.cfg.max_retries:
                    raise
                delay = float(self.cfg.retry_backoff) * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
                await asyncio.sleep(delay)

    async def _once(self, req: JudgeRequest) -> JudgeResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url, headers, body = self._request(req)
        started = time.monotonic()
        try:
            async with asyncio.timeout(req.timeout):
                async with self._session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                    raw = await _read_bounded(resp)
                    status = resp.status
                    retry_after = _retry_after(resp.headers.get("Retry-After", ""))
        except TimeoutError:
            raise JudgeTimeout(f"judge call timed out after {req.timeout:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise JudgeError(f"judge call failed: {exc or type(exc).__name__}", retryable=True) from None
        latency = (time.monotonic() - started) * 1000
        if status >= 300:
            snippet = raw[:200].decode("utf-8", "replace").strip()
            raise JudgeError(
                f"judge answered HTTP {status}: {snippet}",
                retryable=status in _RETRYABLE_STATUS,
                retry_after=retry_after,
            )
        if len(raw) > MAX_RESPONSE_BYTES:
            raise JudgeError(f"judge response exceeds {MAX_RESPONSE_BYTES} bytes", retryable=False)
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise JudgeError("judge response is not JSON", retryable=False) from None
        if not isinstance(payload, dict):
            raise JudgeError("judge response is not a JSON object", retryable=False)
        parse = _parse_anthropic if self.cfg.api == "anthropic" else _parse_openai
        return dataclasses.replace(parse(payload), latency_ms=round(latency, 3))

    def _request(self, req: JudgeRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        base = self.cfg.base_url.rstrip("/")
        headers = {"Content-Type": "application/json"}
        if self.cfg.api == "anthropic":
            if self.cfg.api_key:
                headers["x-api-key"] = self.cfg.api_key
            headers["anthropic-version"] = ANTHROPIC_VERSION
            body: dict[str, Any] = {
                "model": req.model,
                "max_tokens": req.max_tokens,
                "temperature": req.temperature,
                "messages": [{"role": "user", "content": req.user_prompt}],
            }
            if req.system_prompt:
                body["system"] = req.system_prompt
            return f"{base}/v1/messages", headers, body
        if self.cfg.api_key:
            headers["Authorization"] = f"Bearer {self.cfg.api_key}"
        messages = [{"role": "user", "content": req.user_prompt}]
        if req.system_prompt:
            messages.insert(0, {"role": "system", "content": req.system_prompt})
        body = {"model": req.model, "messages": messages, "max_tokens": req.max_tokens, "temperature": req.temperature}
        return f"{base}/chat/completions", headers, body


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes:
    """The body, or its first MAX_RESPONSE_BYTES + 1 bytes when it is longer."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


def _retry_after(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _parse_openai(payload: dict[str, Any]) -> JudgeResponse:
    choices = payload.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some compatible servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if not isinstance(content, str):
        raise JudgeError("judge response has no choices[0].message.content", retryable=False)
    usage = _dict(payload.get("usage"))
    details = _dict(usage.get("prompt_tokens_details"))
    return JudgeResponse(
        content,
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cache_read_tokens=_int(details.get("cached_tokens")),
    )


def _parse_anthropic(payload: dict[str, Any]) -> JudgeResponse:
    blocks = payload.get("content")
    if not isinstance(blocks, list):
        raise JudgeError("judge response has no content blocks", retryable=False)
    text = "".join(
        b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )
    usage = _dict(payload.get("usage"))
    return JudgeResponse(
        text,
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
    )
