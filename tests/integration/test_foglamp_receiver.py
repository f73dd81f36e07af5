"""The foglamp receiver on real sockets: Foglamp's statuses and exact bodies, in Foglamp's order.

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

from gateway.component import ComponentId
from gateway.processors.memory_limiter import MemoryLimiter
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.jsonl import complete_lines

T0 = 1_776_679_200_000  # 2026-04-20T10:00:00Z, epoch ms
GOOD_KEY = "fl_good"


def span(span_id: str = "s1", **changes: Any) -> dict[str, Any]:
    return {"spanId": span_id, "spanType": "llm", "name": "step", "startTime": T0, "endTime": T0 + 5, **changes}


def trace(trace_id: str = "t1", spans: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    return {"traceId": trace_id, "traceName": "demo", "spans": spans or [span()], **changes}


def body(*traces: dict[str, Any]) -> bytes:
    return orjson.dumps({"version": "v1", "traces": list(traces) or [trace()]})


def _config(
    tmp_path: Path, *, auth: bool = False, batch: dict[str, Any] | None = None, limiter: bool = False
) -> dict[str, Any]:
    processors: dict[str, Any] = {}
    if limiter:  # checked once at start (then hourly): the test drives it with check()
        processors["memory_limiter"] = {"limit_mib": 100_000, "check_interval": "1h"}
    if auth:
        processors["auth"] = {"api_keys": [{"key": GOOD_KEY, "tenant": "team-a"}]}
    if batch is not None:
        processors["batch"] = batch
    return {
        "receivers": {
            "foglamp": {
                "endpoint": "127.0.0.1:0",
                "max_body_bytes": "1MiB",
                "max_decompressed_bytes": "4MiB",
            }
        },
        "processors": processors,
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl"), "sending_queue": {"enabled": False}}},
        "service": {
            "pipelines": {"p": {"receivers": ["foglamp"], "processors": list(processors), "exporters": ["file"]}}
        },
    }


class Client:
    def __init__(self, service: Service, session: aiohttp.ClientSession, out: Path) -> None:
        self.service = service
        self.base = f"http://127.0.0.1:{http_port(service)}"
        self.session = session
        self.out = out

    async def post(
        self, data: bytes, headers: dict[str, str] | None = None, path: str = "/ingest"
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"Authorization": f"Bearer {GOOD_KEY}"} if headers is None else headers
        # BytesIO: aiohttp warns about big raw bytes bodies (warnings are errors here).
        async with self.session.post(self.base + path, data=io.BytesIO(data), headers=sent) as resp:
            return resp.status, orjson.loads(await resp.read()), dict(resp.headers)

    async def request(self, method: str, path: str) -> tuple[int, bytes]:
        async with self.session.request(method, self.base + path) as resp:
            return resp.status, await resp.read()

    def records(self) -> list[dict[str, Any]]:
        return complete_lines(self.out)

    async def still_serving(self) -> None:
        before = len(self.records())
        status, answer, _ = await self.post(body(trace("alive", [span("a"), span("b")])))
        assert (status, answer) == (202, {"accepted": 2})
        assert len(self.records()) == before + 2

    def refused(self, reason: str) -> float:
        labels = {"receiver": "foglamp", "transport": "http", "reason": reason}
        value = self.service.telemetry.registry.get_sample_value("gateway_receiver_refused_records_total", labels)
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


async def test_accepted_counts_spans_of_every_trace_and_records_arrive(client: Client) -> None:
    status, answer, headers = await client.post(body(trace("t1", [span("a"), span("b")]), trace("t2")))
    assert (status, answer) == (202, {"accepted": 3})
    assert headers["Content-Type"].startswith("application/json")
    records = client.records()
    assert [(r["trace_id"], r["span_id"], r["kind"]) for r in records] == [
        ("t1", "a", "llm"),
        ("t1", "b", "llm"),
        ("t2", "s1", "llm"),
    ]
    assert records[0]["start_ns"] == T0 * 1_000_000 and records[0]["trace_name"] == "demo"


async def test_the_sheets_example_is_accepted(client: Client) -> None:
    example = Path(__file__).parent.parent / "testdata" / "foglamp" / "rich_payload_every_field.json"
    status, answer, _ = await client.post(example.read_bytes())
    assert (status, answer) == (202, {"accepted": 6})


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "deflate"])
async def test_compressed_bodies_are_accepted(client: Client, encoding: str) -> None:
    compress: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }
    headers = {"Authorization": f"Bearer {GOOD_KEY}", "Content-Encoding": encoding}
    assert (await client.post(compress[encoding](body()), headers))[:2] == (202, {"accepted": 1})


# -- 400 ----------------------------------------------------------------------------------------


def invalid(*issues: tuple[str, list[Any], str]) -> dict[str, Any]:
    """Foglamp's 400 body for zod issues given as (code, path, message)."""
    return {"error": "invalid payload", "issues": [{"code": c, "path": p, "message": m} for c, p, m in issues]}


