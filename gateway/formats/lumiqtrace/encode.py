"""Records -> LumiqTrace ``POST /v1/ingest`` NDJSON events (the sending direction).

``docs/mapping.md`` has the field table; :mod:`.decode` the receiving rules. Chosen here:

* **Which records are sent** (:func:`encode_events`): LLM and EMBEDDING records always. Other
  kinds only when they carry a model and a token count (a LumiqTrace ``tool``/``agent`` event, or
  another format's span that really is a model call); the rest (tool executions, agent and
  workflow spans without usage) are dropped and counted as ``non_llm_kind``. An agent span whose
  usage is the sum of its children would be counted twice by LumiqTrace; no format decoded here
  produces one, but an OTLP ``invoke_agent`` span with aggregated usage would.
* **Provider**: ``openai``, ``azure``, ``azure.ai.openai``, ``azure_openai`` -> openai;
  ``anthropic`` -> anthropic; ``google``, ``gemini``, ``vertex``/``vertex_ai``, ``gcp.*`` ->
  google; anything else -> ``custom`` with the original name in tag ``provider`` (unless the
  record already has that tag). Claude on Bedrock or Vertex is therefore ``custom``/``google``
  respectively: the enum names who bills, not who trained the model.
* **Cost**: the record's ``cost_usd`` when it has a valid one; otherwise computed offline by
  :class:`~gateway.formats.pricing.PriceTable` from the record's original provider, model and
  usage. A call that cannot be priced (unknown model, no token count) is still sent, with
  ``cost_usd: 0`` **and tag ``cost_status: "unpriced"``**, and counted as ``cost_unpriced``;
  0 alone would read as "free".
* **event_id**: the record's id when it is a UUID (so a round trip keeps it); otherwise a UUIDv5
  of ``(trace_id, span_id, id)`` under a fixed namespace, so retries and replays of the same
  record produce the same id and LumiqTrace deduplicates them.
* **sdk_version** is the record's when it has one (``Record.sdk_version`` is LumiqTrace's field),
  else the gateway's; ``environment`` likewise falls back to the configured default; ``stream``
  to False. ``span_kind`` is sent only when it came from LumiqTrace (the sheet advises against
  sending it otherwise). Bodies are NDJSON without a trailing newline (whether one is allowed is
  unknown), at most 100 lines each, uncompressed (the exporter gzips).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from gateway.formats.lumiqtrace.schema import (
    EXTRA_SPAN_KIND,
    EXTRA_UNKNOWN,
    KNOWN_FIELDS,
    MAX_EVENTS,
    OPERATIONS,
    SPAN_KINDS,
    STATUSES_IN,
)
from gateway.formats.pricing import PriceTable
from gateway.formats.report import EncodeReport
from gateway.model import Kind, Record

ERROR_MESSAGE_MAX_CHARS: Final = 500  # "up to 500 characters" per the docs
# Fixed forever: changing it would give replays of old records new ids and defeat deduplication.
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1c3a52-9d3e-5b8a-9e27-4c1d0f6b2a71")

_STATUS_OUT: Final = {status: wire for wire, status in STATUSES_IN.items()}
_OPENAI: Final = frozenset({"openai", "azure", "azure.ai.openai", "azure_openai", "azure-openai"})
_GOOGLE: Final = frozenset(
    {"google", "gemini", "vertex", "vertex_ai", "vertexai", "google-vertex", "google_genai", "google-genai"}
)
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_SAFE: Final = 2**53 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def map_provider(provider: str) -> str:
    """The LumiqTrace provider enum value for a record's provider name."""
    name = provider.strip().lower()
    if name in _OPENAI:
        return "openai"
    if name == "anthropic":
        return "anthropic"
    if name in _GOOGLE or name.startswith("gcp."):
        return "google"
    return "custom"


def event_id(record: Record) -> str:
    """The record's id when it is a UUID, else a deterministic UUIDv5 of its identity."""
    if _UUID.fullmatch(record.id):
        return record.id
    parts: tuple[object, ...] = (record.trace_id, record.span_id, record.id)
    if not any(parts):
        # Nothing identifies the record: fall back to what it says, still stable across retries.
        parts = (record.start_ns, record.end_ns, record.provider, record.model, record.operation, record.name)
    return _uuid5("\x1f".join(str(p) for p in parts))


