"""LumiqTrace ``POST /v1/ingest`` NDJSON events -> records (the receiving direction).

One event is one model call; LumiqTrace has no content fields. ``docs/mapping.md``
has the field table. The rules this module chose where the wire fact sheet says "unknown":

* **Validation** (:func:`decode_ndjson`): the 15 required fields of the docs, typed; enums as
  documented, with ``operation`` the union of both doc pages (``chat|embed|image|tts|tool|agent|
  custom``). Token counts must be non-negative integers and ``latency_ms``/``ttft_ms``/``cost_usd``
  non-negative numbers. Ids must be non-empty; ``event_id`` need not be a UUID. A ``timestamp``
  is anything ``datetime.fromisoformat`` reads; without an offset it is taken as UTC. ``null``
  for an optional field means absent. The first problem fails the whole batch
  (:class:`LumiqValidationError` names the 1-based line and the field).
* **Unknown keys** are accepted and kept in ``Record.extra["lumiqtrace.unknown.<key>"]``, and
  re-emitted after the known fields, so a LumiqTrace -> LumiqTrace trip keeps them.
* **Kind** from ``operation``: chat/image/tts -> LLM, embed -> EMBEDDING, tool -> TOOL,
  agent -> AGENT; ``custom`` follows ``span_kind`` (agent/tool; planning, handoff, retriever,
  guardrail -> OTHER) and is LLM otherwise, since every event is a model call.
* **Tokens**: ``cached_tokens`` are "input tokens served from the cache", a part of
  ``input_tokens``, so decoded usage has ``input_includes_cache=True``. Encoding a record whose
  input excludes the cache sends ``input + cache_read + cache_write``. Unknown input or output
  counts are sent as 0 (both are required) and counted in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final

from gateway.formats.lumiqtrace.schema import (
    EXTRA_SPAN_KIND,
    EXTRA_UNKNOWN,
    MAX_EVENTS,
    STATUSES_IN,
    LumiqValidationError,
    validate_event,
)
from gateway.model import Kind, Record, Usage

_OPERATION_KINDS: Final = {
    "chat": Kind.LLM,
    "image": Kind.LLM,
    "tts": Kind.LLM,
    "embed": Kind.EMBEDDING,
    "tool": Kind.TOOL,
    "agent": Kind.AGENT,
}
_SPAN_KIND_KINDS: Final = {
    "agent": Kind.AGENT,
    "tool": Kind.TOOL,
    "planning": Kind.OTHER,
    "handoff": Kind.OTHER,
    "retriever": Kind.OTHER,
    "guardrail": Kind.OTHER,
}


def decode_ndjson(body: bytes, *, max_events: int = MAX_EVENTS) -> list[Record]:
    """Records for a decompressed ``/v1/ingest`` body; blank lines are skipped."""
    lines = [(number, line) for number, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    if len(lines) > max_events:
        raise LumiqValidationError(f"Max {max_events} events per batch")
    return [_record(*validate_event(number, line)) for number, line in lines]


def _kind(operation: str, span_kind: str | None) -> Kind:
    if operation in _OPERATION_KINDS:
        return _OPERATION_KINDS[operation]
    return _SPAN_KIND_KINDS.get(span_kind or "", Kind.LLM)


def _record(v: Mapping[str, Any], unknown: Mapping[str, Any]) -> Record:
    start_ns: int = v["timestamp"]
    rec = Record(
        kind=_kind(v["operation"], v.get("span_kind")),
        id=v["event_id"],
        trace_id=v["trace_id"],
        span_id=v["span_id"],
        parent_span_id=v.get("parent_span_id", ""),
        operation=v["operation"],
        session_id=v.get("session_id", ""),
        user_id=v.get("user_id", ""),
        provider=v["provider"],
        model=v["model"],
        stream=v["stream"],
        start_ns=start_ns,
        # Exact arithmetic: a latency the encoder wrote from ns decodes to those ns again.
        end_ns=start_ns + round(Fraction(v["latency_ms"]) * 1_000_000),
        ttft_ms=v.get("ttft_ms"),
        status=STATUSES_IN[v["status"]],
        error_message=v.get("error_message", ""),
        error_type=v.get("error_code", ""),
        stop_reason=v.get("finish_reason", ""),
        usage=Usage(
            input_tokens=v["input_tokens"],
            output_tokens=v["output_tokens"],
            cache_read_input_tokens=v.get("cached_tokens"),
            input_includes_cache=True,
        ),
        cost_usd=v["cost_usd"],
        tags=v.get("tags", {}),
        environment=v["environment"],
        sdk_version=v["sdk_version"],
        prompt_hash=v.get("prompt_hash", ""),
        tools_used=v.get("tools_used", []),
        eval_scores=v.get("eval_scores", {}),
    )
    if "span_kind" in v:
        rec.extra[EXTRA_SPAN_KIND] = v["span_kind"]
    for key, value in unknown.items():
        rec.extra[EXTRA_UNKNOWN + key] = value
    return rec
