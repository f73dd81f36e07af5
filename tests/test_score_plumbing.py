"""Scores and ratings travel wherever batches do: fan-out, batch, filter, queues, exporters."""

from __future__ import annotations

import asyncio
import pathlib

import orjson

from gateway.component import ComponentId, CreateSettings
from gateway.exporters._queue import decode_batch, encode_batch
from gateway.exporters._transport import TlsConfig
from gateway.exporters.debug import summarize
from gateway.exporters.file import FileExporter, FileExporterConfig
from gateway.exporters.sigil import SigilExporter, SigilExporterConfig, api_base_url
from gateway.model import Batch, Context, Kind, Rating, RatingValue, Record, Score
from gateway.pipeline import FanOut
from gateway.processors.batch import BatchConfig, BatchProcessor
from gateway.processors.content import ContentConfig, ContentProcessor
from gateway.processors.filter import FilterConfig, FilterProcessor
from gateway.receivers._common import deliver
from gateway.receivers._sigil_ratings import RatingsConfig, RatingStore, parse_page
from gateway.telemetry import Telemetry
from gateway.units import Duration
from tests.fakes import FakeSigilBackend


def _settings(name: str, telemetry: Telemetry | None = None) -> CreateSettings:
    return CreateSettings(id=ComponentId.parse(name), telemetry=telemetry or Telemetry(), pipeline="p")


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def _batch(records: int = 0, scores: int = 0, ratings: int = 0) -> Batch:
    return Batch(
        [Record(id=f"g{i}") for i in range(records)],
        Context(receiver="sigil", tenant="team-a"),
        scores=[Score(id=f"s{i}", generation_id="g0", key="k", value=float(i)) for i in range(scores)],
        ratings=[Rating(id=f"r{i}", conversation_id="c", value=RatingValue.BAD, comment="bad") for i in range(ratings)],
    )


async def test_fan_out_gives_each_branch_its_own_lists() -> None:
    for mutates in ([False, False], [True, True], [False, True]):
        sinks = [Sink(), Sink()]
        await FanOut(sinks, mutates=mutates).consume(_batch(1, 2, 1))
        (a,), (b,) = (s.batches for s in sinks)
        assert (len(b.scores), len(b.ratings)) == (2, 1)
        assert a.scores is not b.scores and a.ratings is not b.ratings
        assert a.scores == b.scores


async def test_batch_processor_merges_and_flushes_scores() -> None:
    sink = Sink()
    proc = BatchProcessor(
        _settings("batch"),
        BatchConfig(acknowledge="buffer", send_batch_size=3, send_batch_max_size=3, timeout=Duration(0.05)),
        sink,
    )
    await proc.consume(_batch(scores=1))  # a score-only batch waits for the timeout
    await asyncio.sleep(0.15)
    assert [(len(b.records), len(b.scores)) for b in sink.batches] == [(0, 1)]
    # Scores and ratings count toward the size and leave with the last records.
    await proc.consume(_batch(records=2))
    await proc.consume(_batch(records=2, scores=1, ratings=1))
    await proc.shutdown()
    assert [(len(b.records), len(b.scores), len(b.ratings)) for b in sink.batches[1:]] == [(3, 0, 0), (1, 1, 1)]


async def test_filter_leaves_scores_alone() -> None:
    sink = Sink()
    proc = FilterProcessor(_settings("filter"), FilterConfig(kinds=["tool"]), sink)
    await proc.consume(_batch(records=2, scores=1))
    await proc.consume(_batch())
    (batch,) = sink.batches
    assert (batch.records, len(batch.scores)) == ([], 1)


async def test_content_metadata_only_blanks_rating_comments() -> None:
    sink = Sink()
    await ContentProcessor(_settings("content"), ContentConfig(mode="metadata_only"), sink).consume(_batch(ratings=1))
    assert sink.batches[0].ratings[0].comment == ""


async def test_deliver_counts_score_only_batches() -> None:
    t, sink = Telemetry(), Sink()
    batch = _batch(scores=2, ratings=1)
    await deliver(sink, [], batch.context, t, "sigil", scores=batch.scores, ratings=batch.ratings)
    await deliver(sink, [], batch.context, t, "sigil")
    assert len(sink.batches) == 1
    assert t.receiver_accepted.labels("sigil", "")._value.get() == 3


def test_queue_entries_carry_scores_and_old_entries_still_decode() -> None:
    batch = _batch(1, 2, 1)
    batch.scores[1].value = True
    batch.scores[0].metadata = {"a": [1, "b"]}
    assert decode_batch(encode_batch(batch)) == batch
    old = orjson.dumps({"receiver": "sigil", "transport": "http", "tenant": "t", "headers": {}}) + b"\n"
    assert decode_batch(old + encode_batch(_batch(1)).partition(b"\n")[2]) == Batch(
        [Record(id="g0")], Context(receiver="sigil", transport="http", tenant="t")
    )


def test_debug_summary_mentions_scores() -> None:
    assert summarize(_batch(1, 2, 1)).endswith("; scores=2 ratings=1")