SPAN0: list[Any] = ["traces", 0, "spans", 0]
NOT_JSON = {"error": "invalid JSON body"}
BAD_BODIES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "empty": (b"", NOT_JSON),
    "blank": (b"   ", NOT_JSON),
    "truncated": (b'{"version": "v1", "traces": [', NOT_JSON),
    "single-quotes": (b"{'version': 'v1'}", NOT_JSON),
    "nan": (b'{"version": "v1", "traces": [{"n": NaN}]}', NOT_JSON),
    "not-utf8": (b"\xff\xfe{}", NOT_JSON),
    "array": (b"[]", invalid(("invalid_type", [], "Invalid input: expected object, received array"))),
    "empty-object": (
        b"{}",
        invalid(
            ("invalid_value", ["version"], 'Invalid input: expected "v1"'),
            ("invalid_type", ["traces"], "Invalid input: expected array, received undefined"),
        ),
    ),
    "no-traces": (
        orjson.dumps({"version": "v1", "traces": []}),
        invalid(("too_small", ["traces"], "Too small: expected array to have >=1 items")),
    ),
    "fractional-ms-and-unknown-key": (
        orjson.dumps({"version": "v1", "traces": [trace(spans=[span(startTime=T0 + 0.5)])], "extra": 1}),
        invalid(
            ("invalid_type", [*SPAN0, "startTime"], "Invalid input: expected int, received number"),
            ("unrecognized_keys", [], 'Unrecognized key: "extra"'),
        ),
    ),
    "bad-enums": (
        body(trace(spans=[span(spanType="chain", status="done")])),
        invalid(
            (
                "invalid_value",
                [*SPAN0, "spanType"],
                'Invalid option: expected one of "agent"|"llm"|"tool"|"embedding"|"other"',
            ),
            ("invalid_value", [*SPAN0, "status"], 'Invalid option: expected one of "ok"|"error"|"aborted"'),
        ),
    ),
    "cross-field-rules": (
        body({"traceId": "t1", "spans": [span(endTime=T0 - 1)], "workflowName": "w"}),
        invalid(
            ("custom", [*SPAN0, "endTime"], "endTime must be >= startTime"),
            ("custom", ["traces", 0, "traceName"], "Either traceName or agentName must be provided"),
            ("custom", ["traces", 0, "workflowRunId"], "workflowName and workflowRunId must be provided together"),
        ),
    ),
    "missing-name": (
        body(trace(spans=[{"spanId": "s1", "spanType": "llm", "startTime": T0, "endTime": T0}])),
        invalid(("invalid_type", [*SPAN0, "name"], "Invalid input: expected string, received undefined")),
    ),
    "bad-usage": (
        body(trace(spans=[span(usage={"inputTokens": -1, "outputTokens": "3"})])),
        invalid(
            ("too_small", [*SPAN0, "usage", "inputTokens"], "Too small: expected number to be >=0"),
            ("invalid_type", [*SPAN0, "usage", "outputTokens"], "Invalid input: expected number, received string"),
        ),
    ),
    "65-metadata-keys": (
        body(trace(metadata={f"k{i}": "v" for i in range(65)})),
        invalid(("custom", ["traces", 0, "metadata"], "metadata may have at most 64 keys")),
    ),
    "first-20-issues": (
        body(trace(spans=[span(f"s{i}", bogus=i) for i in range(25)])),
        invalid(*(("unrecognized_keys", ["traces", 0, "spans", i], 'Unrecognized key: "bogus"') for i in range(20))),
    ),
    "1001-traces": (
        orjson.dumps({"version": "v1", "traces": [trace(f"t{i}") for i in range(1001)]}),
        invalid(("too_big", ["traces"], "Too big: expected array to have <=1000 items")),
    ),
    "2001-spans": (
        body(trace(spans=[span(f"s{i}") for i in range(2001)])),
        invalid(("too_big", ["traces", 0, "spans"], "Too big: expected array to have <=2000 items")),
    ),
}


