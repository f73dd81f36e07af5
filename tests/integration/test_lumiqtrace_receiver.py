"""The lumiqtrace receiver on real sockets: statuses and exact bodies for good and bad NDJSON.

Every refusal is followed by a good request, so each case also shows the gateway still serves.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import zstandard

from gateway.processors.memory_limiter import MemoryLimiter
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.jsonl import complete_lines

KEY = "lqt_good"
REQUIRED = (
    "event_id",
    "trace_id",
    "span_id",
    "timestamp",
    "provider",
    "model",
    "operation",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "stream",
    "environment",
    "sdk_version",
)


def event(n: int = 1, **changes: Any) -> dict[str, Any]:
    """The docs' example event with a distinct id; a value of ``...`` removes the key."""
    out: dict[str, Any] = {
        "event_id": f"550e8400-e29b-41d4-a716-{n:012d}",
        "trace_id": "trace-abc",
        "span_id": f"span-{n}",
        "timestamp": "2026-04-20T10:00:00.000Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "latency_ms": 843,
        "input_tokens": 512,
        "output_tokens": 128,
        "cost_usd": 0.0034,
        "status": "success",
        "stream": False,
        "environment": "production",
        "sdk_version": "1.4.2",
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not ...}


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in (events or (event(),)))


def _config(
    tmp_path: Path, *, auth: bool = False, batch: dict[str, Any] | None = None, limiter: bool = False
) -> dict[str, Any]:
    processors: dict[str, Any] = {}
    if limiter:  # checked once at start (then hourly): the test drives it with check()
        processors["memory_limiter"] = {"limit_mib": 100_000, "check_interval": "1h"}
    if auth:
        processors["auth"] = {"api_keys": [{"key": KEY, "tenant": "team-a"}]}
    if batch is not None:
        processors["batch"] = batch
    return {
        "receivers": {
            "lumiqtrace": {
                "endpoint": "127.0.0.1:0",
                "max_body_bytes": "256KiB",
                "max_decompressed_bytes": "1MiB",
            }
        },
        "processors": processors,
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl"), "sending_queue": {"enabled": False}}},
        "service": {
            "pipelines": {"p": {"receivers": ["lumiqtrace"], "processors": list(processors), "exporters": ["file"]}}
        },
    }


class Client:
    def __init__(self, service: Service, session: aiohttp.ClientSession, out: Path) -> None:
        self.service = service
        self.url = f"http://127.0.0.1:{http_port(service)}/v1/ingest"
        self.session = session
        self.out = out

    async def post(
        self, data: bytes, headers: dict[str, str] | None = None, *, gzipped: bool = True
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"x-api-key": KEY, "Content-Type": "application/x-ndjson"} if headers is None else dict(headers)
        if gzipped:
            data = gzip.compress(data)
            sent["Content-Encoding"] = "gzip"
        async with self.session.post(self.url, data=io.BytesIO(data), headers=sent) as resp:
            return resp.status, orjson.loads(await resp.read()), dict(resp.headers)

    def records(self) -> list[dict[str, Any]]:
        return complete_lines(self.out)

    async def still_serving(self) -> None:
        before = len(self.records())
        n = 10_000 + before  # ids never used by a test case, so never a duplicate
        status, answer, _ = await self.post(ndjson(event(n), event(n + 1)))
        assert (status, answer) == (202, {"accepted": 2})
        assert len(self.records()) == before + 2

    def refused(self, reason: str) -> float:
        labels = {"receiver": "lumiqtrace", "transport": "http", "reason": reason}
        name = (
            "gateway_receiver_ignored_records_total"
            if reason == "duplicate"
            else "gateway_receiver_refused_records_total"
        )
        value = self.service.telemetry.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
async def client(start_gateway: StartGateway, tmp_path: Path) -> AsyncIterator[Client]:
    service = await start_gateway(_config(tmp_path))
    async with aiohttp.ClientSession() as session:
        yield Client(service, session, tmp_path / "out.jsonl")


