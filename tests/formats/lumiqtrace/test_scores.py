"""LumiqTrace eval_scores ↔ scores: the mapping both ways and its ids."""

from __future__ import annotations

import copy
import hashlib

from gateway.formats.lumiqtrace.scores import merge_into_eval_scores, scores_from_eval_scores
from gateway.model import Record, Score, derived_score_id


def _event(rid: str, **scores: float) -> Record:
    return Record(id=rid, conversation_id="sess", trace_id="tr", span_id="sp", eval_scores=dict(scores))


def test_eval_scores_become_scores_with_stable_ids() -> None:
    records = [_event("e1", faithfulness=0.94, relevance=1.0, broken=float("nan")), _event("", orphan=1.0)]
    scores = scores_from_eval_scores(records)
    assert [s.key for s in scores] == ["faithfulness", "relevance"]
    first = scores[0]
    assert first == Score(
        id="sc_" + hashlib.sha1(b"lumiqtrace|e1|faithfulness").hexdigest()[:24],
        generation_id="e1",
        evaluator_id="lumiqtrace",
        evaluator_version="1",
        key="faithfulness",
        value=0.94,
        conversation_id="sess",
        trace_id="tr",
        span_id="sp",
        source_kind="lumiqtrace",
    )
    assert scores_from_eval_scores(records) == scores  # a replay maps to the same ids
    assert derived_score_id("a", "b") == "sc_" + hashlib.sha1(b"a|b").hexdigest()[:24]


def test_scores_merge_into_their_events() -> None:
    records = [_event("g1", kept=0.5), _event("g2")]
    scores = [
        Score(id="1", generation_id="g1", key="json_valid", value=True),
        Score(id="2", generation_id="g1", key="kept", value=0.9),  # the event's own value wins
        Score(id="3", generation_id="g1", key="kept", value=0.5),  # the same value: nothing lost
        Score(id="4", generation_id="g2", key="label", value="relevant"),
        Score(id="5", generation_id="g2", key="regex_match", value=False),
        Score(id="6", generation_id="g2", key="inf", value=float("inf")),
        Score(id="7", generation_id="elsewhere", key="x", value=1.0),
    ]
    before = copy.deepcopy(records)
    merged, dropped = merge_into_eval_scores(records, scores)
    assert records == before  # the inputs are untouched: other exporters may hold them
    assert merged[0].eval_scores == {"kept": 0.5, "json_valid": 1.0}
    assert merged[1].eval_scores == {"regex_match": 0.0}
    assert dropped == {"duplicate_key": 1, "string_value": 1, "not_finite": 1, "no_event": 1}
    assert merge_into_eval_scores(records, [])[0][0] is records[0]


def test_lumiqtrace_round_trip_is_unchanged() -> None:
    records = [_event("e1", faithfulness=0.94, relevance=1.0)]
    assert merge_into_eval_scores(records, scores_from_eval_scores(records)) == (records, {})
