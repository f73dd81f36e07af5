"""The otlp receiver's join buffer: events and spans in either order, limits and time-outs.

Time is passed to :meth:`JoinBuffer.expire` explicitly, so nothing here depends on timing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.errors import PermanentError
from gateway.formats.otlp.decode_logs import GenAiEvent
from gateway.model import Context, Kind, Message, Part, PartKind, Record, Role
from gateway.receivers._otlp_join import JoinBuffer
from gateway.telemetry import Telemetry

TRACE = "5b8efff798038103d269b633813fc60c"
LATER = 1e9  # a monotonic time past every deadline


class Sink:
    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[Record, Context]] = []
        self.refuse = refuse

    async def __call__(self, records: list[Record], ctx: Context) -> None:
        if self.refuse:
            raise PermanentError("no")
        self.sent.extend((r, ctx) for r in records)


def buffer(sink: Sink, telemetry: Telemetry, max_pending: int = 10, wait: float = 5.0) -> JoinBuffer:
    return JoinBuffer(receiver="otlp", wait=wait, max_pending=max_pending, send=sink, telemetry=telemetry)


def span(span_id: str, service: str = "app", **kw: Any) -> Record:
    kw.setdefault("kind", Kind.LLM)
    return Record(trace_id=TRACE, span_id=span_id, extra={"otlp.resource.service.name": service}, **kw)


def user(span_id: str, text: str = "hi", service: str = "app") -> GenAiEvent:
    return GenAiEvent(TRACE, span_id, "gen_ai.user.message", 1, {"content": text}, service=service)


def choice(span_id: str, text: str = "hello") -> GenAiEvent:
    body = {"index": 0, "finish_reason": "stop", "message": {"content": text}}
    return GenAiEvent(TRACE, span_id, "gen_ai.choice", 2, body, service="app")


def joins(t: Telemetry, outcome: str) -> float:
    value = t.registry.get_sample_value("gateway_receiver_joins_total", {"receiver": "otlp", "outcome": outcome})
    return value or 0.0


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def test_events_first_then_span(telemetry: Telemetry) -> None:
    join = buffer(Sink(), telemetry)
    assert join.events([user("a1"), choice("a1")]) == []
    (record,) = join.spans([span("a1")], Context())
    assert record.input[0].parts[0].text == "hi" and record.output[0].parts[0].text == "hello"
    assert record.stop_reason == "stop" and len(join) == 0 and joins(telemetry, "joined") == 1


def test_span_first_waits_only_when_its_service_sends_events(telemetry: Telemetry) -> None:
    join = buffer(Sink(), telemetry)
    assert len(join.spans([span("b1")], Context())) == 1  # no events seen from "app" yet: no wait
    join.events([user("zz"), choice("zz")])  # "app" sends events (for another span)
    ctx = Context(tenant="t1")
    assert join.spans([span("b2"), span("b3", service="other")], Context()) != []
    assert join.spans([span("b4")], ctx) == []  # waits
    assert join.events([user("b4")]) == []  # input alone does not end a call
    ((record, record_ctx),) = join.events([choice("b4")])
    assert record_ctx is ctx and [m.role for m in record.input] == [Role.USER]
    assert record.output[0].parts[0].text == "hello"


def test_spans_with_content_or_not_llm_never_wait(telemetry: Telemetry) -> None:
    join = buffer(Sink(), telemetry)
    join.events([user("zz")])
    with_content = span("c1", input=[Message(Role.USER, [Part(PartKind.TEXT, text="x")])])
    tool = span("c2", kind=Kind.TOOL)
    assert join.spans([with_content, tool], Context()) == [with_content, tool]


async def test_span_given_up_is_sent_without_content_and_counted(telemetry: Telemetry) -> None:
    sink = Sink()
    join = buffer(sink, telemetry)
    join.events([user("zz")])
    assert join.spans([span("d1")], Context()) == []
    await join.expire(time.monotonic())  # not yet due
    assert sink.sent == []
    await join.expire(LATER)
    ((record, _),) = sink.sent
    assert record.span_id == "d1" and record.output == []
    assert joins(telemetry, "span_timeout") == 1
    assert joins(telemetry, "events_expired") == 1  # the unmatched "zz" event
    assert len(join) == 0


async def test_limits(telemetry: Telemetry) -> None:
    sink = Sink()
    join = buffer(sink, telemetry, max_pending=1)
    join.events([user("e1"), user("e2")])
    assert joins(telemetry, "events_dropped_full") == 1
    assert join.spans([span("e3")], Context()) == []
    assert len(join.spans([span("e4")], Context())) == 1  # full: goes on at once
    assert joins(telemetry, "span_not_held_full") == 1


async def test_shutdown_sends_waiting_spans_and_refusals_are_counted(telemetry: Telemetry) -> None:
    sink = Sink(refuse=True)
    join = buffer(sink, telemetry)
    join.start()
    join.events([user("zz")])
    assert join.spans([span("f1")], Context()) == []
    await join.shutdown()
    assert joins(telemetry, "span_flushed") == 1 and joins(telemetry, "span_refused") == 1
    await join.shutdown()  # idempotent


def test_zero_wait_never_holds(telemetry: Telemetry) -> None:
    join = buffer(Sink(), telemetry, wait=0)
    join.events([user("zz")])
    assert len(join.spans([span("g1")], Context())) == 1


def test_bad_logs_and_dedup_options_are_reported_with_paths() -> None:
    from gateway.config import load
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load(
            {
                "receivers": {
                    "otlp": {
                        "logs": {"join_wait": "0s", "max_pending": 0},
                        "dedup": {"pairs": [["a"], ["b", "b"]]},
                    }
                },
                "exporters": {"file": {"path": "/dev/null"}},
                "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
            }
        )
    assert info.value.problems == [
        "receivers::otlp::logs::max_pending: must be at least 1",
        "receivers::otlp::dedup::pairs: entry 0 must name two different scopes",
        "receivers::otlp::dedup::pairs: entry 1 must name two different scopes",
    ]