_NAMESPACE_BYTES: Final = EVENT_ID_NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))`` without the UUID object (a third of the time)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Events of a batch share a few days: the calendar part of the timestamp is worth caching.
_DATES: dict[int, str] = {}
_MAX_DATES: Final = 4096


def _iso_ms(ns: int) -> str:
    """RFC 3339 in UTC with milliseconds; OverflowError outside years 1 to 9999."""
    ms = ns // 1_000_000
    days, ms_of_day = divmod(ms, 86_400_000)
    date = _DATES.get(days)
    if date is None:
        date = (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")
        if len(_DATES) >= _MAX_DATES:
            _DATES.clear()
        _DATES[days] = date
    seconds, millis = divmod(ms_of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def _json_number(value: float) -> float | int:
    # Integral values go out as JSON integers, as the docs' examples write them.
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() and abs(value) <= _MAX_SAFE else value


def _valid_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _token_count(value: int | None, report: EncodeReport, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SAFE:
        return value
    report.adjusted[f"{what}_unknown"] += 1
    return 0


def _metadata_environment(rec: Record) -> str:
    for source in (rec.trace_metadata, rec.metadata):
        value = source.get("environment")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _is_model_call(rec: Record) -> bool:
    if rec.kind in (Kind.LLM, Kind.EMBEDDING):
        return True
    return bool(rec.model) and (rec.usage.input_tokens is not None or rec.usage.output_tokens is not None)


def _usage_fields(rec: Record, event: dict[str, Any], report: EncodeReport) -> None:
    usage = rec.usage
    input_tokens = usage.input_tokens
    if input_tokens is not None and usage.input_includes_cache is not True:
        cached = (usage.cache_read_input_tokens or 0) + (usage.cache_write_input_tokens or 0)
        if cached:
            input_tokens += cached
            report.adjusted["input_tokens_plus_cache"] += 1
    event["input_tokens"] = _token_count(input_tokens, report, "input_tokens")
    event["output_tokens"] = _token_count(usage.output_tokens, report, "output_tokens")
    if usage.cache_read_input_tokens is not None:
        event["cached_tokens"] = _token_count(usage.cache_read_input_tokens, report, "cached_tokens")


def _cost(rec: Record, tags: dict[str, str], pricing: PriceTable, report: EncodeReport) -> float | int:
    if rec.cost_usd is not None:
        if _valid_number(rec.cost_usd):
            return _json_number(rec.cost_usd)
        report.adjusted["cost_invalid"] += 1
    price = pricing.price_record(rec)
    if price.usd is None:
        tags["cost_status"] = "unpriced"
        report.adjusted["cost_unpriced"] += 1
        report.adjusted[f"cost_unpriced.{price.reason}"] += 1
        return 0
    report.adjusted["cost_computed"] += 1
    return _json_number(price.usd)


def _identity(rec: Record, report: EncodeReport) -> dict[str, Any]:
    eid = event_id(rec)
    if eid != rec.id:
        report.adjusted["event_id_derived"] += 1
    event: dict[str, Any] = {"event_id": eid, "trace_id": rec.trace_id or eid, "span_id": rec.span_id or rec.id or eid}
    if rec.parent_span_id:
        event["parent_span_id"] = rec.parent_span_id
    return event


def _timing(rec: Record, start_ns: int, event: dict[str, Any], report: EncodeReport) -> None:
    if rec.end_ns is not None and rec.end_ns >= start_ns:
        event["latency_ms"] = _json_number((rec.end_ns - start_ns) / 1_000_000)
    else:
        event["latency_ms"] = 0
        report.adjusted["latency_unknown"] += 1
    if _valid_number(rec.ttft_ms):
        assert rec.ttft_ms is not None
        event["ttft_ms"] = _json_number(rec.ttft_ms)


def _outcome(rec: Record, event: dict[str, Any], report: EncodeReport) -> None:
    event["status"] = _STATUS_OUT[rec.status]
    _optional_strings(event, (("error_code", rec.error_type), ("error_message", rec.error_message)))
    if len(rec.error_message) > ERROR_MESSAGE_MAX_CHARS:
        event["error_message"] = rec.error_message[:ERROR_MESSAGE_MAX_CHARS]
        report.truncated["error_message"] += 1
    _optional_strings(event, (("finish_reason", rec.stop_reason),))
    if rec.stream is None:
        report.adjusted["stream_unknown"] += 1
    event["stream"] = bool(rec.stream)


def _labels(rec: Record, event: dict[str, Any], tags: dict[str, str], report: EncodeReport) -> None:
    _optional_strings(event, (("user_id", rec.user_id), ("session_id", rec.session_id)))
    if tags:
        event["tags"] = tags
    if rec.tools_used:
        event["tools_used"] = [str(t) for t in rec.tools_used]
    scores = {str(k): _json_number(float(s)) for k, s in rec.eval_scores.items() if _finite(s)}
    if len(scores) < len(rec.eval_scores):
        report.truncated["eval_scores"] += len(rec.eval_scores) - len(scores)
    if scores:
        event["eval_scores"] = scores
    _optional_strings(event, (("prompt_hash", rec.prompt_hash),))


def _event(
    rec: Record, *, environment_default: str, sdk_version: str, pricing: PriceTable, report: EncodeReport
) -> dict[str, Any] | None:
    """One event, its keys in the docs' order; None (counted) for a record that cannot be one."""
    if not _is_model_call(rec):
        report.dropped["non_llm_kind"] += 1
        return None
    start_ns = rec.start_ns if rec.start_ns is not None else rec.end_ns
    if start_ns is None:
        report.dropped["no_timestamps"] += 1
        return None
    try:
        timestamp = _iso_ms(start_ns)
    except OverflowError:
        report.dropped["timestamp_out_of_range"] += 1
        return None
    event = _identity(rec, report)
    tags = {str(k): v if isinstance(v, str) else str(v) for k, v in rec.tags.items()}
    provider = map_provider(rec.provider)
    if provider == "custom" and rec.provider and rec.provider != "custom":
        tags.setdefault("provider", rec.provider)
        report.adjusted["provider_custom"] += 1
    event["timestamp"] = timestamp
    event["provider"] = provider
    if not rec.model:
        report.adjusted["model_unknown"] += 1
    event["model"] = rec.model or "unknown"
    kind_operation = {Kind.LLM: "chat", Kind.EMBEDDING: "embed"}.get(rec.kind, "custom")
    event["operation"] = rec.operation if rec.operation in OPERATIONS else kind_operation
    _timing(rec, start_ns, event, report)
    _usage_fields(rec, event, report)
    event["cost_usd"] = _cost(rec, tags, pricing, report)  # may add the cost_status tag
    _outcome(rec, event, report)
    # A trace's metadata.environment (Foglamp) or a record's metadata environment names it too.
    event["environment"] = rec.environment or _metadata_environment(rec) or environment_default
    _labels(rec, event, tags, report)
    event["sdk_version"] = rec.sdk_version or sdk_version
    if rec.extra.get(EXTRA_SPAN_KIND) in SPAN_KINDS:
        event["span_kind"] = rec.extra[EXTRA_SPAN_KIND]
    _unknown_fields(rec, event, report)
    return event


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_strings(event: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    for name, value in pairs:
        if value:
            event[name] = value


def _unknown_fields(rec: Record, event: dict[str, Any], report: EncodeReport) -> None:
    for key, value in rec.extra.items():
        if not key.startswith(EXTRA_UNKNOWN):
            continue
        name = key[len(EXTRA_UNKNOWN) :]
        if name in KNOWN_FIELDS:
            continue  # never let a kept unknown key override a field the gateway set
        try:
            orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            report.truncated["unknown_field"] += 1
            continue
        event[name] = value


def encode_events(
    records: Iterable[Record],
    *,
    environment_default: str,
    sdk_version: str,
    pricing: PriceTable,
    max_events: int = MAX_EVENTS,
) -> tuple[list[bytes], EncodeReport]:
    """NDJSON bodies (``\\n``-separated, no trailing newline) of at most ``max_events`` events."""
    report = EncodeReport()
    lines: list[bytes] = []
    for rec in records:
        report.records_in += 1
        event = _event(
            rec,
            environment_default=environment_default,
            sdk_version=sdk_version,
            pricing=pricing,
            report=report,
        )
        if event is None:
            continue
        try:
            lines.append(orjson.dumps(event))
        except (TypeError, orjson.JSONEncodeError):  # e.g. a lone surrogate in a string
            report.dropped["unencodable"] += 1
    bodies = [b"\n".join(lines[i : i + max_events]) for i in range(0, len(lines), max_events)]
    report.records_out = len(lines)
    report.payloads = len(bodies)
    return bodies, report
