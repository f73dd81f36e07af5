"""Records -> Foglamp ``POST /ingest`` bodies (see :mod:`gateway.formats.foglamp` for the rules).

Kept apart from decoding because it is the larger half: every contract limit is met here by
deriving, cutting or dropping, and packing respects the per-body trace, span and byte limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from gateway.formats.foglamp import content, schema
from gateway.formats.report import EncodeReport
from gateway.model import Customer, Kind, Record, Status, Usage

DEFAULT_MAX_TRACES: Final = schema.MAX_TRACES
DEFAULT_MAX_SPANS_PER_TRACE: Final = schema.MAX_SPANS_PER_TRACE
DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # the server's INGEST_MAX_BODY_BYTES default
TRUNCATION_MARKER: Final = "…[truncated]"  # what the Foglamp SDK appends to cut payloads

_SPAN_TYPES: Final = {
    Kind.LLM: "llm",
    Kind.EMBEDDING: "embedding",
    Kind.TOOL: "tool",
    Kind.AGENT: "agent",
    Kind.WORKFLOW_STEP: "other",
    Kind.OTHER: "other",
}
USAGE_MAP: Final = (
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("totalTokens", "total_tokens"),
    ("reasoningTokens", "reasoning_tokens"),
    ("cachedInputTokens", "cache_read_input_tokens"),
    ("cacheWriteInputTokens", "cache_write_input_tokens"),
    ("imageCount", "image_count"),
    ("webSearchCount", "web_search_count"),
    ("requestCount", "request_count"),
)
# Span fields kept verbatim in `Record.extra["foglamp.<name>"]`, in contract order.
EXTRA_FIELDS: Final = (
    "reasoningDurationMs",
    "modelCallMs",
    "responseTimeMs",
    "effectiveOutputTps",
    "effectiveTotalTps",
    "outputTps",
    "inputTps",
    "chunkJitter",
    "systemFingerprint",
    "safetyMetadata",
    "sources",
    "rateLimit",
)
EXTRA_INPUT_FORM: Final = "foglamp.input_form"
EXTRA_OUTPUT_FORM: Final = "foglamp.output_form"
EXTRA_TOOL_CATALOG: Final = "foglamp.toolCatalog"  # a catalog that did not parse into tools


def _js_cut(value: str, limit: int, marker: str = "") -> str:
    """``value`` cut to ``limit`` UTF-16 units (with ``marker`` inside the limit), pairs kept whole."""
    if schema.js_len(value) <= limit:
        return value
    keep = limit - len(marker)
    if value.isascii():
        return value[:keep] + marker
    units = value.encode("utf-16-le", "surrogatepass")[: 2 * keep]
    if len(units) >= 2 and 0xD800 <= int.from_bytes(units[-2:], "little") <= 0xDBFF:
        units = units[:-2]  # never leave half a surrogate pair
    return units.decode("utf-16-le", "surrogatepass") + marker


def _hash_id(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass"))
    return "gw-" + digest.hexdigest()[:40]


def _bounded_id(value: str, report: EncodeReport, what: str) -> str:
    if 1 <= schema.js_len(value) <= 128:
        return value
    report.adjusted[f"{what}_hashed"] += 1
    return _hash_id(value)


def _record_fingerprint(rec: Record) -> tuple[object, ...]:
    # For records with no id at all: stable across retries, distinct for distinct spans.
    return (rec.trace_id, rec.start_ns, rec.end_ns, rec.name, rec.model, rec.operation, rec.kind.value)


def _trace_id(rec: Record, report: EncodeReport) -> str:
    if rec.trace_id:
        return _bounded_id(rec.trace_id, report, "trace_id")
    report.adjusted["trace_id_derived"] += 1
    if rec.id or rec.span_id:
        return _hash_id("trace", rec.id, rec.span_id)
    return _hash_id("trace", *_record_fingerprint(rec))


def _span_id(rec: Record, report: EncodeReport) -> str:
    if rec.span_id:
        return _bounded_id(rec.span_id, report, "span_id")
    report.adjusted["span_id_derived"] += 1
    if rec.id:
        return _bounded_id(rec.id, report, "span_id")
    return _hash_id("span", *_record_fingerprint(rec))


def _cut_field(value: str, limit: int, report: EncodeReport, what: str, marker: str = "") -> str:
    cut = _js_cut(value, limit, marker)
    if cut is not value:
        report.truncated[what] += 1
    return cut


def _coerce_str(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def _metadata(source: Mapping[Any, Any], report: EncodeReport, what: str) -> dict[str, str] | None:
    """String->string, at most 64 keys of <=128 chars, values <=1024 chars (as the SDK clamps)."""
    out: dict[str, str] = {}
    for raw_key, raw_value in source.items():
        if raw_value is None:
            report.truncated[f"{what}.null_value"] += 1
            continue
        if len(out) >= schema.METADATA_MAX_KEYS:
            report.truncated[f"{what}.keys"] += 1
            continue
        key = _cut_field(_coerce_str(raw_key), schema.METADATA_MAX_KEY_CHARS, report, f"{what}.key")
        if key in out:
            report.truncated[f"{what}.key_collision"] += 1
            continue
        if not isinstance(raw_value, str):
            report.adjusted[f"{what}.value_coerced"] += 1
        value = _coerce_str(raw_value)
        out[key] = _cut_field(value, schema.METADATA_MAX_VALUE_CHARS, report, f"{what}.value")
    return out or None


def _clamp_ms(ns: int, report: EncodeReport) -> int:
    ms = ns // 1_000_000
    if ms < 0 or ms > schema.MAX_SAFE_INTEGER:
        report.adjusted["time_clamped"] += 1
        return min(max(ms, 0), schema.MAX_SAFE_INTEGER)
    return ms


def _count(value: object) -> int | None:
    """A usage count as the contract wants it (a safe non-negative int), else None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= schema.MAX_SAFE_INTEGER:
        return value
    return None


