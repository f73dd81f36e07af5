"""Scores ↔ LumiqTrace ``eval_scores``: the pure mapping, and the rule for score ids.

LumiqTrace carries evaluations inline, as ``eval_scores: {name: number}`` on the event they
judge; Sigil and the gateway carry them as :class:`~gateway.model.Score` items beside the
records. The rule, both ways:

* **eval_scores → scores** (:func:`scores_from_eval_scores`, for the LumiqTrace receiver): each
  finite entry of a record that has an id becomes a number score on that record's id, with
  ``evaluator_id`` ``lumiqtrace``, ``evaluator_version`` ``1``, ``key`` = the entry's name, the
  record's conversation, trace and span ids, and ``source_kind`` ``lumiqtrace``. Its id is
  :func:`derived_score_id` of (``lumiqtrace``, record id, name), so a replayed event yields the
  same score and the backend ignores the resend.
* **scores → eval_scores** (:func:`merge_into_eval_scores`, for the LumiqTrace exporter): a score
  lands on the record whose id is its ``generation_id`` in the same batch, under its ``key``;
  a bool becomes 1 or 0, a number stays. What has no place is reported, never an error:
  ``no_event`` (its record is not in the batch: LumiqTrace has no standalone scores),
  ``string_value`` (LumiqTrace scores are numbers), ``not_finite``, and ``duplicate_key`` (the
  record already has that name: what the event carried, then the first score, wins). A score
  made from an ``eval_scores`` entry merges back onto the same name and value, so a LumiqTrace →
  LumiqTrace round trip is unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable

from gateway.model import Record, Score, derived_score_id

LUMIQTRACE_EVALUATOR = "lumiqtrace"
LUMIQTRACE_EVALUATOR_VERSION = "1"


def scores_from_eval_scores(records: Iterable[Record]) -> list[Score]:
    """The scores the records' ``eval_scores`` hold (see the module docstring)."""
    out = []
    for r in records:
        if not r.id:
            continue  # a score needs the id of what it scores
        for name, value in r.eval_scores.items():
            if not math.isfinite(value):
                continue
            out.append(
                Score(
                    id=derived_score_id(LUMIQTRACE_EVALUATOR, r.id, name),
                    generation_id=r.id,
                    evaluator_id=LUMIQTRACE_EVALUATOR,
                    evaluator_version=LUMIQTRACE_EVALUATOR_VERSION,
                    key=name,
                    value=float(value),
                    conversation_id=r.conversation_id,
                    trace_id=r.trace_id,
                    span_id=r.span_id,
                    source_kind=LUMIQTRACE_EVALUATOR,
                )
            )
    return out


def merge_into_eval_scores(records: list[Record], scores: Iterable[Score]) -> tuple[list[Record], Counter[str]]:
    """The records with the scores added to their ``eval_scores`` (see the module docstring), and
    what had no place, by reason. Inputs are not changed: a record that gains scores is a copy,
    since other exporters may be holding the same record."""
    by_id = {r.id: r for r in records if r.id}
    added: dict[str, dict[str, float]] = {}
    dropped: Counter[str] = Counter()
    for s in scores:
        record = by_id.get(s.generation_id)
        if record is None:
            dropped["no_event"] += 1
            continue
        if isinstance(s.value, str):
            dropped["string_value"] += 1
            continue
        value = float(s.value)
        if not math.isfinite(value):
            dropped["not_finite"] += 1
            continue
        names = added.setdefault(record.id, {})
        current = record.eval_scores.get(s.key, names.get(s.key))
        if current is None:
            names[s.key] = value
        elif current != value:  # the same value under the same name is the same score: no loss
            dropped["duplicate_key"] += 1
    out = [
        dataclasses.replace(r, eval_scores={**r.eval_scores, **added[r.id]}) if added.get(r.id) else r for r in records
    ]
    return out, dropped