@pytest.fixture
async def authed(start_gateway: StartGateway, tmp_path: Path) -> AsyncIterator[Client]:
    service = await start_gateway(_config(tmp_path, auth=True))
    async with aiohttp.ClientSession() as session:
        yield Client(service, session, tmp_path / "out.jsonl")


# -- success ------------------------------------------------------------------------------------


async def test_the_docs_example_is_accepted_and_every_event_arrives(client: Client) -> None:
    example = Path(__file__).parent.parent / "testdata" / "lumiqtrace" / "every_field.ndjson"
    data = example.read_bytes()
    status, answer, headers = await client.post(data)
    assert (status, answer) == (202, {"accepted": 8})
    assert headers["Content-Type"].startswith("application/json")
    records = client.records()
    assert [r["id"] for r in records] == [orjson.loads(line)["event_id"] for line in data.splitlines()]
    assert records[2]["extra"] == {
        "lumiqtrace.span_kind": "llm",
        "lumiqtrace.unknown.region": "eu-west-1",  # unknown keys are accepted and kept
        "lumiqtrace.unknown.x_debug": {"retries": [1, 2]},
    }


@pytest.mark.parametrize("encoding", ["identity", "zstd", "deflate"])
async def test_plain_and_other_encodings_are_accepted(client: Client, encoding: str) -> None:
    compress: dict[str, Callable[[bytes], bytes]] = {
        "identity": lambda b: b,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }
    headers = {"x-api-key": KEY, "Content-Encoding": encoding}
    data = compress[encoding](ndjson(event(1), event(2)))
    assert (await client.post(data, headers, gzipped=False))[:2] == (202, {"accepted": 2})


async def test_blank_lines_and_a_trailing_newline_are_skipped(client: Client) -> None:
    data = b"\n" + orjson.dumps(event(1)) + b"\n\n  \r\n" + orjson.dumps(event(2)) + b"\n"
    assert (await client.post(data))[:2] == (202, {"accepted": 2})
    # Blank lines count in the line numbers of errors, so a client can find the line.
    assert (await client.post(b"\n\n" + orjson.dumps(event(3, model=...))))[:2] == (
        400,
        {"error": 'line 3: missing required field "model"'},
    )


async def test_exactly_100_events_are_accepted(client: Client) -> None:
    assert (await client.post(ndjson(*(event(i) for i in range(100)))))[:2] == (202, {"accepted": 100})


