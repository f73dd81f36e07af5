"""Sigil scores and ratings on the wire: Go's decoder, the server's texts, Go's encoder
(:mod:`gateway.formats.sigil.go_json`, tested here through the shapes that use it)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.formats.sigil import go_json as gj
from gateway.formats.sigil import scores as ss
from gateway.model import Rating, RatingValue, Score

NOW = 1_700_000_000_123_456_789


def _one(item: dict[str, Any]) -> Score | ss.ScoreResult:
    (out,) = ss.decode_scores_request(orjson.dumps({"scores": [item]}), now_ns=NOW)
    return out


BASE = {"score_id": "s1", "generation_id": "g1", "evaluator_id": "e", "evaluator_version": "1", "score_key": "k"}


def test_march_shape_decodes_trimmed() -> None:
    score = _one(
        {
            **BASE,
            "score_id": " s1 ",
            "value": {"number": 3},
            "conversation_id": " c1",
            "run_id": "run",
            "rule_id": "r",
            "passed": False,
            "explanation": " why ",
            "metadata": {"n": [1, {"x": None}]},
            "created_at": "2026-03-01T00:00:00Z",
            "source": {"kind": " online_rule ", "id": "r"},
        }
    )
    assert score == Score(
        id="s1",
        generation_id="g1",
        evaluator_id="e",
        evaluator_version="1",
        key="k",
        value=3.0,
        passed=False,
        explanation="why",
        metadata={"n": [1, {"x": None}]},
        created_ns=1772323200 * 10**9,
        conversation_id="c1",
        rule_id="r",
        run_id="run",
        source_kind="online_rule",
        source_id="r",
    )


def test_sdk_shape_trial_stands_in_for_generation() -> None:
    item = {**BASE, "generation_id": "", "trial_id": "t1", "value": {"string": "relevant"}}
    item |= {"experiment_id": "x", "test_case_id": "tc", "grader_conversation_id": "gc"}
    item |= {"grader_generation_id": "gg", "grader_trace_id": "gt"}
    score = _one(item)
    assert isinstance(score, Score)
    assert (score.generation_id, score.trial_id, score.value, score.created_ns) == ("", "t1", "relevant", NOW)
    assert (score.experiment_id, score.test_case_id) == ("x", "tc")
    assert (score.grader_conversation_id, score.grader_generation_id, score.grader_trace_id) == ("gc", "gg", "gt")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"score_id": ""}, "score_id is required"),
        ({"generation_id": "  "}, "generation_id is required"),
        ({"evaluator_id": None}, "evaluator_id is required"),
        ({"evaluator_version": ""}, "evaluator_version is required"),
        ({"score_key": "\t"}, "score_key is required"),
        ({"value": None}, "score value is required"),
        ({"value": {"number": None}}, "score value is required"),
        ({"value": {"bool": True, "string": ""}}, "score value must contain exactly one type"),
    ],
)
def test_item_errors_in_the_servers_order(change: dict[str, Any], error: str) -> None:
    item = {**BASE, "value": {"bool": True}, **change}
    assert _one(item) == ss.ScoreResult(str(item["score_id"] or ""), False, error)


def test_go_decoding_rules() -> None:
    # Case-insensitive keys, the last of repeated keys, null keeping a string, objects merging.
    body = (
        b'{"scores": [{"SCORE_ID": "a", "score_id": "b", "Generation_Id": "g", "generation_id": null,'
        b' "evaluator_id": "e", "evaluator_version": "1", "score_key": "k",'
        b' "value": {"number": 1}, "value": {"number": null, "bool": false}}]} trailing garbage'
    )
    (score,) = ss.decode_scores_request(body, now_ns=NOW)
    assert isinstance(score, Score)
    assert (score.id, score.generation_id, score.value) == ("b", "g", False)
    zero_time = {**BASE, "value": {"bool": True}, "created_at": "0001-01-01T00:00:00Z"}
    assert _one(zero_time).created_ns == NOW  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n ",
        b"[]",
        b'"scores"',
        b'{"scores": [1]}',
        b'{"scores": {"a": 1}}',
        b'{"extra": 1}',
        b'{"scores": [{"value": {"integer": 1}}]}',
        b'{"scores": [{"source": {"kind": 1}}]}',
        b'{"scores": [{"passed": "true"}]}',
        b'{"scores": [{"metadata": []}]}',
        b'{"scores": [{"value": {"number": 1e400}}]}',
        b'{"scores": [{"value": {"number": NaN}}]}',
        b'{"scores": [{"created_at": "2026-03-01 00:00:00Z"}]}',
        b'{"scores": [',
    ],
)
def test_invalid_bodies(body: bytes) -> None:
    with pytest.raises(ss.InvalidBody):
        ss.decode_scores_request(body)


def test_reply_is_go_json_with_newline() -> None:
    results = [ss.ScoreResult("a<b", True), ss.ScoreResult("c", False, "score_key is required")]
    assert ss.encode_scores_response(results) == (
        b'{"results":[{"score_id":"a\\u003cb","accepted":true},'
        b'{"score_id":"c","accepted":false,"error":"score_key is required"}]}\n'
    )
    assert ss.encode_scores_response([]) == b'{"results":[]}\n'


def test_exporter_sends_only_what_is_set_and_reads_replies() -> None:
    full = Score(
        id="s",
        generation_id="g",
        evaluator_id="e",
        evaluator_version="1",
        key="k",
        value=True,
        passed=True,
        metadata={"m": 1},
        created_ns=1772323200 * 10**9 + 5_000_000,
        run_id="r",
        source_kind="online_rule",
    )
    assert orjson.loads(ss.encode_scores_request([full, Score(id="t", trial_id="x", value=0.5)])) == {
        "scores": [
            {
                "score_id": "s",
                "evaluator_id": "e",
                "evaluator_version": "1",
                "score_key": "k",
                "value": {"bool": True},
                "generation_id": "g",
                "run_id": "r",
                "passed": True,
                "metadata": {"m": 1},
                "created_at": "2026-03-01T00:00:00.005Z",
                "source": {"kind": "online_rule"},
            },
            {
                "score_id": "t",
                "evaluator_id": "",
                "evaluator_version": "",
                "score_key": "",
                "value": {"number": 0.5},
                "trial_id": "x",
            },
        ]
    }
    # What the gateway sends, its receiver reads back unchanged.
    (back,) = ss.decode_scores_request(ss.encode_scores_request([full]), now_ns=NOW)
    assert back == full
    reply = b'{"results":[{"score_id":"s","accepted":false,"status":"duplicate"},{"score_id":"t","error":"x"}]}'
    assert ss.decode_scores_response(reply) == [
        ss.ScoreResult("s", False, "", "duplicate"),
        ss.ScoreResult("t", False, "x"),
    ]
    assert ss.decode_scores_response(b"") == []
    with pytest.raises(ValueError, match="invalid JSON"):
        ss.decode_scores_response(b"<html>")


def test_rating_decode_and_metadata_size_as_go_marshals_it() -> None:
    body = {"rating_id": " r1 ", "rating": " CONVERSATION_RATING_VALUE_BAD ", "comment": " c ", "source": "web"}
    rating = ss.decode_rating(" conv ", orjson.dumps(body), now_ns=NOW)
    assert rating == Rating(
        id="r1", conversation_id="conv", value=RatingValue.BAD, comment="c", source="web", created_ns=NOW - 789
    )
    with pytest.raises(ss.RatingInvalid, match=r"^rating id is required$"):
        ss.decode_rating("c", b"   ")
    # {"k":"…"} is 8 bytes of structure; each "<" is 6 bytes in Go's escaping.
    fits = {"rating_id": "r", "rating": "CONVERSATION_RATING_VALUE_GOOD", "metadata": {"k": "<" * 2729 + "xx"}}
    assert len(gj.dumps(fits["metadata"], is_map=True)) == 16384
    ss.decode_rating("c", orjson.dumps(fits))
    fits["metadata"] = {"k": "<" * 2729 + "xxx"}
    with pytest.raises(ss.RatingInvalid, match=r"^metadata is too large$"):
        ss.decode_rating("c", orjson.dumps(fits))


def test_rating_reply_shape() -> None:
    rating = Rating(id="r1", conversation_id="c", value=RatingValue.GOOD, created_ns=1772323200 * 10**9)
    summary = ss.RatingSummary()
    summary.add(rating)
    assert ss.encode_rating_response(rating, summary) == (
        b'{"rating":{"rating_id":"r1","conversation_id":"c","rating":"CONVERSATION_RATING_VALUE_GOOD",'
        b'"created_at":"2026-03-01T00:00:00Z"},"summary":{"total_count":1,"good_count":1,"bad_count":0,'
        b'"latest_rating":"CONVERSATION_RATING_VALUE_GOOD","latest_rated_at":"2026-03-01T00:00:00Z",'
        b'"has_bad_rating":false}}\n'
    )
    assert orjson.loads(ss.encode_rating_request(rating)) == {
        "rating_id": "r1",
        "rating": "CONVERSATION_RATING_VALUE_GOOD",
    }
    assert ss.same_rating(rating, Rating(id="r1", conversation_id="c", metadata={}, created_ns=5))
    assert not ss.same_rating(rating, Rating(id="r1", conversation_id="c", metadata={"a": 1}))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (-2.25, "-2.25"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-07"),
        (123456789.125, "123456789.125"),
        (7, "7"),
    ],
)
def test_go_float_format(value: float, text: str) -> None:
    assert gj.dumps(value) == text


def test_go_json_maps_sorted_structs_in_order() -> None:
    value = {"z": 1, "metadata": {"b": {"d": 1, "c": 2}, "a": "\u2028&"}}
    assert gj.dumps(value) == '{"z":1,"metadata":{"a":"\\u2028\\u0026","b":{"c":2,"d":1}}}'


def test_agento11y_report_role_is_accepted_not_forwarded() -> None:
    # agento11y SDK 0.21.0 sends report_role; refusing it made the whole request a 400.
    score = _one({**BASE, "value": {"bool": True}, "report_role": "grader"})
    assert isinstance(score, Score) and score.value is True
    assert b"report_role" not in ss.encode_scores_request([score])