def _usage(usage: Usage, report: EncodeReport) -> dict[str, int] | None:
    values: dict[str, Any] = {attr: getattr(usage, attr) for _, attr in USAGE_MAP}
    if values["input_tokens"] is not None and usage.input_includes_cache is not True:
        cached = (usage.cache_read_input_tokens or 0) + (usage.cache_write_input_tokens or 0)
        if cached:
            values["input_tokens"] = values["input_tokens"] + cached
            report.adjusted["input_tokens_plus_cache"] += 1
            # A total of the exclusive counts would now be less than input + output: raise it
            # with the input (a total that already held the cache stays as it is).
            total = values["total_tokens"]
            floor = values["input_tokens"] + (values["output_tokens"] or 0)
            if isinstance(total, int) and total < floor:
                values["total_tokens"] = floor
                report.adjusted["total_tokens_plus_cache"] += 1
    out: dict[str, int] = {}
    for wire, attr in USAGE_MAP:
        if values[attr] is None:
            continue
        count = _count(values[attr])
        if count is None:
            report.truncated["usage.invalid_count"] += 1
        else:
            out[wire] = count
    return out or None


def _number(value: float) -> float | int:
    # Integral values go out as JSON integers (as JavaScript prints them); huge ones stay floats.
    return int(value) if value.is_integer() and abs(value) <= schema.MAX_SAFE_INTEGER else value


def _customer(customer: Customer, report: EncodeReport) -> dict[str, str] | None:
    if not customer.id:
        report.truncated["customer.no_id"] += 1
        return None
    out = {"id": _cut_field(customer.id, 128, report, "customer.id")}
    if customer.name is not None:
        out["name"] = _cut_field(customer.name, 256, report, "customer.name")
    if customer.image_url is not None:
        url = customer.image_url.strip()
        if schema.is_url(url) and schema.js_len(url) <= 2048:
            out["imageUrl"] = url
        else:
            report.truncated["customer.image_url"] += 1
    return out


def _first(records: list[Record], attr: str) -> Any:
    return next((getattr(r, attr) for r in records if getattr(r, attr)), None)


def _envelope(trace_id: str, records: list[Record], report: EncodeReport) -> dict[str, Any]:
    """The trace object without its spans; each field from the first record that has it."""
    env: dict[str, Any] = {"traceId": trace_id}
    trace_name, agent_name = _first(records, "trace_name"), _first(records, "agent_name")
    if trace_name:
        env["traceName"] = _cut_field(trace_name, 256, report, "trace.traceName")
    if agent_name:
        env["agentName"] = _cut_field(agent_name, 256, report, "trace.agentName")
    if not trace_name and not agent_name:
        # The contract needs a label; the root span's name says most about the trace.
        ordered = sorted(records, key=lambda r: bool(r.parent_span_id))
        label = _first(ordered, "name") or _first(ordered, "operation") or "trace"
        env["traceName"] = _js_cut(label, 256)
        report.adjusted["trace_name_fallback"] += 1
    workflow_name, workflow_run_id = _first(records, "workflow_name"), _first(records, "workflow_run_id")
    if workflow_name and workflow_run_id:
        env["workflowName"] = _cut_field(workflow_name, 256, report, "trace.workflowName")
        env["workflowRunId"] = _cut_field(workflow_run_id, 128, report, "trace.workflowRunId")
    elif workflow_name or workflow_run_id:
        report.truncated["trace.workflow_incomplete"] += 1
    session_id = _first(records, "session_id")
    if session_id:
        env["sessionId"] = _cut_field(session_id, 128, report, "trace.sessionId")
    customer = _first(records, "customer")
    if customer is not None and (wire_customer := _customer(customer, report)) is not None:
        env["customer"] = wire_customer
    trace_metadata = _first(records, "trace_metadata")
    if trace_metadata and (metadata := _metadata(trace_metadata, report, "trace.metadata")) is not None:
        env["metadata"] = metadata
    return env


