"""``foglamp`` exporter against a fake Foglamp that enforces the real contract: every body is
accepted, the key is a Bearer token, 429s are told apart, limits split bodies, pacing paces."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import __version__
from gateway.component import ComponentId, CreateSettings
from gateway.config import Decoder
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._pacing import TokenBucket
from gateway.exporters.foglamp import FoglampExporter, FoglampExporterConfig
from gateway.formats.otlp import PASSTHROUGH
from gateway.model import Batch, Kind, Record, Usage
from gateway.telemetry import Telemetry
from tests.fakes_http import FakeFoglamp, Reply
from tests.formats import record_strategies as rs

T0 = 1_776_679_200_000_000_000  # 2026-04-20T10:00:00Z
KEY = "fl_test"


@dataclasses.dataclass
class Running:
    exporter: FoglampExporter
    telemetry: Telemetry

    def value(self, name: str, **labels: str) -> float:
        return self.telemetry.registry.get_sample_value(name, {"exporter": "foglamp", **labels}) or 0.0


def _config(raw: dict[str, Any]) -> FoglampExporterConfig:
    d = Decoder({})
    cfg = d.decode(FoglampExporterConfig, raw, "exporters::foglamp")
    assert cfg is not None, d.problems
    return cfg


async def start_exporter(fake: FakeFoglamp, **raw: Any) -> Running:
    base: dict[str, Any] = {
        "endpoint": fake.url,
        "api_key": KEY,
        # Inline sends: consume() returns when the batch was delivered or given up on.
        "sending_queue": {"enabled": False},
        # An hour: a test whose retry does not wait exactly the server's Retry-After times out.
        "retry_on_failure": {"initial_interval": "1h", "max_interval": "1h"},
    }
    telemetry = Telemetry()
    exporter = FoglampExporter(CreateSettings(id=ComponentId("foglamp"), telemetry=telemetry), _config(base | raw))
    await exporter.start()
    _started.append(exporter)
    return Running(exporter, telemetry)


_started: list[FoglampExporter] = []


@pytest.fixture
async def fake() -> AsyncIterator[FakeFoglamp]:
    server = FakeFoglamp()
    await server.start()
    yield server
    while _started:
        await _started.pop().shutdown()  # idempotent: a test may have shut it down already
    await server.stop()


def llm(n: int, trace: str = "t1", **changes: Any) -> Record:
    return dataclasses.replace(
        Record(
            kind=Kind.LLM,
            trace_id=trace,
            span_id=f"s{n}",
            name=f"step {n}",
            provider="openai",
            model="gpt-4o",
            start_ns=T0 + n * 1_000_000,
            end_ns=T0 + n * 1_000_000 + 300_000_000,
            usage=Usage(input_tokens=100, output_tokens=20, input_includes_cache=True),
        ),
        **changes,
    )


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"endpoint": "foglamp:4000"}, "exporters::foglamp::endpoint: must start with http:// or https://"),
        ({"api_key": " "}, "exporters::foglamp::api_key: must not be empty (is the environment variable set?)"),
        ({"max_traces": 1001}, "exporters::foglamp::max_traces: must be between 1 and 1000"),
        ({"max_spans_per_trace": 0}, "exporters::foglamp::max_spans_per_trace: must be between 1 and 2000"),
        ({"max_body_bytes": "512B"}, "exporters::foglamp::max_body_bytes: must be at least 1KiB"),
        ({"max_spans_per_second": -1}, "exporters::foglamp::max_spans_per_second: must not be negative"),
    ],
)
def test_config_problems(raw: dict[str, Any], problem: str) -> None:
    d = Decoder({})
    d.decode(FoglampExporterConfig, {"endpoint": "http://f:4000", "api_key": KEY} | raw, "exporters::foglamp")
    assert d.problems == [problem]


# --- what goes out ------------------------------------------------------------------------------


async def test_request_shape(fake: FakeFoglamp) -> None:
    running = await start_exporter(fake, headers={"X-Team": "a"})
    await running.exporter.consume(Batch([llm(1)]))
    await running.exporter.shutdown()
    (request,) = fake.requests
    assert request.status == 202
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"llm-telemetry-gateway/{__version__}"
    assert request.headers["X-Team"] == "a"
    (span,) = fake.spans()
    assert span["trace"] == {"traceId": "t1", "traceName": "step 1"}  # the label falls back to the span name
    assert span["usage"] == {"inputTokens": 100, "outputTokens": 20}
    assert running.value("gateway_exporter_sent_records_total") == 1


@given(
    st.lists(rs.records, max_size=8),
    st.sampled_from([{}, {"max_traces": 2, "max_spans_per_trace": 3, "max_body_bytes": "8KiB"}]),
)
@settings(max_examples=40, deadline=None)
def test_foglamp_accepts_every_body_the_exporter_sends(records: list[Record], limits: dict[str, Any]) -> None:
    async def run() -> None:
        server = FakeFoglamp()
        await server.start()
        try:
            running = await start_exporter(server, **limits)
            await running.exporter.consume(Batch(records))
            await _started.pop().shutdown()
            # The fake answers 400 with zod's issues to any body Foglamp would refuse.
            assert [r.status for r in server.requests] == [202] * len(server.requests)
            sent = running.value("gateway_exporter_sent_records_total")
            dropped = sum(
                s.value
                for m in running.telemetry.exporter_dropped.collect()
                for s in m.samples
                if s.name.endswith("_total")
            )
            assert len(server.spans()) == sent == len(records) - dropped
        finally:
            await server.stop()

    asyncio.run(run())


async def test_non_llm_kinds_are_sent_as_their_span_types(fake: FakeFoglamp) -> None:
    records = [
        llm(1, kind=Kind.AGENT, span_id="root", name="support-agent"),
        llm(2, parent_span_id="root"),
        llm(3, kind=Kind.TOOL, tool_name="lookup", name="", parent_span_id="s2", usage=Usage()),
        llm(4, kind=Kind.EMBEDDING),
        llm(5, kind=Kind.WORKFLOW_STEP, name="plan", usage=Usage()),
        llm(6, kind=Kind.OTHER, name="retrieve", usage=Usage()),
    ]
    running = await start_exporter(fake)
    await running.exporter.consume(Batch(records))
    assert [(s["spanId"], s["spanType"], s["name"]) for s in fake.spans()] == [
        ("root", "agent", "support-agent"),
        ("s2", "llm", "step 2"),
        ("s3", "tool", "lookup"),
        ("s4", "embedding", "step 4"),
        ("s5", "other", "plan"),
        ("s6", "other", "retrieve"),
    ]


async def test_otlp_passthrough_records_are_dropped_and_counted(fake: FakeFoglamp) -> None:
    web_span = Record(kind=Kind.OTHER, trace_id="t1", span_id="http", name="GET /", start_ns=T0, end_ns=T0)
    web_span.extra[PASSTHROUGH] = True
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([web_span, llm(1)]))
    assert [s["spanId"] for s in fake.spans()] == ["s1"]
    assert running.value("gateway_exporter_dropped_records_total", reason="otlp_passthrough") == 1
    await running.exporter.consume(Batch([web_span]))  # nothing left: no request at all
    assert len(fake.requests) == 1


# --- limits ---------------------------------------------------------------------------------------


async def test_more_than_1000_traces_split_into_bodies(fake: FakeFoglamp) -> None:
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(i, trace=f"t{i}") for i in range(1001)]))
    assert [len(b["traces"]) for b in fake.bodies] == [1000, 1]
    assert running.value("gateway_exporter_sent_records_total") == 1001


async def test_more_than_2000_spans_split_into_trace_objects(fake: FakeFoglamp) -> None:
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(i) for i in range(2001)]))
    traces = [t for b in fake.bodies for t in b["traces"]]
    assert [(t["traceId"], len(t["spans"])) for t in traces] == [("t1", 2000), ("t1", 1)]


async def test_body_limit_splits_bodies(fake: FakeFoglamp) -> None:
    running = await start_exporter(fake, max_body_bytes="4KiB")
    records = [llm(i, trace=f"t{i % 3}", error_message="e" * 500) for i in range(30)]
    await running.exporter.consume(Batch(records))
    assert len(fake.requests) > 1
    assert all(len(r.body) <= 4096 for r in fake.requests)
    assert len(fake.spans()) == 30


# --- answers --------------------------------------------------------------------------------------


async def test_rate_limit_429_is_retried_after_retry_after(fake: FakeFoglamp) -> None:
    fake.inject = lambda n: Reply(429, {"error": "rate limit exceeded"}, {"Retry-After": "0"}) if n == 0 else None
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1), llm(2)]))
    assert [r.status for r in fake.requests] == [429, 202]
    assert len(fake.spans()) == 2
    assert running.value("gateway_exporter_retries_total") == 1


def test_retry_after_is_the_delay_handed_to_the_retry_loop() -> None:
    exporter = FoglampExporter(
        CreateSettings(id=ComponentId("foglamp"), telemetry=Telemetry()),
        _config({"endpoint": "http://f:4000", "api_key": KEY}),
    )
    with pytest.raises(RetryableError) as info:
        exporter.classify(429, b'{"error":"rate limit exceeded"}', 1.0)
    assert info.value.retry_after == 1.0
    with pytest.raises(PermanentError, match="monthly quota"):
        exporter.classify(429, b'{"error":"Monthly span quota exceeded"}', None)


async def test_monthly_quota_429_is_permanent(fake: FakeFoglamp) -> None:
    quota = "Monthly span quota exceeded — upgrade your plan to keep ingesting."
    fake.inject = lambda n: Reply(429, {"error": quota})
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1), llm(2)]))
    assert [r.status for r in fake.requests] == [429]
    assert running.value("gateway_exporter_send_failed_records_total", reason="permanent") == 2


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_client_errors_are_permanent(fake: FakeFoglamp, status: int) -> None:
    fake.inject = lambda n: Reply(status, {"error": "no"})
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1)]))
    assert len(fake.requests) == 1
    assert running.value("gateway_exporter_send_failed_records_total", reason="permanent") == 1


async def test_wrong_key_is_permanent_with_foglamps_401(fake: FakeFoglamp) -> None:
    fake.keys = {"fl_other"}
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1)]))
    assert [r.status for r in fake.requests] == [401]
    assert running.value("gateway_exporter_send_failed_records_total", reason="permanent") == 1


@pytest.mark.parametrize("status", [408, 500, 503])
async def test_transient_errors_are_retried(fake: FakeFoglamp, status: int) -> None:
    fake.inject = lambda n: Reply(status, {"error": "shutting down"}, {"Retry-After": "0"}) if n == 0 else None
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1)]))
    assert [r.status for r in fake.requests] == [status, 202]


async def test_a_retry_resends_only_the_body_that_failed(fake: FakeFoglamp) -> None:
    # Foglamp's roll-ups double count a resent body: the accepted first body must not go again.
    fake.inject = lambda n: Reply(503, {"error": "shutting down"}, {"Retry-After": "0"}) if n == 1 else None
    running = await start_exporter(fake, max_traces=1)
    await running.exporter.consume(Batch([llm(1, trace="a"), llm(2, trace="b")]))
    assert [r.status for r in fake.requests] == [202, 503, 202]
    assert [s["spanId"] for s in fake.spans()] == ["s1", "s2"]


# --- pacing ---------------------------------------------------------------------------------------


class FakeClock:
    """Time that moves only when the code under test sleeps: waits are observed, never spent."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_token_bucket_mirrors_foglamps_limiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 100, clock=clock, sleep=clock.sleep)
    assert await bucket.take(60) == 0  # starts full: one second of burst
    assert await bucket.take(60) == pytest.approx(0.2)  # 40 left, 20 more needed at 100/s
    assert await bucket.take(5000) == pytest.approx(1.0)  # clamped to the capacity, never forever
    clock.now += 0.5
    assert await bucket.take(0) == 0  # costs at least 1, and 50 have refilled
    clock.now += 10
    assert await bucket.take(100) == 0  # refill stops at the capacity...
    assert await bucket.take(1) == pytest.approx(0.01)  # ...so nothing was banked beyond it
    assert clock.sleeps == pytest.approx([0.2, 1.0, 0.01])


async def test_token_bucket_serves_waiters_in_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 10, clock=clock, sleep=clock.sleep)
    await bucket.take(10)
    waits = await asyncio.gather(bucket.take(10), bucket.take(1), bucket.take(5))
    assert waits == pytest.approx([1.0, 0.1, 0.5])


async def test_exporter_paces_bodies_by_their_span_count(fake: FakeFoglamp) -> None:
    running = await start_exporter(fake, max_spans_per_second=100, max_traces=1)
    clock = FakeClock()
    pacer = running.exporter._pacer
    assert pacer is not None and (pacer.rate, pacer.capacity) == (100, 100)
    running.exporter._pacer = TokenBucket(100, 100, clock=clock, sleep=clock.sleep)
    batch = [llm(i, trace=f"t{i // 100}") for i in range(300)]  # three bodies of 100 spans
    await running.exporter.consume(Batch(batch))
    assert [len(b["traces"][0]["spans"]) for b in fake.bodies] == [100, 100, 100]
    assert clock.sleeps == pytest.approx([1.0, 1.0])  # the first rides the burst, then 100 spans/s