async def test_exporters_without_a_place_drop_and_count(tmp_path: pathlib.Path) -> None:
    t = Telemetry()
    path = tmp_path / "out.jsonl"
    exporter = FileExporter(_settings("file", t), FileExporterConfig(path=str(path)))
    await exporter.start()
    await exporter.consume(_batch(scores=3))  # nothing left to write
    await exporter.consume(_batch(1, 2, 1))
    await exporter.shutdown()
    assert len(path.read_bytes().splitlines()) == 1
    dropped = t.exporter_dropped_items
    assert dropped.labels("file", "score", "unsupported")._value.get() == 5
    assert dropped.labels("file", "rating", "unsupported")._value.get() == 1


def test_api_base_url() -> None:
    def base(endpoint: str, api: str = "", insecure: bool = False) -> str:
        cfg = SigilExporterConfig(endpoint=endpoint, api_endpoint=api, tls=TlsConfig(insecure=insecure))
        return api_base_url(cfg)

    assert base("https://sigil.example.net/") == "https://sigil.example.net"
    assert base("sigil.example.net:443") == "https://sigil.example.net:443"
    assert base("127.0.0.1:4317", insecure=True) == "http://127.0.0.1:4317"
    assert base("127.0.0.1:4317", "http://127.0.0.1:8080/prefix/") == "http://127.0.0.1:8080/prefix"


async def test_sigil_exporter_counts_refused_scores_and_ratings(sigil_backend: FakeSigilBackend) -> None:
    t = Telemetry()
    sigil_backend.score_lookup = True
    sigil_backend.rating_items.append(("c", {"rating_id": "r0", "rating": "CONVERSATION_RATING_VALUE_GOOD"}))
    cfg = SigilExporterConfig(
        endpoint=f"http://127.0.0.1:{sigil_backend.http_port}", protocol="http", forward_tenant=True
    )
    exporter = SigilExporter(_settings("sigil", t), cfg)
    await exporter.start()
    batch = _batch(records=1, scores=2, ratings=2)
    batch.records[0].kind = Kind.LLM
    batch.records[0].provider, batch.records[0].model = "openai", "gpt-4o"
    batch.scores[1].generation_id = "unknown"
    batch.scores[1].evaluator_id = batch.scores[0].evaluator_id = "e"
    batch.scores[1].evaluator_version = batch.scores[0].evaluator_version = "1"
    await exporter.consume(batch)
    await exporter.shutdown()
    paths = [r.path for r in sigil_backend.requests]
    assert paths == [
        "/api/v1/generations:export",  # first: Sigil accepts scores only for generations it has
        "/api/v1/scores:export",
        "/api/v1/conversations/c/ratings",
        "/api/v1/conversations/c/ratings",
    ]
    assert [s["score_id"] for s in sigil_backend.score_items] == ["s0"]
    assert t.exporter_sent_items.labels("sigil", "score")._value.get() == 1
    assert t.exporter_dropped_items.labels("sigil", "score", "rejected")._value.get() == 1
    assert t.exporter_sent_items.labels("sigil", "rating")._value.get() == 1  # r1
    assert t.exporter_dropped_items.labels("sigil", "rating", "conflict")._value.get() == 1  # r0
    assert {k.lower(): v for k, v in sigil_backend.requests[1].headers.items()}["x-scope-orgid"] == "team-a"


def test_rating_store_is_bounded_and_keeps_counts() -> None:
    store = RatingStore(RatingsConfig(max_conversations=2, max_ratings_per_conversation=2))
    for i in range(3):
        store.add("t", Rating(id=f"a{i}", conversation_id="a", created_ns=i))
    assert store.get("t", "a0") is None  # forgotten: only the two newest stay
    assert [r.id for r in store.page("t", "a", 10, 0)[0]] == ["a2", "a1"]
    assert store.summary("t", "a").total == 3  # the summary still counts it
    store.add("t", Rating(id="b0", conversation_id="b", value=RatingValue.BAD))
    store.add("t", Rating(id="c0", conversation_id="c"))  # evicts the least recently rated: a
    assert store.get("t", "a2") is None and store.summary("t", "a").total == 0
    assert store.get("t", "b0") is not None
    assert store.summary("t", "b").bad == 1
    assert store.get("other", "b0") is None  # tenants are apart
    assert parse_page("", "") == (50, 0)
    assert parse_page("500", "3") == (200, 3)


async def test_a_refused_score_request_does_not_hold_up_ratings(sigil_backend: FakeSigilBackend) -> None:
    t = Telemetry()
    sigil_backend.http_status = lambda n: 400 if n == 0 else None  # e.g. a March server and SDK fields
    cfg = SigilExporterConfig(
        endpoint=f"127.0.0.1:{sigil_backend.grpc_port}",
        api_endpoint=f"http://127.0.0.1:{sigil_backend.http_port}",
        tls=TlsConfig(insecure=True),
    )
    exporter = SigilExporter(_settings("sigil", t), cfg)
    await exporter.start()
    await exporter.consume(_batch(scores=2, ratings=1))
    await exporter.shutdown()
    assert [r.path for r in sigil_backend.requests] == ["/api/v1/scores:export", "/api/v1/conversations/c/ratings"]
    assert t.exporter_dropped_items.labels("sigil", "score", "rejected")._value.get() == 2
    assert t.exporter_sent_items.labels("sigil", "rating")._value.get() == 1
    assert t.exporter_failed.labels("sigil", "previous_part_failed")._value.get() == 0
