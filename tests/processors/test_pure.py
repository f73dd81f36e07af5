"""Pure logic of the auth, filter, redact and batch processors, and their config messages."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import ConfigError, Overloaded, Unauthenticated
from gateway.evaluation.selectors import selector_matches
from gateway.formats.sigil.native import SigilGenerations
from gateway.model import Batch, Context, Kind, Message, Part, PartKind, Record, Role, Status
from gateway.processors.auth import ApiKey, AuthConfig, AuthProcessor, KeyTable
from gateway.processors.batch import BatchConfig, BatchProcessor
from gateway.processors.filter import FilterConfig, matches
from gateway.processors.memory_limiter import MemoryLimiter, MemoryLimiterConfig
from gateway.processors.redact import RedactConfig, Redactor, luhn_ok
from gateway.telemetry import Telemetry
from gateway.units import ByteSize, Duration


def _settings(name: str) -> CreateSettings:
    return CreateSettings(id=ComponentId.parse(name), telemetry=Telemetry(), pipeline="p")


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def _problems(processor: dict[str, Any]) -> list[str]:
    raw = {
        "receivers": {"sigil": {"http": {}, "grpc": {}}},
        "processors": processor,
        "exporters": {"debug": {}},
        "service": {
            "pipelines": {"p": {"receivers": ["sigil"], "processors": list(processor), "exporters": ["debug"]}}
        },
    }
    with pytest.raises(ConfigError) as info:
        load(raw, environ={})
    return info.value.problems


# -- auth -----------------------------------------------------------------------------------


def test_key_table_lookup() -> None:
    table = KeyTable([ApiKey(key="k1", tenant="a"), ApiKey(key="k2", tenant="b")])
    assert table.lookup("k2") == "b"
    assert table.lookup("k3") is None


async def test_auth_sets_tenant_and_refuses(tmp_path: pathlib.Path) -> None:
    sink = Sink()
    keys = tmp_path / "keys.yaml"
    keys.write_text("- {key: filekey, tenant: from-file}\n")
    cfg = AuthConfig(api_keys=[ApiKey(key="k1", tenant="team-a")], keys_file=str(keys), reload_interval=Duration(0.0))
    proc = AuthProcessor(_settings("auth"), cfg, sink)
    b = Batch([Record()], Context(receiver="sigil", bearer_token="k1", tenant="spoofed"))
    await proc.consume(b)
    assert sink.batches[-1].context.tenant == "team-a"
    await proc.consume(Batch([Record()], Context(api_key="filekey")))
    assert sink.batches[-1].context.tenant == "from-file"
    with pytest.raises(Unauthenticated, match="missing API key"):
        await proc.consume(Batch([Record()], Context()))
    with pytest.raises(Unauthenticated, match="invalid or revoked API key"):
        await proc.consume(Batch([Record()], Context(basic_password="nope")))
    # The keys file is re-read when it changes; a broken file keeps the previous keys.
    keys.write_text("- {key: newkey, tenant: rotated}\n")
    import os

    os.utime(keys, ns=(1, 2))
    await proc.consume(Batch([Record()], Context(api_key="newkey")))
    assert sink.batches[-1].context.tenant == "rotated"
    keys.write_text("not: [a, list")
    os.utime(keys, ns=(3, 4))
    await proc.consume(Batch([Record()], Context(api_key="newkey")))
    assert sink.batches[-1].context.tenant == "rotated"


async def test_auth_receiver_tenants_and_tenant_header() -> None:
    sink = Sink()
    cfg = AuthConfig(
        api_keys=[ApiKey(key="k1", tenant="team-a")],
        allow_tenant_header=True,
        allowed_tenants=["open"],
        receiver_tenants={"foglamp": ["team-b"]},
    )
    proc = AuthProcessor(_settings("auth"), cfg, sink)
    await proc.consume(Batch([Record()], Context(receiver="sigil", tenant="open")))
    assert sink.batches[-1].context.tenant == "open"
    with pytest.raises(Unauthenticated):
        await proc.consume(Batch([Record()], Context(receiver="sigil", tenant="closed")))
    with pytest.raises(Unauthenticated):
        await proc.consume(Batch([Record()], Context(receiver="foglamp", api_key="k1")))


def test_auth_config_messages() -> None:
    assert _problems({"auth": {"api_keys": [{"key": "", "tenant": "a"}]}}) == [
        "processors::auth::api_keys::0::key: must not be empty (is the environment variable set?)"
    ]
    assert _problems({"auth": {}}) == [
        "processors::auth: one of api_keys, keys_file, basic, oidc, mtls or allow_tenant_header is required"
    ]
    assert _problems({"auth": {"keys_file": "/nonexistent/keys.yaml"}}) == [
        "processors::auth::keys_file: [Errno 2] No such file or directory: '/nonexistent/keys.yaml'"
    ]


# -- filter ---------------------------------------------------------------------------------


def _gen(*parts: PartKind, error: str = "") -> Record:
    msg = Message(Role.ASSISTANT, [Part(k, text="x") for k in parts])
    return Record(kind=Kind.LLM, output=[msg], error_message=error, status=Status.ERROR if error else Status.OK)


def test_selectors() -> None:
    text, tool = _gen(PartKind.TEXT), _gen(PartKind.TEXT, PartKind.TOOL_CALL)
    assert selector_matches("user_visible_turn", text) and not selector_matches("user_visible_turn", tool)
    assert selector_matches("tool_call_steps", tool) and not selector_matches("tool_call_steps", text)
    assert selector_matches("all_assistant_generations", text) and not selector_matches(
        "all_assistant_generations", _gen()
    )
    assert selector_matches("errored_generations", _gen(error="boom"))
    assert not selector_matches("errored_generations", text)
    assert not selector_matches("all_assistant_generations", Record(kind=Kind.TOOL))


def test_conditions() -> None:
    r = Record(model="gpt-4o-mini", provider="openai", operation="chat", tags={"env": "prod"})
    assert matches(FilterConfig(models=["gpt-4*"], providers=["openai"], tags={"env": "*"}), r)
    assert not matches(FilterConfig(models=["claude*"]), r)
    assert not matches(FilterConfig(tags={"env": "dev"}), r)
    assert matches(FilterConfig(kinds=["llm"], operations=["chat"]), r)


def test_filter_config_messages() -> None:
    assert _problems({"filter": {}}) == [
        "processors::filter: at least one condition (selectors, models, providers, operations, kinds, tags) is required"
    ]
    assert _problems({"filter": {"selectors": ["everything"]}}) == [
        "processors::filter::selectors::0: must be one of user_visible_turn, all_assistant_generations, "
        "tool_call_steps, errored_generations"
    ]


# -- redact ---------------------------------------------------------------------------------


def test_redactor_rules() -> None:
    red = Redactor(RedactConfig())
    out = red.text(
        "mail bob@example.com, call +1 415 555 0100, card 4111 1111 1111 1111, order 4111 1111 1111 1112, "
        "key sk-abcdefghijklmnopqrstuv"
    )
    assert out == (
        "mail [REDACTED:email], call [REDACTED:phone], card [REDACTED:credit_card], order 4111 1111 1111 1112, "
        "key [REDACTED:api_key]"
    )
    assert red.counts == {"email": 1, "phone": 1, "credit_card": 1, "api_key": 1}
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_redactor_keyed_hash_and_custom_rule_and_attributes() -> None:
    from gateway.processors.redact import CustomRule

    red = Redactor(
        RedactConfig(
            rules=["email"],
            custom=[CustomRule(name="ticket", pattern=r"TCK-\d{6}")],
            hash_key="k",
            attributes=["user"],
        )
    )
    a = red.text("bob@example.com TCK-123456")
    assert a == red.text("bob@example.com TCK-123456")  # deterministic, joinable
    assert "bob@" not in a and a.startswith("[email:") and "[ticket:" in a
    r = Record(id="bob@example.com", tags={"user": "bob@example.com"}, metadata={"user": "bob@example.com"})
    red.record(r)
    assert r.id == "bob@example.com"  # ids are never touched
    assert r.tags["user"].startswith("[email:") and str(r.metadata["user"]).startswith("[email:")


def test_redact_config_messages() -> None:
    assert _problems({"redact": {"custom": [{"name": "Bad Name", "pattern": "("}]}}) == [
        "processors::redact::custom::0::pattern: invalid regular expression: missing ), unterminated subpattern "
        "at position 0",
        "processors::redact::custom::0::name: must be lower-case letters, digits and _",
    ]


# -- batch ----------------------------------------------------------------------------------


async def test_batch_by_size_timeout_and_tenant() -> None:
    sink = Sink()
    proc = BatchProcessor(
        _settings("batch"),
        BatchConfig(acknowledge="buffer", send_batch_size=3, send_batch_max_size=3, timeout=Duration(0.05)),
        sink,
    )
    await proc.consume(Batch([Record(id=str(i)) for i in range(7)], Context(tenant="a")))
    await proc.consume(Batch([Record(id="b1")], Context(tenant="b")))
    await asyncio.sleep(0.01)
    assert [len(b.records) for b in sink.batches] == [3, 3, 1]  # size-triggered, capped at 3
    await asyncio.sleep(0.1)
    assert {b.context.tenant for b in sink.batches[3:]} == {"b"}  # timeout flush, kept apart
    await proc.consume(Batch([Record(id="late")], Context(tenant="a")))
    await proc.shutdown()  # flushes
    assert sink.batches[-1].records[0].id == "late"
    with pytest.raises(Overloaded):
        await proc.consume(Batch([Record()], Context()))


async def test_batch_bounds() -> None:
    sink = Sink()
    cfg = BatchConfig(
        acknowledge="buffer",
        send_batch_size=10,
        max_buffered_records=10,
        metadata_keys=["x-team"],
        metadata_cardinality_limit=1,
        timeout=Duration(10.0),
    )
    proc = BatchProcessor(_settings("batch"), cfg, sink)
    await proc.consume(Batch([Record()] * 5, Context(headers={"x-team": "a"})))
    with pytest.raises(Overloaded, match="too many distinct"):
        await proc.consume(Batch([Record()], Context(headers={"x-team": "b"})))
    with pytest.raises(Overloaded, match="buffer is full"):
        await proc.consume(Batch([Record()] * 6, Context(headers={"x-team": "a"})))
    await proc.shutdown()
    assert sum(len(b.records) for b in sink.batches) == 5


async def test_batch_answers_once_handed_on_and_passes_refusals_back() -> None:
    sink = Sink()
    proc = BatchProcessor(_settings("batch"), BatchConfig(send_batch_size=3, timeout=Duration(10.0)), sink)
    first = asyncio.create_task(proc.consume(Batch([Record(id="1")], Context())))
    await asyncio.sleep(0.01)
    assert not first.done() and sink.batches == []  # buffered, not yet answered
    await proc.consume(Batch([Record(id="2"), Record(id="3")], Context()))  # fills the batch
    await first
    assert [r.id for r in sink.batches[0].records] == ["1", "2", "3"]

    class Refusing:
        async def consume(self, batch: Batch) -> None:
            raise Overloaded("queue full", retry_after=1.0)

    proc2 = BatchProcessor(_settings("batch"), BatchConfig(send_batch_size=2, timeout=Duration(10.0)), Refusing())
    results = await asyncio.gather(
        proc2.consume(Batch([Record(id="a")], Context())),
        proc2.consume(Batch([Record(id="b")], Context())),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [Overloaded, Overloaded]  # each client told, none lost
    await proc.shutdown()
    await proc2.shutdown()


async def test_batch_caps_bytes() -> None:
    sink = Sink()
    cfg = BatchConfig(
        acknowledge="buffer", send_batch_size=1000, send_batch_max_bytes=ByteSize(10_000), timeout=Duration(10.0)
    )
    proc = BatchProcessor(_settings("batch"), cfg, sink)
    big = [Record(id=str(i), system_prompt="x" * 3000) for i in range(7)]  # about 3.5 KB each
    await proc.consume(Batch(big, Context()))  # over the cap: flushed at once, split
    await asyncio.sleep(0.01)
    assert [len(b.records) for b in sink.batches] == [2, 2, 2, 1]
    assert [r.id for b in sink.batches for r in b.records] == [str(i) for i in range(7)]
    await proc.consume(Batch([Record(id="huge", system_prompt="x" * 50_000)], Context()))
    await asyncio.sleep(0.01)
    assert [r.id for r in sink.batches[-1].records] == ["huge"]  # alone, not refused
    await proc.shutdown()


def _native(*ids: str) -> SigilGenerations:
    model = pb.ModelRef(provider="p", name="m")
    return SigilGenerations([pb.Generation(id=i, model=model) for i in ids])


async def test_batch_keeps_natives_of_one_kind_and_chunks_them() -> None:
    sink = Sink()
    proc = BatchProcessor(
        _settings("batch"),
        BatchConfig(acknowledge="buffer", send_batch_size=5, send_batch_max_size=4, timeout=Duration(10.0)),
        sink,
    )
    await proc.consume(Batch(None, Context(tenant="a"), native=_native("1", "2", "3")))
    await proc.consume(Batch(None, Context(tenant="a"), native=_native("4", "5", "6")))
    await asyncio.sleep(0.01)
    assert [len(b) for b in sink.batches] == [4, 2]
    assert all(b.native is not None for b in sink.batches)  # still messages: nothing materialized
    assert [r.id for b in sink.batches for r in b.records] == ["1", "2", "3", "4", "5", "6"]
    await proc.shutdown()


async def test_batch_mixing_natives_and_records_keeps_the_order() -> None:
    sink = Sink()
    proc = BatchProcessor(
        _settings("batch"), BatchConfig(acknowledge="buffer", send_batch_size=10, timeout=Duration(10.0)), sink
    )
    await proc.consume(Batch(None, Context(), native=_native("1", "2")))
    await proc.consume(Batch([Record(id="r")], Context()))
    await proc.consume(Batch(None, Context(), native=_native("3")))
    await proc.shutdown()
    (batch,) = sink.batches
    assert batch.native is None and [r.id for r in batch.records] == ["1", "2", "r", "3"]


# -- memory limiter -------------------------------------------------------------------------


async def test_memory_limiter_refuses_and_recovers() -> None:
    sink = Sink()
    lim = MemoryLimiter(_settings("memory_limiter"), MemoryLimiterConfig(limit_mib=100, spike_limit_mib=20), sink)
    lim.check(rss=90 * 1024 * 1024)
    refusing = lim.capabilities.refusing
    assert refusing is not None
    assert lim.refusing and refusing()
    with pytest.raises(Overloaded):
        await lim.consume(Batch([Record()], Context()))
    lim.check(rss=10 * 1024 * 1024)
    assert not lim.refusing and not refusing()
    await lim.consume(Batch([Record()], Context()))
    assert len(sink.batches) == 1
    assert _problems({"memory_limiter": {"limit_mib": 100, "spike_limit_mib": 100}}) == [
        "processors::memory_limiter::spike_limit_mib: must be at least 0 and less than limit_mib"
    ]


async def test_redact_processor_covers_scores_and_ratings() -> None:
    from gateway.model import Rating, Score
    from gateway.processors.redact import RedactProcessor

    sink = Sink()
    proc = RedactProcessor(_settings("redact"), RedactConfig(rules=["email"]), sink)
    batch = Batch(
        [Record()],
        Context(),
        scores=[Score(id="s", explanation="mailed bob@example.com")],
        ratings=[Rating(id="r", comment="contact me: bob@example.com")],
    )
    await proc.consume(batch)
    out = sink.batches[0]
    assert out.scores[0].explanation == "mailed [REDACTED:email]"
    assert out.ratings[0].comment == "contact me: [REDACTED:email]"