def _times(rec: Record, report: EncodeReport) -> tuple[int, int] | None:
    start_ns = rec.start_ns if rec.start_ns is not None else rec.end_ns
    end_ns = rec.end_ns if rec.end_ns is not None else rec.start_ns
    if start_ns is None or end_ns is None:
        return None
    start, end = _clamp_ms(start_ns, report), _clamp_ms(end_ns, report)
    if end < start:
        report.adjusted["end_before_start"] += 1
        end = start
    return start, end


def _content(rec: Record, report: EncodeReport, *, output: bool) -> str | None:
    messages = rec.output if output else rec.input
    form = rec.extra.get(EXTRA_OUTPUT_FORM if output else EXTRA_INPUT_FORM)
    text = content.encode_content(messages, form, output=output, system_prompt="" if output else rec.system_prompt)
    if text is None:
        # Tool executions from other formats carry their arguments/result as JSON bytes.
        raw = rec.tool_result_json if output else rec.tool_arguments_json
        text = raw.decode("utf-8", "replace") if raw else None
    if text is None:
        return None
    return _cut_field(
        text, schema.MAX_PAYLOAD_CHARS, report, "span.output" if output else "span.input", TRUNCATION_MARKER
    )


def _copy_extras(rec: Record, span: dict[str, Any], names: tuple[str, ...], report: EncodeReport) -> None:
    """Pass ``foglamp.<name>`` extras through, each only if it is valid under the contract."""
    for name in names:
        key = "foglamp." + name
        if key in rec.extra:
            if schema.span_field_issues(name, rec.extra[key]):
                report.truncated[f"span.{name}"] += 1
            else:
                span[name] = rec.extra[key]


def _span(rec: Record, span_id: str, report: EncodeReport) -> dict[str, Any] | None:
    times = _times(rec, report)
    if times is None:
        report.dropped["no_timestamps"] += 1
        return None
    span: dict[str, Any] = {"spanId": span_id}
    if rec.parent_span_id:
        span["parentSpanId"] = _bounded_id(rec.parent_span_id, report, "parent_span_id")
    span["spanType"] = _SPAN_TYPES[rec.kind]
    span["name"] = _cut_field(rec.name or rec.tool_name or rec.operation, 512, report, "span.name")
    span["startTime"], span["endTime"] = times
    status, message = rec.status, rec.error_message
    if status in (Status.TIMEOUT, Status.RATE_LIMITED):
        report.adjusted["status_collapsed"] += 1
        status, message = Status.ERROR, message or rec.error_type or rec.status.value
    span["status"] = status.value
    message = message or (rec.error_type if status is Status.ERROR else "")
    if message:
        span["errorMessage"] = _cut_field(message, 8192, report, "span.errorMessage")
    if rec.provider:
        span["provider"] = _cut_field(rec.provider, 128, report, "span.provider")
    if rec.model:
        span["modelId"] = _cut_field(rec.model, 256, report, "span.modelId")
    if (usage := _usage(rec.usage, report)) is not None:
        span["usage"] = usage
    if rec.ttft_ms is not None:
        if schema.is_number(rec.ttft_ms) and rec.ttft_ms >= 0:
            span["ttftMs"] = _number(float(rec.ttft_ms))
        else:
            report.truncated["span.ttftMs"] += 1
    _copy_extras(rec, span, EXTRA_FIELDS[:1], report)  # contract order: reasoningDurationMs, then content
    for wire, is_output in (("input", False), ("output", True)):
        if (text := _content(rec, report, output=is_output)) is not None:
            span[wire] = text
    catalog = content.encode_tool_catalog(rec.tools)
    if catalog is None and isinstance(rec.extra.get(EXTRA_TOOL_CATALOG), str):
        catalog = rec.extra[EXTRA_TOOL_CATALOG]
    if catalog is not None:
        span["toolCatalog"] = _cut_field(
            catalog, schema.MAX_PAYLOAD_CHARS, report, "span.toolCatalog", TRUNCATION_MARKER
        )
    _copy_extras(rec, span, EXTRA_FIELDS[1:], report)
    labels = {**rec.tags, **rec.metadata} if rec.tags else rec.metadata
    if labels and (metadata := _metadata(labels, report, "span.metadata")) is not None:
        span["metadata"] = metadata
    return span


# Fields that may be removed, biggest first, when one span alone would not fit in a body.
_SHEDDABLE: Final = ("sources", "toolCatalog", "input", "output", "safetyMetadata")