@pytest.mark.parametrize(("data", "answer"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_bad_bodies_get_foglamps_400(client: Client, data: bytes, answer: dict[str, Any]) -> None:
    status, got, headers = await client.post(data)
    assert (status, got) == (400, answer)
    assert headers["Content-Type"].startswith("application/json")
    assert client.records() == []
    await client.still_serving()


async def test_refusals_are_counted_in_records_when_the_body_says_how_many(client: Client) -> None:
    await client.post(body(trace(spans=[span("a"), span("b", endTime=T0 - 1), span("c")])))
    await client.post(b"not json")
    assert client.refused("bad_input") == 3 + 1


@pytest.mark.parametrize(
    ("encoding", "data"),
    [("gzip", b"\x1f\x8b\x08garbage"), ("gzip", gzip.compress(b"{}")[:-6]), ("br", b"\x0b\x02\x80{}\x03")],
    ids=["corrupt-gzip", "truncated-gzip", "unsupported-encoding"],
)
async def test_bodies_that_do_not_inflate_are_invalid_json(client: Client, encoding: str, data: bytes) -> None:
    headers = {"Authorization": f"Bearer {GOOD_KEY}", "Content-Encoding": encoding}
    assert (await client.post(data, headers))[:2] == (400, {"error": "invalid JSON body"})
    await client.still_serving()


# -- 413 ----------------------------------------------------------------------------------------


async def test_oversize_body_is_413(client: Client) -> None:
    big = body(trace(spans=[span(input="x" * (1024 * 1024))]))
    assert (await client.post(big))[:2] == (413, {"error": "payload too large"})
    await client.still_serving()


async def test_oversize_chunked_body_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536  # no Content-Length: the limit is found while reading

    async with client.session.post(
        client.base + "/ingest", data=chunks(), headers={"Authorization": f"Bearer {GOOD_KEY}"}
    ) as resp:
        assert (resp.status, await resp.json()) == (413, {"error": "payload too large"})
    await client.still_serving()


async def test_gzip_bomb_is_413(client: Client) -> None:
    bomb = gzip.compress(b'{"version": "v1", "traces": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 1024 * 1024
    headers = {"Authorization": f"Bearer {GOOD_KEY}", "Content-Encoding": "gzip"}
    assert (await client.post(bomb, headers))[:2] == (413, {"error": "payload too large"})
    await client.still_serving()


# -- 401 and key precedence -----------------------------------------------------------------------


async def test_missing_key_is_401_before_the_body_is_looked_at(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic"}, {"x-api-key": ""}):
        assert (await client.post(b"not json", headers))[:2] == (401, {"error": "missing API key"})
    assert client.refused("unauthenticated") == 4
    await client.still_serving()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {GOOD_KEY}"},
        {"Authorization": f"bearer   {GOOD_KEY}  "},
        {"Authorization": f"BEARER\t{GOOD_KEY}"},
        {"x-api-key": GOOD_KEY},
        {"Authorization": "Basic Zm9vOmJhcg==", "x-api-key": GOOD_KEY},  # not Bearer: x-api-key is used
        {"Authorization": f"Bearer {GOOD_KEY}", "x-api-key": "fl_wrong"},  # Bearer wins
    ],
    ids=["bearer", "lower-case-padded", "tab", "x-api-key", "basic-then-x-api-key", "bearer-wins"],
)
async def test_auth_processor_accepts_the_key_where_foglamp_finds_it(authed: Client, headers: dict[str, str]) -> None:
    assert (await authed.post(body(), headers))[:2] == (202, {"accepted": 1})
    assert len(authed.records()) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer fl_wrong"},
        {"x-api-key": "fl_wrong"},
        {"Authorization": "Bearer fl_wrong", "x-api-key": GOOD_KEY},  # Bearer wins, and is wrong
        {"Authorization": f"Token {GOOD_KEY}"},  # not Bearer, and no x-api-key: missing
    ],
    ids=["bearer", "x-api-key", "bearer-wins", "other-scheme"],
)
async def test_wrong_keys_get_401(authed: Client, headers: dict[str, str]) -> None:
    status, answer, _ = await authed.post(body(), headers)
    expected = (
        "missing API key" if headers.get("Authorization", "").startswith("Token") else "invalid or revoked API key"
    )
    assert (status, answer) == (401, {"error": expected})
    assert authed.records() == []
    await authed.still_serving()