# -- 400 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", REQUIRED)
async def test_each_missing_required_field_is_named(client: Client, field: str) -> None:
    data = ndjson(event(1), event(2, **{field: ...}))
    assert (await client.post(data))[:2] == (400, {"error": f'line 2: missing required field "{field}"'})
    assert client.records() == []  # the whole batch is refused
    await client.still_serving()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": None}, 'line 1: field "model" must be a string'),  # null is no value, not absence
        ({"event_id": ""}, 'line 1: field "event_id" must be a non-empty string'),
        ({"trace_id": 7}, 'line 1: field "trace_id" must be a non-empty string'),
        ({"model": ["gpt-4o"]}, 'line 1: field "model" must be a string'),
        ({"timestamp": "yesterday"}, 'line 1: field "timestamp" must be an ISO 8601 timestamp'),
        ({"timestamp": 1776679200000}, 'line 1: field "timestamp" must be an ISO 8601 timestamp'),
        ({"provider": "azure"}, 'line 1: field "provider" must be one of openai, anthropic, google, custom'),
        (
            {"operation": "completion"},
            'line 1: field "operation" must be one of chat, embed, image, tts, tool, agent, custom',
        ),
        ({"latency_ms": "843"}, 'line 1: field "latency_ms" must be a number'),
        ({"latency_ms": -1}, 'line 1: field "latency_ms" must be a non-negative number'),
        ({"ttft_ms": True}, 'line 1: field "ttft_ms" must be a number'),
        ({"input_tokens": 1.5}, 'line 1: field "input_tokens" must be a non-negative integer'),
        ({"output_tokens": -3}, 'line 1: field "output_tokens" must be a non-negative integer'),
        ({"cached_tokens": "9"}, 'line 1: field "cached_tokens" must be a number'),
        ({"cost_usd": "0.1"}, 'line 1: field "cost_usd" must be a number'),
        ({"status": "ok"}, 'line 1: field "status" must be one of success, error, timeout, rate_limited, cancelled'),
        ({"stream": "false"}, 'line 1: field "stream" must be a boolean'),
        ({"stream": 0}, 'line 1: field "stream" must be a boolean'),
        ({"environment": 1}, 'line 1: field "environment" must be a string'),
        ({"tags": {"team": 1}}, 'line 1: field "tags" must be an object of strings'),
        ({"tags": ["a"]}, 'line 1: field "tags" must be an object of strings'),
        ({"tools_used": "search"}, 'line 1: field "tools_used" must be an array of strings'),
        ({"eval_scores": {"f": "high"}}, 'line 1: field "eval_scores" must be an object of numbers'),
        (
            {"span_kind": "chain"},
            'line 1: field "span_kind" must be one of llm, agent, tool, planning, handoff, '
            "retriever, guardrail, general",
        ),
        ({"sdk_version": None}, 'line 1: field "sdk_version" must be a string'),
        ({"parent_span_id": None, "latency_ms": "1"}, 'line 1: field "latency_ms" must be a number'),
    ],
)
async def test_wrong_types_name_line_and_field(client: Client, changes: dict[str, Any], message: str) -> None:
    assert (await client.post(ndjson(event(1, **changes))))[:2] == (400, {"error": message})
    await client.still_serving()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "No events in body"),
        (b"\n\n  \n", "No events in body"),
        (orjson.dumps(event(1)) + b"\n{not json", "line 2: invalid JSON"),
        (orjson.dumps(event(1))[:-1], "line 1: invalid JSON"),
        (orjson.dumps(event(1)) + orjson.dumps(event(2)), "line 1: invalid JSON"),  # two on one line
        (b"[1, 2]", "line 1: event must be a JSON object"),
        (b'"hello"', "line 1: event must be a JSON object"),
        (b"null", "line 1: event must be a JSON object"),
        (b"\xff\xfe" + orjson.dumps(event(1)), "line 1: invalid JSON"),
        (ndjson(*(event(i) for i in range(101))), "Max 100 events per batch"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "bad-line-2",
        "truncated",
        "two-on-a-line",
        "array",
        "string",
        "null",
        "bom",
        "101-events",
    ],
)
async def test_malformed_bodies_are_400(client: Client, data: bytes, message: str) -> None:
    assert (await client.post(data))[:2] == (400, {"error": message})
    assert client.records() == []
    await client.still_serving()


async def test_refusals_are_counted(client: Client) -> None:
    await client.post(b"{")
    await client.post(b"")
    assert client.refused("bad_input") == 2


async def test_corrupt_or_unsupported_compression_is_400(client: Client) -> None:
    headers = {"x-api-key": KEY, "Content-Encoding": "gzip"}
    status, answer, _ = await client.post(b"\x1f\x8b\x08garbage", headers, gzipped=False)
    assert status == 400 and answer["error"].startswith("corrupt compressed body")
    headers["Content-Encoding"] = "br"
    assert (await client.post(b"x", headers, gzipped=False))[:2] == (
        400,
        {"error": "unsupported Content-Encoding 'br' (supported: gzip, zstd, deflate)"},
    )
    await client.still_serving()


# -- 413 ----------------------------------------------------------------------------------------


async def test_oversize_body_is_413(client: Client) -> None:
    big = ndjson(event(1, tags={"pad": "x" * (300 * 1024)}))
    assert (await client.post(big, gzipped=False))[:2] == (
        413,
        {"error": "Payload too large: body exceeds 262144 bytes"},
    )
    await client.still_serving()


