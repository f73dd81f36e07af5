"""The evaluation store file: shared per path, persisted atomically, re-read after another
process's write, and refusing what it cannot read or write with the path in the message."""

from __future__ import annotations

import json
import pathlib

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import ConfigError
from gateway.evaluation import store as _eval_store
from gateway.evaluation.store import Attachment, EvalStore, StoreError, open_store
from gateway.model import Batch, Context, Kind, Message, Part, PartKind, Record, Role
from gateway.processors.evaluate import EvaluateConfig, EvaluateProcessor
from gateway.telemetry import Telemetry


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def test_one_store_per_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    assert open_store(str(path)) is open_store(str(tmp_path / "." / "s.json"))
    assert open_store(str(path)) is not open_store(str(tmp_path / "other.json"))
    assert not path.exists()  # opening creates nothing


def test_writes_persist_and_other_processes_writes_are_read(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data" / "s.json"
    mine = open_store(str(path))
    mine.put("team-a", "rules", "r1", {"rule_id": "r1", "evaluator_ids": ["e"]})
    assert json.loads(path.read_text())["tenants"]["team-a"]["rules"]["r1"]["evaluator_ids"] == ["e"]
    assert [p.name for p in path.parent.iterdir()] == ["s.json"]  # no temporary file left behind
    other = EvalStore(str(path))  # another worker process
    assert other.stored("team-a", "rules") == mine.stored("team-a", "rules")
    other.delete("team-a", "rules", "r1")
    other.put("team-b", "evaluators", "e", {"evaluator_id": "e"})
    before = mine.generation
    monkeypatch.setattr(_eval_store, "RELOAD_INTERVAL", 0.0)
    mine.refresh()
    assert mine.generation > before
    assert mine.stored("team-a", "rules") == {} and list(mine.stored("team-b", "evaluators")) == ["e"]


def test_merged_marks_config_definitions_read_only(tmp_path: pathlib.Path) -> None:
    store = EvalStore(str(tmp_path / "s.json"))
    store.attach("evaluate", Attachment({"y": {"evaluator_id": "y"}}, {}, {"p": {"id": "p", "name": "p", "type": "t"}}))
    store.put("t1", "evaluators", "a", {"evaluator_id": "a"})
    assert store.merged("t1", "evaluators") == [
        {"evaluator_id": "a", "read_only": False},
        {"evaluator_id": "y", "read_only": True},
    ]
    assert store.merged("t2", "evaluators") == [{"evaluator_id": "y", "read_only": True}]
    assert store.providers() == [{"id": "p", "name": "p", "type": "t"}]
    store.detach("evaluate")
    assert store.providers() == [] and store.get("t1", "evaluators", "y") is None


def test_unreadable_and_unwritable_stores(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StoreError, match="cannot read the evaluation store"):
        EvalStore(str(bad))
    raw = {
        "receivers": {"sigil": {"eval_api": {"store": str(bad)}}},
        "processors": {"evaluate": {"api_store": str(bad)}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["debug"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(raw, environ={})
    assert [p.split(": ")[0] for p in info.value.problems] == [
        "receivers::sigil::eval_api::store",
        "processors::evaluate::api_store",
    ]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    store = EvalStore(str(blocker / "s.json"))  # its directory cannot exist
    with pytest.raises(StoreError, match="cannot write the evaluation store"):
        store.put("t", "rules", "r", {"rule_id": "r"})
    assert store.stored("t", "rules") == {}  # the failed write left nothing behind


async def test_stored_rules_apply_on_the_next_batch_and_broken_ones_are_skipped(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    raw = {
        "receivers": {"sigil": {"http": {}}},
        "processors": {
            "evaluate": {
                "evaluators": [{"id": "digits", "kind": "regex", "config": {"pattern": "\\d"}}],
                "api_store": str(path),
            }
        },
        "exporters": {"debug": {}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["debug"]}}},
    }
    cfg = load(raw, environ={}).processors[ComponentId("evaluate")].config
    assert isinstance(cfg, EvaluateConfig)
    sink = Sink()
    t = Telemetry()
    proc = EvaluateProcessor(CreateSettings(id=ComponentId("evaluate"), telemetry=t), cfg, sink)
    await proc.start()

    def batch(tenant: str) -> Batch:
        out = [Message(Role.ASSISTANT, [Part(PartKind.TEXT, text="42")])]
        return Batch([Record(kind=Kind.LLM, id="g1", conversation_id="c1", output=out)], Context(tenant=tenant))

    await proc.consume(batch("team-a"))
    assert sink.batches[-1].scores == []  # no rule yet
    store = open_store(str(path))
    store.put(
        "team-a",
        "evaluators",
        "short",
        {
            "evaluator_id": "short",
            "version": "3",
            "kind": "heuristic",
            "config": {"version": "v2", "rules": {"max_length": 5}},
        },
    )
    good = {
        "rule_id": "good",
        "enabled": True,
        "selector": "all_assistant_generations",
        "sample_rate": 1.0,
        "match": {},
        "evaluator_ids": ["digits", "short"],
    }
    store.put("team-a", "rules", "good", good)
    store.put("team-a", "rules", "bad.selector", {**good, "rule_id": "bad.selector", "selector": "everything"})
    store.put("team-a", "rules", "bad.ids", {**good, "rule_id": "bad.ids", "evaluator_ids": [["x"]]})
    store.put("team-a", "rules", "bad.rate", {**good, "rule_id": "bad.rate", "sample_rate": "all"})
    store.put("team-a", "rules", "off", {**good, "rule_id": "off", "enabled": False})
    await proc.consume(batch("team-a"))
    got = {(s.rule_id, s.evaluator_id, s.evaluator_version, s.key, s.passed) for s in sink.batches[-1].scores}
    assert got == {("good", "digits", "1", "regex_match", True), ("good", "short", "3", "heuristic_pass", True)}
    await proc.consume(batch("team-b"))  # another tenant's rules are its own
    assert sink.batches[-1].scores == []
    store.delete("team-a", "rules", "good")
    await proc.consume(batch("team-a"))
    assert sink.batches[-1].scores == []
    await proc.shutdown()
    assert store.providers() == []  # detached
