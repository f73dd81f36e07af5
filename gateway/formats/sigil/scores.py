"""Sigil scores and conversation ratings on the wire (``wire/sigil.md`` §8), pure translation.

Unlike generations these routes are plain JSON decoded by Go's ``encoding/json`` with
``DisallowUnknownFields``, which :mod:`gateway.formats.sigil.go_json` reproduces: a type mismatch or
unknown key anywhere fails the whole body (the server's 400 ``invalid request body``). Item
validation then uses the server's exact texts.

Two score shapes are accepted: the March 2026 server's and SDK 0.9.3's newer one (``experiment_id``,
``trial_id``, ``test_case_id``, ``grader_*``; ``generation_id`` **or** ``trial_id``). Replies are
written as Go's ``json.Encoder`` writes them (struct field order, sorted map keys, HTML-safe
escaping, a trailing newline). The exporter side sends only the fields that are set, so a score
received in the March shape stays acceptable to a March server.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from typing import Any, Final

from gateway.formats.sigil import go_json as gj
from gateway.formats.sigil.common import format_timestamp
from gateway.formats.sigil.go_json import InvalidBody as InvalidBody  # callers catch it from here
from gateway.model import Rating, RatingValue, Score

SCORES_PATH = "/api/v1/scores:export"
RATINGS_PATH = "/api/v1/conversations/{}/ratings"  # the id URL-escaped with safe="", as the SDK does

# Column limits of the server's ratings store (bytes, as Go's len()).
MAX_CONVERSATION_ID = 255
MAX_RATING_ID = 128
MAX_GENERATION_ID = 255
MAX_RATER_ID = 255
MAX_SOURCE = 64
MAX_COMMENT = 4096
MAX_METADATA = 16 * 1024


# ConversationRatingValue names on the wire <-> the record's rating values.
_RATING_IN: Final = {
    "CONVERSATION_RATING_VALUE_GOOD": RatingValue.GOOD,
    "CONVERSATION_RATING_VALUE_BAD": RatingValue.BAD,
}
_RATING_OUT: Final = {value: name for name, value in _RATING_IN.items()}


class RatingInvalid(ValueError):
    """A rating the server would refuse with 400 and this text."""


@dataclasses.dataclass(slots=True)
class ScoreResult:
    """One ``results[i]`` of a score export reply."""

    score_id: str
    accepted: bool
    error: str = ""
    status: str = ""  # SDK 0.9.3 servers: accepted | duplicate | rejected (never sent by us)


# -- the request structs (Go's field names and types) -------------------------------------

_VALUE = {"number": gj.NUMBER, "bool": gj.BOOL, "string": gj.STRING}
_SOURCE = {"kind": gj.STRING, "id": gj.STRING}
_SCORE_STRINGS = (
    "score_id",
    "generation_id",
    "conversation_id",
    "trace_id",
    "span_id",
    "evaluator_id",
    "evaluator_version",
    "rule_id",
    "run_id",
    "experiment_id",
    "trial_id",
    "test_case_id",
    "grader_conversation_id",
    "grader_generation_id",
    "grader_trace_id",
    "score_key",
    "explanation",
)
_SCORE: dict[str, Any] = {
    **dict.fromkeys(_SCORE_STRINGS, gj.STRING),
    "value": _VALUE,
    "passed": gj.BOOL,
    "metadata": gj.MAP,
    "created_at": gj.TIME,
    "source": _SOURCE,
    # agento11y SDK 0.21.0 adds it; no server schema we know has it, so it is accepted (a 400
    # would refuse the whole request) and not forwarded (the March server would refuse it).
    "report_role": gj.STRING,
}
_RATING: dict[str, Any] = {
    "rating_id": gj.STRING,
    "rating": gj.STRING,
    "comment": gj.STRING,
    "metadata": gj.MAP,
    "generation_id": gj.STRING,
    "rater_id": gj.STRING,
    "source": gj.STRING,
}


# -- scores, receiver side -------------------------------------------------------------------


def decode_scores_request(body: bytes, *, now_ns: int | None = None) -> list[Score | ScoreResult]:
    """The items of an export request: a Score, or a ScoreResult carrying its rejection.

    Raises InvalidBody when the server would answer 400 ``invalid request body``.
    """
    found, value = gj.first_value(body)
    if not found:
        raise InvalidBody("empty body")
    now = time.time_ns() if now_ns is None else now_ns
    return [_score(item, now) for item in _request(value)]


def _request(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, gj.Pairs):
        raise InvalidBody("expected an object")
    items: list[dict[str, Any]] = []
    for key, raw in value:
        if key.lower() != "scores":
            raise InvalidBody(f"unknown field {key!r}")
        if raw is None:
            items = []
            continue
        if not isinstance(raw, list) or isinstance(raw, gj.Pairs):
            raise InvalidBody("scores: expected an array")
        # Go decodes a repeated array into the existing slice, element by element.
        items = [gj.decode_struct(item, _SCORE, items[i] if i < len(items) else {}) for i, item in enumerate(raw)]
    return items


_ZERO_TIME_NS = -62135596800 * 1_000_000_000  # Go's time.Time{}: "unset", the server stamps now


def _score(item: dict[str, Any], now_ns: int) -> Score | ScoreResult:
    raw_id = item.get("score_id") or ""
    s = {name: (item.get(name) or "").strip() for name in _SCORE_STRINGS}
    # The server's order of checks; SDK 0.9.3's shape lets a trial stand in for a generation.
    for name in ("score_id", "generation_id", "evaluator_id", "evaluator_version", "score_key"):
        if not s[name] and not (name == "generation_id" and s["trial_id"]):
            return ScoreResult(raw_id, False, f"{name} is required")
    value = item.get("value") or {}
    present = [v for v in (value.get("number"), value.get("bool"), value.get("string")) if v is not None]
    if not present:
        return ScoreResult(raw_id, False, "score value is required")
    if len(present) > 1:
        return ScoreResult(raw_id, False, "score value must contain exactly one type")
    created = item.get("created_at")
    source = item.get("source") or {}
    return Score(
        **{name: s[name] for name in _SCORE_STRINGS if name not in ("score_id", "score_key")},
        id=s["score_id"],
        key=s["score_key"],
        value=present[0],
        passed=item.get("passed"),
        metadata=item.get("metadata") or {},
        created_ns=now_ns if created is None or created == _ZERO_TIME_NS else created,
        source_kind=(source.get("kind") or "").strip(),
        source_id=(source.get("id") or "").strip(),
    )


def export_results(items: Iterable[Score | ScoreResult]) -> list[ScoreResult]:
    """The reply's results, in request order: valid items are accepted."""
    return [it if isinstance(it, ScoreResult) else ScoreResult(it.id, True) for it in items]