async def test_wrong_key_is_refused_before_the_body_is_read(authed: Client) -> None:
    # As Foglamp: the key is judged first (the auth processor's check runs at the receiver).
    headers = {"Authorization": "Bearer fl_wrong"}
    assert (await authed.post(b"not json", headers))[:2] == (401, {"error": "invalid or revoked API key"})


# -- order of checks ------------------------------------------------------------------------------


async def test_size_is_checked_before_the_key(client: Client) -> None:
    big = b"x" * (1024 * 1024 + 1)
    assert (await client.post(big, {}))[:2] == (413, {"error": "payload too large"})


async def test_shutting_down_is_503_after_size_and_before_the_key(client: Client) -> None:
    receiver = client.service.graph.receivers[ComponentId.parse("foglamp")]
    await receiver.shutdown()
    assert (await client.post(body(), {}))[:2] == (503, {"error": "shutting down"})
    assert (await client.post(b"x" * (1024 * 1024 + 1), {}))[:2] == (413, {"error": "payload too large"})
    await receiver.start()
    await client.still_serving()


# -- overload -------------------------------------------------------------------------------------


async def test_memory_pressure_is_429_with_retry_after(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(_config(tmp_path, limiter=True))
    (limiter,) = [p for _, _, p in service.graph.processors if isinstance(p, MemoryLimiter)]
    async with aiohttp.ClientSession() as session:
        client = Client(service, session, tmp_path / "out.jsonl")
        limiter.check(rss=90_000 << 20)  # above the soft limit, below the hard one
        status, answer, headers = await client.post(body())
        assert (status, answer, headers["Retry-After"]) == (429, {"error": "rate limit exceeded"}, "1")
        limiter.check(rss=0)
        await client.still_serving()


async def test_full_pipeline_is_429_with_retry_after(start_gateway: StartGateway, tmp_path: Path) -> None:
    batch = {"send_batch_size": 2, "timeout": "10s", "max_buffered_records": 2}
    service = await start_gateway(_config(tmp_path, batch=batch))
    async with aiohttp.ClientSession() as session:
        client = Client(service, session, tmp_path / "out.jsonl")
        status, answer, headers = await client.post(body(trace(spans=[span("a"), span("b"), span("c")])))
        assert (status, answer, headers["Retry-After"]) == (429, {"error": "rate limit exceeded"}, "1")
        assert (await client.post(body()))[:2] == (202, {"accepted": 1})


# -- the other routes ----------------------------------------------------------------------------


async def test_health_otlp_root_and_wrong_methods(client: Client) -> None:
    status, data = await client.request("GET", "/health")
    assert (status, orjson.loads(data)) == (200, {"status": "ok", "buffered": 0})
    status, answer, _ = await client.post(b"{}", {}, path="/v1/traces")
    assert (status, answer) == (501, {"error": "OTLP ingest not yet implemented; use POST /ingest"})
    assert await client.request("GET", "/") == (200, b"foglamp ingest")
    for method, path in (("GET", "/ingest"), ("PUT", "/ingest"), ("POST", "/health"), ("GET", "/v1/traces")):
        status, data = await client.request(method, path)
        assert (status, orjson.loads(data)) == (
            404,
            {
                "error": f"No route for {method} {path}",
                "code": "not_found",
                "hint": "Check the API reference at https://docs.foglamp.dev",
            },
        )
    await client.still_serving()


# -- what JSON.parse accepts --------------------------------------------------------------------


async def test_lone_surrogate_from_a_cut_emoji_is_accepted_like_foglamp(client: Client) -> None:
    # The Foglamp SDK cuts long strings by UTF-16 length: a cut inside an emoji leaves "\ud83d".
    # Foglamp (JSON.parse) answers 202; a 400 would lose the batch (the SDK does not retry it).
    data = body(trace(spans=[span(name="cut")])).replace(b'"name":"cut"', b'"name":"cut \\ud83d"')
    assert b"\\ud83d" in data
    status, answer, _ = await client.post(data)
    assert (status, answer) == (202, {"accepted": 1})
    [record] = client.records()
    assert record["name"] == "cut \ufffd"  # as Foglamp stores it: U+FFFD


async def test_not_json_is_still_refused(client: Client) -> None:
    for data in (b'{"version": "v1", "traces": [NaN]}', b"{", b'{"a": "\\ud83d'):
        status, answer, _ = await client.post(data)
        assert (status, answer) == (400, {"error": "invalid JSON body"})
