"""``lumiqtrace`` exporter against a fake LumiqTrace that validates every event and deduplicates
by ``event_id``: request shape, batching, deterministic ids under retries, cost, defaults, and
which records are not events."""

from __future__ import annotations

import dataclasses
import gzip
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway import __version__
from gateway.component import ComponentId, CreateSettings
from gateway.config import Decoder
from gateway.exporters.lumiqtrace import LumiqExporter, LumiqExporterConfig
from gateway.formats.lumiqtrace import EVENT_ID_NAMESPACE
from gateway.formats.otlp import PASSTHROUGH
from gateway.model import Batch, Kind, Record, Status, Usage
from gateway.telemetry import Telemetry
from tests.fakes_http import FakeLumiqTrace, Reply

T0 = 1_776_679_200_000_000_000  # 2026-04-20T10:00:00Z
KEY = "lqt_test"


@dataclasses.dataclass
class Running:
    exporter: LumiqExporter
    telemetry: Telemetry

    def value(self, name: str, **labels: str) -> float:
        return self.telemetry.registry.get_sample_value(name, {"exporter": "lumiqtrace", **labels}) or 0.0


_started: list[LumiqExporter] = []


def _config(raw: dict[str, Any]) -> LumiqExporterConfig:
    d = Decoder({})
    cfg = d.decode(LumiqExporterConfig, raw, "exporters::lumiqtrace")
    assert cfg is not None, d.problems
    return cfg


async def start_exporter(fake: FakeLumiqTrace, **raw: Any) -> Running:
    base: dict[str, Any] = {
        "endpoint": fake.url,
        "api_key": KEY,
        "sending_queue": {"enabled": False},  # consume() returns once delivered or given up on
        "retry_on_failure": {"initial_interval": "1h", "max_interval": "1h"},  # only Retry-After: 0 retries
    }
    telemetry = Telemetry()
    exporter = LumiqExporter(CreateSettings(id=ComponentId("lumiqtrace"), telemetry=telemetry), _config(base | raw))
    await exporter.start()
    _started.append(exporter)
    return Running(exporter, telemetry)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLumiqTrace]:
    server = FakeLumiqTrace()
    await server.start()
    yield server
    while _started:
        await _started.pop().shutdown()
    await server.stop()


def llm(n: int, **changes: Any) -> Record:
    return dataclasses.replace(
        Record(
            kind=Kind.LLM,
            id=f"gen_{n}",
            trace_id="t1",
            span_id=f"s{n}",
            provider="openai",
            model="gpt-4o",
            start_ns=T0 + n * 1_000_000,
            end_ns=T0 + n * 1_000_000 + 843_000_000,
            usage=Usage(input_tokens=1000, output_tokens=100, input_includes_cache=True),
        ),
        **changes,
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"endpoint": "api.lumiqtrace.com"}, "exporters::lumiqtrace::endpoint: must start with http:// or https://"),
        ({"max_events": 101}, "exporters::lumiqtrace::max_events: must be between 1 and 100"),
        ({"environment": ""}, "exporters::lumiqtrace::environment: must not be empty"),
    ],
)
def test_config_problems(raw: dict[str, Any], problem: str) -> None:
    d = Decoder({})
    d.decode(LumiqExporterConfig, {"endpoint": "http://l", "api_key": KEY} | raw, "exporters::lumiqtrace")
    assert d.problems == [problem]


async def test_request_shape_and_batches_of_100(fake: FakeLumiqTrace) -> None:
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(i) for i in range(250)]))
    assert [r.status for r in fake.requests] == [202, 202, 202]
    for request in fake.requests:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["Content-Type"] == "application/x-ndjson"
        assert request.headers["Content-Encoding"] == "gzip"
        assert "Authorization" not in request.headers
    sizes = [len(gzip.decompress(r.body).split(b"\n")) for r in fake.requests]
    assert sizes == [100, 100, 50]
    assert len(fake.events()) == 250
    assert running.value("gateway_exporter_sent_records_total") == 250


async def test_plain_bodies_without_compression(fake: FakeLumiqTrace) -> None:
    running = await start_exporter(fake, compression=False)
    await running.exporter.consume(Batch([llm(1)]))
    (request,) = fake.requests
    assert "Content-Encoding" not in request.headers
    assert orjson.loads(request.body)["model"] == "gpt-4o"


async def test_a_retry_never_duplicates_an_event(fake: FakeLumiqTrace) -> None:
    # The first attempt is stored and then answered 503 (a lost answer): the resend must dedup.
    fake.inject = lambda n: Reply(503, {"error": "unavailable"}, {"Retry-After": "0"}, store=True) if n == 0 else None
    running = await start_exporter(fake)
    records = [llm(i) for i in range(5)] + [llm(9, id="", span_id="", trace_id="")]  # one without any id
    await running.exporter.consume(Batch(records))
    first, second = (gzip.decompress(r.body) for r in fake.requests)
    assert [r.status for r in fake.requests] == [503, 202]
    assert first == second  # the same bytes: encoded once per batch
    assert len(fake.events()) == 6 and fake.duplicates == 6
    assert running.value("gateway_exporter_retries_total") == 1