def encode_scores_response(results: list[ScoreResult]) -> bytes:
    """``{"results":[…]}`` + newline: ``accepted`` always present, ``error`` only when set."""
    out = []
    for r in results:
        item: dict[str, Any] = {"score_id": r.score_id, "accepted": r.accepted}
        if r.error:
            item["error"] = r.error
        out.append(item)
    return gj.dumps({"results": out}).encode() + b"\n"


# -- scores, exporter side -------------------------------------------------------------------


def encode_scores_request(scores: list[Score]) -> bytes:
    return json.dumps({"scores": [_score_item(s) for s in scores]}, separators=(",", ":")).encode()


def _score_item(s: Score) -> dict[str, Any]:
    value: dict[str, Any]
    if isinstance(s.value, bool):
        value = {"bool": s.value}
    elif isinstance(s.value, str):
        value = {"string": s.value}
    else:
        value = {"number": float(s.value)}
    out: dict[str, Any] = {
        "score_id": s.id,
        "evaluator_id": s.evaluator_id,
        "evaluator_version": s.evaluator_version,
        "score_key": s.key,
        "value": value,
    }
    for name in _SCORE_STRINGS:
        attr = getattr(s, name, None)
        if isinstance(attr, str) and attr and name not in out:
            out[name] = attr
    if s.passed is not None:
        out["passed"] = s.passed
    if s.metadata:
        out["metadata"] = s.metadata
    if s.created_ns is not None and (stamp := format_timestamp(s.created_ns)):
        out["created_at"] = stamp
    source = {k: v for k, v in (("kind", s.source_kind), ("id", s.source_id)) if v}
    if source:
        out["source"] = source
    return out