def _sized_span(span: dict[str, Any], limit: int, report: EncodeReport) -> tuple[dict[str, Any], int] | None:
    """``span`` and its JSON size, shed of payload fields until it is at most ``limit`` bytes."""
    try:
        size = len(orjson.dumps(span))
    except (TypeError, orjson.JSONEncodeError):  # e.g. a lone surrogate in a string
        report.dropped["unencodable"] += 1
        return None
    for name in sorted((n for n in _SHEDDABLE if n in span), key=lambda n: -len(span[n])):
        if size <= limit:
            break
        del span[name]
        report.truncated[f"span.{name}_over_body_limit"] += 1
        size = len(orjson.dumps(span))
    if size > limit:
        report.dropped["span_over_body_limit"] += 1
        return None
    return span, size


_BODY_OVERHEAD: Final = len(b'{"version":"v1","traces":[]}')


def _span_chunks(
    group: list[Record], span_limit: int, max_spans: int, report: EncodeReport
) -> list[tuple[list[dict[str, Any]], int]]:
    """One trace's spans in runs of at most ``max_spans`` spans and ``span_limit`` JSON bytes."""
    chunks: list[tuple[list[dict[str, Any]], int]] = []
    spans: list[dict[str, Any]] = []
    spans_size = 0  # bytes of the spans and the commas between them
    for rec in group:
        span = _span(rec, _span_id(rec, report), report)
        sized = _sized_span(span, span_limit, report) if span is not None else None
        if sized is None:
            continue
        span, size = sized
        if spans and (len(spans) >= max_spans or spans_size + 1 + size > span_limit):
            chunks.append((spans, spans_size))
            spans, spans_size = [], 0
        spans_size += size + (1 if spans else 0)
        spans.append(span)
    if spans:
        chunks.append((spans, spans_size))
    return chunks


# The trace-level fields of a record: two traces sent with one traceId but different values here
# stay two trace objects, each with its own (they used to merge under the first one's).
_TRACE_FIELDS: Final = (
    "trace_name",
    "agent_name",
    "session_id",
    "customer",
    "workflow_name",
    "workflow_run_id",
    "trace_metadata",
)


def _join_trace(candidates: list[tuple[dict[str, Any], list[Record]]], rec: Record) -> list[Record] | None:
    """Puts ``rec`` in the first group of its trace id whose trace-level fields it agrees with
    (a field set on only one side agrees: a child span without them joins its root), else in a
    new group, which it returns."""
    fields = {name: value for name in _TRACE_FIELDS if (value := getattr(rec, name))}
    for known, group in candidates:
        if all(known.get(name, value) == value for name, value in fields.items()):
            known.update(fields)
            group.append(rec)
            return None
    group = [rec]
    candidates.append((fields, group))
    return group


def encode_batches(
    records: Iterable[Record],
    *,
    max_traces: int = DEFAULT_MAX_TRACES,
    max_spans_per_trace: int = DEFAULT_MAX_SPANS_PER_TRACE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> tuple[list[dict[str, Any]], EncodeReport]:
    """``POST /ingest`` bodies holding ``records``, each valid under the contract and the limits.

    Records are grouped by trace id (first-seen order); a group with more spans than
    ``max_spans_per_trace``, or too many bytes for one body, is sent as several Trace objects with
    the same ``traceId``. Bodies hold at most ``max_traces`` traces and ``max_body_bytes`` bytes of
    compact JSON (``orjson.dumps`` of a returned dict).
    """
    report = EncodeReport()
    groups: list[tuple[str, list[Record]]] = []
    by_id: dict[str, list[tuple[dict[str, Any], list[Record]]]] = {}
    for rec in records:
        report.records_in += 1
        trace_id = _trace_id(rec, report)
        new = _join_trace(by_id.setdefault(trace_id, []), rec)
        if new is not None:
            groups.append((trace_id, new))

    bodies: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    body_size = _BODY_OVERHEAD

    def flush() -> None:
        nonlocal traces, body_size
        if traces:
            bodies.append({"version": "v1", "traces": traces})
            traces, body_size = [], _BODY_OVERHEAD

    for trace_id, group in groups:
        envelope = _envelope(trace_id, group, report)
        envelope_size = len(orjson.dumps({**envelope, "spans": []}))
        span_limit = max_body_bytes - _BODY_OVERHEAD - envelope_size
        chunks = _span_chunks(group, span_limit, max_spans_per_trace, report)
        if len(chunks) > 1:
            report.adjusted["trace_split"] += len(chunks) - 1
        for chunk, chunk_size in chunks:
            trace_size = envelope_size + chunk_size
            if traces and (len(traces) >= max_traces or body_size + 1 + trace_size > max_body_bytes):
                flush()
            body_size += trace_size + (1 if traces else 0)
            traces.append({**envelope, "spans": chunk})
            report.records_out += len(chunk)
    flush()
    report.payloads = len(bodies)
    return bodies, report
