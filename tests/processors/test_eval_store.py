"""The evaluation store file: shared per path, persisted atomically, re-read after another
process's write, and refusing what it cannot read or write with the path in the message."""

from __future__ import annotations

import json
import pathlib

import pytest

from gateway.config import load
from gateway.errors import ConfigError
from gateway.processors import _eval_store
from gateway.processors._eval_store import Attachment, EvalStore, StoreError, open_store


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