def decode_scores_response(body: bytes) -> list[ScoreResult]:
    """A score export reply, leniently (as the SDK reads it); an empty body means ``{}``."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("expected an object")
    results = []
    for entry in payload.get("results") or []:
        if isinstance(entry, dict):
            results.append(
                ScoreResult(
                    score_id=_text(entry.get("score_id")),
                    accepted=entry.get("accepted") is True,
                    error=_text(entry.get("error")),
                    status=_text(entry.get("status")),
                )
            )
    return results


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- ratings -------------------------------------------------------------------------------


def decode_rating(conversation_id: str, body: bytes, *, now_ns: int | None = None) -> Rating:
    """A rating POST body; raises InvalidBody (400 ``invalid request body``) or RatingInvalid."""
    found, value = gj.first_value(body)
    fields = gj.decode_struct(value, _RATING, {}) if found else {}
    s = {name: (fields.get(name) or "").strip() for name in _RATING if _RATING[name] == gj.STRING}
    metadata = fields.get("metadata")
    conv = conversation_id.strip()
    checks = (
        (not conv, "conversation id is required"),
        (len(conv.encode()) > MAX_CONVERSATION_ID, "conversation id is too long"),
        (not s["rating_id"], "rating id is required"),
        (len(s["rating_id"].encode()) > MAX_RATING_ID, "rating id is too long"),
        (
            s["rating"] not in _RATING_IN,
            "rating must be CONVERSATION_RATING_VALUE_GOOD or CONVERSATION_RATING_VALUE_BAD",
        ),
        (len(s["comment"].encode()) > MAX_COMMENT, "comment is too long"),
        (len(s["generation_id"].encode()) > MAX_GENERATION_ID, "generation id is too long"),
        (len(s["rater_id"].encode()) > MAX_RATER_ID, "rater id is too long"),
        (len(s["source"].encode()) > MAX_SOURCE, "source is too long"),
        (
            metadata is not None and len(gj.dumps(metadata, is_map=True).encode()) > MAX_METADATA,
            "metadata is too large",
        ),
    )
    for failed, message in checks:
        if failed:
            raise RatingInvalid(message)
    # Microseconds: Python 3.11's fromisoformat (the SDK's parser) reads at most six digits.
    now = time.time_ns() if now_ns is None else now_ns
    return Rating(
        id=s["rating_id"],
        conversation_id=conv,
        value=_RATING_IN[s["rating"]],
        comment=s["comment"],
        metadata=metadata or {},
        generation_id=s["generation_id"],
        rater_id=s["rater_id"],
        source=s["source"],
        created_ns=now - now % 1000,
    )


def check_conversation_id(conversation_id: str) -> str:
    """The trimmed id for a listing; raises RatingInvalid as the server does."""
    conv = conversation_id.strip()
    if not conv:
        raise RatingInvalid("conversation id is required")
    if len(conv.encode()) > MAX_CONVERSATION_ID:
        raise RatingInvalid("conversation id is too long")
    return conv


def same_rating(a: Rating, b: Rating) -> bool:
    """The server's idempotency test: everything the client sent, not the times."""
    return (
        a.conversation_id == b.conversation_id
        and a.generation_id == b.generation_id
        and a.value == b.value
        and a.comment == b.comment
        and a.rater_id == b.rater_id
        and a.source == b.source
        and gj.dumps(a.metadata, is_map=True) == gj.dumps(b.metadata, is_map=True)
    )


def rating_json(r: Rating) -> dict[str, Any]:
    """A rating as the server's ``ConversationRating`` struct marshals it."""
    out: dict[str, Any] = {"rating_id": r.id, "conversation_id": r.conversation_id}
    if r.generation_id:
        out["generation_id"] = r.generation_id
    out["rating"] = _RATING_OUT[r.value]
    if r.comment:
        out["comment"] = r.comment
    if r.metadata:
        out["metadata"] = r.metadata
    if r.rater_id:
        out["rater_id"] = r.rater_id
    if r.source:
        out["source"] = r.source
    out["created_at"] = format_timestamp(r.created_ns or 0)
    return out


@dataclasses.dataclass(slots=True)
class RatingSummary:
    total: int = 0
    good: int = 0
    bad: int = 0
    latest: RatingValue | None = None
    latest_ns: int = 0
    latest_bad_ns: int | None = None

    def add(self, r: Rating) -> None:
        self.total += 1
        stamp = r.created_ns or 0
        if r.value == RatingValue.BAD:
            self.bad += 1
            self.latest_bad_ns = stamp
        else:
            self.good += 1
        self.latest, self.latest_ns = r.value, stamp

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total_count": self.total, "good_count": self.good, "bad_count": self.bad}
        if self.latest is not None:
            out["latest_rating"] = _RATING_OUT[self.latest]
        out["latest_rated_at"] = format_timestamp(self.latest_ns)
        if self.latest_bad_ns is not None:
            out["latest_bad_at"] = format_timestamp(self.latest_bad_ns)
        out["has_bad_rating"] = self.bad > 0
        return out


def encode_rating_response(rating: Rating, summary: RatingSummary) -> bytes:
    return gj.dumps({"rating": rating_json(rating), "summary": summary.to_json()}).encode() + b"\n"


def encode_rating_list(ratings: list[Rating], next_cursor: int) -> bytes:
    body = {"items": [rating_json(r) for r in ratings], "next_cursor": str(next_cursor) if next_cursor else ""}
    return gj.dumps(body).encode() + b"\n"


def encode_rating_request(r: Rating) -> bytes:
    """The body the SDK sends for a rating (fields only when set)."""
    out: dict[str, Any] = {"rating_id": r.id, "rating": _RATING_OUT[r.value]}
    for key, value in (
        ("comment", r.comment),
        ("metadata", r.metadata),
        ("generation_id", r.generation_id),
        ("rater_id", r.rater_id),
        ("source", r.source),
    ):
        if value:
            out[key] = value
    return json.dumps(out, separators=(",", ":")).encode()
