"""The otlp receiver's de-duplication of one call reported by two instrumentation scopes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.model import Context, Kind, Record, ToolDefinition, Usage
from gateway.receivers._otlp_dedup import Dedup, same_call
from gateway.telemetry import Telemetry

A, B = "opentelemetry.instrumentation.anthropic", "com.anthropic.sdk.python"
LATER = 1e9


class Sink:
    def __init__(self) -> None:
        self.sent: list[Record] = []

    async def __call__(self, records: list[Record], ctx: Context) -> None:
        self.sent.extend(records)


def rec(scope: str, start: int = 100, end: int = 200, **kw: Any) -> Record:
    kw.setdefault("usage", Usage(input_tokens=10, output_tokens=5))
    kw.setdefault("kind", Kind.LLM)
    return Record(
        provider="anthropic",
        model="claude",
        start_ns=start,
        end_ns=end,
        extra={"otlp.scope.name": scope},
        **kw,
    )


def outcome(t: Telemetry, name: str) -> float:
    labels = {"receiver": "otlp", "outcome": name}
    return t.registry.get_sample_value("gateway_receiver_joins_total", labels) or 0.0


def dedup(t: Telemetry, sink: Sink, max_pending: int = 10) -> Dedup:
    return Dedup(receiver="otlp", pairs=[[A, B]], wait=2.0, max_pending=max_pending, send=sink, telemetry=t)


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"model": "other"}, False),
        ({"start": 300, "end": 400}, False),  # no overlap
        ({"response_id": "msg_2"}, False),
        ({"usage": Usage(input_tokens=11, output_tokens=5)}, False),
        ({"usage": Usage()}, True),  # counts unknown on one side: not a difference
    ],
)
def test_same_call(change: dict[str, Any], same: bool) -> None:
    a = rec(A, response_id="msg_1")
    kw: dict[str, Any] = {"response_id": "msg_1", **change}
    model = kw.pop("model", None)
    b = rec(B, **kw)
    if model:
        b.model = model
    assert same_call(a, b) is same


async def test_first_call_sent_twin_dropped_then_merged() -> None:
    t, sink = Telemetry(), Sink()
    d = dedup(t, sink)
    ctx = Context()
    assert len(d.records([rec(B)], ctx)) == 1  # A not seen yet: sent, remembered
    assert d.records([rec(A)], ctx) == []  # its late twin
    assert outcome(t, "duplicate_dropped") == 1
    # Both scopes known: B waits for A; the kept record is A's, filled from B's.
    b = rec(B, 1000, 2000, response_id="msg_9")
    b.extra["otlp.attr.server.address"] = "api.anthropic.com"
    assert d.records([b], ctx) == []
    a = rec(A, 1000, 2000, tools=[ToolDefinition(name="f")])
    a.usage.cache_read_input_tokens = 3
    (merged,) = d.records([a], ctx)
    assert merged is a and merged.response_id == "msg_9" and merged.tools[0].name == "f"
    assert merged.extra["otlp.attr.server.address"] == "api.anthropic.com" and merged.usage.cache_read_input_tokens == 3
    assert outcome(t, "duplicate_merged") == 1 and len(d) == 0


async def test_a_twin_that_never_comes_is_sent_after_the_wait() -> None:
    t, sink = Telemetry(), Sink()
    d = dedup(t, sink)
    d.records([rec(A), rec(B)], Context())  # seen both (and merged)
    assert d.records([rec(B, 5000, 6000)], Context()) == []
    await d.expire(LATER)
    assert [r.start_ns for r in sink.sent] == [5000] and outcome(t, "duplicate_not_found") == 1


async def test_other_records_pass_and_the_buffer_is_bounded() -> None:
    t, sink = Telemetry(), Sink()
    d = dedup(t, sink, max_pending=1)
    other = rec("opentelemetry.instrumentation.openai_v2")
    tool = rec(A, kind=Kind.TOOL)
    assert d.records([other, tool], Context()) == [other, tool]
    d.records([rec(A, 0, 1)], Context())  # remembered (B not seen)
    assert len(d.records([rec(B, 50, 60)], Context())) == 1  # full: not held
    assert outcome(t, "duplicate_not_held_full") == 1
    await d.shutdown()