async def test_event_ids_are_the_same_on_replay(fake: FakeLumiqTrace) -> None:
    # A replay (persistent queue after a crash, or a second gateway) derives the same ids.
    for _ in range(2):
        running = await start_exporter(fake)
        await running.exporter.consume(Batch([llm(1), llm(2, id="550e8400-e29b-41d4-a716-446655440001")]))
    assert len(fake.events()) == 2 and fake.duplicates == 2
    derived, kept = (e["event_id"] for e in fake.events())
    assert derived == str(uuid.uuid5(EVENT_ID_NAMESPACE, "t1\x1fs1\x1fgen_1"))
    assert kept == "550e8400-e29b-41d4-a716-446655440001"


async def test_cost_rule(fake: FakeLumiqTrace) -> None:
    records = [
        llm(1),  # priced from the bundled table
        llm(2, model="my-finetune-v3"),  # unknown model: 0 plus a tag saying so
        llm(3, cost_usd=0.125),  # the source's own cost wins
        llm(4, usage=Usage()),  # no token count: cannot be priced
    ]
    running = await start_exporter(fake)
    await running.exporter.consume(Batch(records))
    by_span = {e["span_id"]: e for e in fake.events()}
    assert by_span["s1"]["cost_usd"] == pytest.approx(1000 * 2.5e-6 + 100 * 1e-5)
    assert "tags" not in by_span["s1"]
    assert (by_span["s2"]["cost_usd"], by_span["s2"]["tags"]) == (0, {"cost_status": "unpriced"})
    assert by_span["s3"]["cost_usd"] == 0.125 and "tags" not in by_span["s3"]
    assert (by_span["s4"]["cost_usd"], by_span["s4"]["tags"]) == (0, {"cost_status": "unpriced"})
    assert (by_span["s4"]["input_tokens"], by_span["s4"]["output_tokens"]) == (0, 0)


async def test_environment_and_sdk_version_defaults(fake: FakeLumiqTrace) -> None:
    running = await start_exporter(fake, environment="staging")
    await running.exporter.consume(Batch([llm(1), llm(2, environment="production", sdk_version="1.4.2")]))
    first, second = fake.events()
    assert (first["environment"], first["sdk_version"]) == ("staging", __version__)
    assert (second["environment"], second["sdk_version"]) == ("production", "1.4.2")


async def test_what_is_not_a_model_call_is_dropped_and_counted(fake: FakeLumiqTrace) -> None:
    web_span = Record(kind=Kind.OTHER, trace_id="t1", span_id="http", name="GET /", start_ns=T0, end_ns=T0)
    web_span.extra[PASSTHROUGH] = True
    records = [
        llm(1),
        llm(2, kind=Kind.TOOL, model="", usage=Usage(), tool_name="lookup"),  # a tool execution
        llm(3, kind=Kind.AGENT, model="", usage=Usage()),  # an agent root without usage
        llm(4, kind=Kind.WORKFLOW_STEP, model="", usage=Usage(), name="plan"),
        llm(5, kind=Kind.AGENT),  # an agent span that is itself a model call is an event
        llm(6, kind=Kind.EMBEDDING, usage=Usage(input_tokens=12)),
        web_span,
    ]
    running = await start_exporter(fake)
    await running.exporter.consume(Batch(records))
    assert [(e["span_id"], e["operation"]) for e in fake.events()] == [
        ("s1", "chat"),
        ("s5", "custom"),
        ("s6", "embed"),
    ]
    assert running.value("gateway_exporter_dropped_records_total", reason="non_llm_kind") == 3
    assert running.value("gateway_exporter_dropped_records_total", reason="otlp_passthrough") == 1


async def test_rate_limit_429_is_retried_after_retry_after(fake: FakeLumiqTrace) -> None:
    fake.inject = lambda n: Reply(429, {"error": "Rate limit exceeded"}, {"Retry-After": "0"}) if n == 0 else None
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1)]))
    assert [r.status for r in fake.requests] == [429, 202]
    assert len(fake.events()) == 1


async def test_monthly_quota_and_bad_keys_are_permanent(fake: FakeLumiqTrace) -> None:
    fake.inject = lambda n: Reply(429, {"error": "Monthly quota exceeded"})
    running = await start_exporter(fake)
    await running.exporter.consume(Batch([llm(1), llm(2)]))
    fake.inject = lambda n: None
    fake.keys = {"lqt_other"}
    await running.exporter.consume(Batch([llm(3)]))
    assert [r.status for r in fake.requests] == [429, 401]
    assert running.value("gateway_exporter_send_failed_records_total", reason="permanent") == 3


async def test_failed_status_and_error_fields(fake: FakeLumiqTrace) -> None:
    running = await start_exporter(fake)
    record = llm(1, status=Status.RATE_LIMITED, error_type="rate_limit_exceeded", error_message="x" * 600)
    await running.exporter.consume(Batch([record]))
    (event,) = fake.events()
    assert (event["status"], event["error_code"], len(event["error_message"])) == (
        "rate_limited",
        "rate_limit_exceeded",
        500,
    )