async def test_gzip_bomb_is_413(client: Client) -> None:
    bomb = gzip.compress(orjson.dumps(event(1)) + b"\n" * (50 * 1024 * 1024))
    assert len(bomb) < 256 * 1024
    headers = {"x-api-key": KEY, "Content-Encoding": "gzip"}
    assert (await client.post(bomb, headers, gzipped=False))[:2] == (
        413,
        {"error": "Payload too large: decompressed body exceeds 1048576 bytes"},
    )
    await client.still_serving()


# -- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": ""}, {"Authorization": f"Bearer {KEY}"}],
    ids=["none", "empty", "bearer-is-not-lumiqtraces-header"],
)
async def test_missing_key_is_401(client: Client, headers: dict[str, str]) -> None:
    assert (await client.post(ndjson(), headers))[:2] == (401, {"error": "Invalid API key"})
    await client.still_serving()


async def test_wrong_key_is_401_with_auth_processor(authed: Client) -> None:
    assert (await authed.post(ndjson(), {"x-api-key": "lqt_wrong"}))[:2] == (401, {"error": "Invalid API key"})
    assert (await authed.post(ndjson(), {}))[:2] == (401, {"error": "Invalid API key"})
    assert authed.records() == []
    await authed.still_serving()


# -- 429 ----------------------------------------------------------------------------------------


async def test_memory_pressure_is_429_with_retry_after(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(_config(tmp_path, limiter=True))
    (limiter,) = [p for _, _, p in service.graph.processors if isinstance(p, MemoryLimiter)]
    async with aiohttp.ClientSession() as session:
        client = Client(service, session, tmp_path / "out.jsonl")
        limiter.check(rss=90_000 << 20)  # above the soft limit, below the hard one
        status, answer, headers = await client.post(ndjson())
        assert (status, answer, headers["Retry-After"]) == (429, {"error": "Rate limit exceeded"}, "1")
        limiter.check(rss=0)
        await client.still_serving()


async def test_full_pipeline_is_429_and_the_retry_is_not_taken_for_a_duplicate(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    batch = {"send_batch_size": 2, "timeout": "10s", "max_buffered_records": 2}
    service = await start_gateway(_config(tmp_path, batch=batch))
    async with aiohttp.ClientSession() as session:
        client = Client(service, session, tmp_path / "out.jsonl")
        data = ndjson(event(1), event(2), event(3))
        status, answer, headers = await client.post(data)
        assert (status, answer, headers["Retry-After"]) == (429, {"error": "Rate limit exceeded"}, "1")
        assert (await client.post(ndjson(event(1), event(2))))[:2] == (202, {"accepted": 2})
    assert client.refused("duplicate") == 0


# -- dedup by event_id ----------------------------------------------------------------------------


async def test_resent_events_are_acknowledged_and_forwarded_once(client: Client) -> None:
    data = ndjson(event(1), event(2))
    assert (await client.post(data))[:2] == (202, {"accepted": 2})
    assert (await client.post(ndjson(event(2), event(3))))[:2] == (202, {"accepted": 2})
    assert (await client.post(ndjson(event(4), event(4, model="other"))))[:2] == (202, {"accepted": 2})
    ids = [r["id"][-1] for r in client.records()]
    assert ids == ["1", "2", "3", "4"]
    assert client.records()[-1]["model"] == "gpt-4o"  # the first copy wins, as on LumiqTrace
    assert client.refused("duplicate") == 2
    # Another key is another project: its ids are its own.
    assert (await client.post(data, {"x-api-key": "lqt_other"}))[:2] == (202, {"accepted": 2})
    assert len(client.records()) == 6


async def test_dedup_can_be_turned_off(start_gateway: StartGateway, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cfg["receivers"]["lumiqtrace"]["dedup_window"] = 0
    service = await start_gateway(cfg)
    async with aiohttp.ClientSession() as session:
        client = Client(service, session, tmp_path / "out.jsonl")
        for _ in range(2):
            assert (await client.post(ndjson(event(1))))[:2] == (202, {"accepted": 1})
        assert len(client.records()) == 2
