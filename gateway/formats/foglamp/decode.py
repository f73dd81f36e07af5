"""Foglamp ``POST /ingest`` bodies -> records (the receiving direction).

Decoding (:func:`decode_ingest`) first enforces Foglamp's strict v1 contract exactly as the server
does (:mod:`._foglamp_schema`; a failure raises :class:`FoglampValidationError` with zod-like
issues for the 400 body), then turns every span into one :class:`Record`, copying the trace-level
fields onto each. Encoding (:func:`encode_batches`) groups records by trace id into Trace objects
and never fails: whatever a record lacks or has in excess is derived, cut or dropped to satisfy the
contract, and counted in an :class:`EncodeReport`.

Rules worth knowing (``docs/mapping.md`` has the field table):

* Times are epoch ms on the wire, ns in the record; encoding floors to ms and clamps into
  ``[0, 2**53-1]`` with ``end >= start``.
* ``usage.inputTokens`` includes cached tokens (AI SDK semantics), so decoded usage has
  ``input_includes_cache=True``. Encoding a record whose ``input_includes_cache`` is not True
  (Sigil's Anthropic-style usage, where input excludes cache reads and writes) sends
  ``inputTokens = input + cache_read + cache_write``. Unknown counts are omitted, never 0.
* ``input``/``output``/``toolCatalog`` strings become messages and tool definitions
  (:mod:`._foglamp_content`); what cannot be reproduced exactly is kept as raw text.
* Span fields with no shared meaning round-trip through ``Record.extra["foglamp.<wireName>"]``;
  the deprecated chunk arrays are accepted and ignored, as the server does.
* ``status`` is always sent; ``timeout`` and ``rate_limited`` collapse to ``error`` (with
  ``error_type`` as the message when there is none). Record tags join span metadata (the record's
  metadata wins on a clash) because Foglamp has only the one label map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.formats.foglamp import content, schema
from gateway.formats.foglamp.encode import (
    EXTRA_FIELDS,
    EXTRA_INPUT_FORM,
    EXTRA_OUTPUT_FORM,
    EXTRA_TOOL_CATALOG,
    USAGE_MAP,
)
from gateway.model import Customer, Kind, Record, Status, Usage

_KINDS: Final = {
    "llm": Kind.LLM,
    "embedding": Kind.EMBEDDING,
    "tool": Kind.TOOL,
    "agent": Kind.AGENT,
    "other": Kind.OTHER,
}
_STATUSES: Final = {"ok": Status.OK, "error": Status.ERROR, "aborted": Status.ABORTED}


class FoglampValidationError(ValueError):
    """The body breaks Foglamp's v1 contract; ``issues`` are zod-like, in zod's order."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        self.issues = issues
        first = issues[0] if issues else {"path": [], "message": "invalid payload"}
        where = ".".join(str(p) for p in first["path"]) or "<root>"
        super().__init__(f"invalid payload: {len(issues)} issue(s), first at {where}: {first['message']}")


# --------------------------------------------------------------------------------------------
# Decoding


def decode_ingest(obj: object) -> list[Record]:
    """Validate a parsed ``POST /ingest`` body and return one record per span, in body order."""
    issues = schema.validate_payload(obj)
    if issues:
        raise FoglampValidationError(issues)
    assert isinstance(obj, dict)
    records: list[Record] = []
    for trace in obj["traces"]:
        records.extend(_decode_span(trace, span) for span in trace["spans"])
    return records


def count_spans(obj: object) -> int:
    """Spans in a body, the ``N`` of the 202 ``{"accepted": N}`` answer (0 for a malformed body)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("traces"), list):
        return 0
    return sum(len(t["spans"]) for t in obj["traces"] if isinstance(t, dict) and isinstance(t.get("spans"), list))


def _decode_customer(value: Mapping[str, Any] | None) -> Customer | None:
    if value is None:
        return None
    url = value.get("imageUrl")
    # zod stores the trimmed URL; so does the decoder, to hold what Foglamp holds.
    return Customer(id=value["id"], name=value.get("name"), image_url=url.strip() if url is not None else None)


def _decode_span(trace: Mapping[str, Any], span: Mapping[str, Any]) -> Record:
    kind = _KINDS[span["spanType"]]
    rec = Record(
        kind=kind,
        trace_id=trace["traceId"],
        span_id=span["spanId"],
        parent_span_id=span.get("parentSpanId", ""),
        name=span["name"],
        session_id=trace.get("sessionId", ""),
        trace_name=trace.get("traceName", ""),
        agent_name=trace.get("agentName", ""),
        workflow_name=trace.get("workflowName", ""),
        workflow_run_id=trace.get("workflowRunId", ""),
        customer=_decode_customer(trace.get("customer")),
        trace_metadata=dict(trace.get("metadata", {})),
        provider=span.get("provider", ""),
        model=span.get("modelId", ""),
        start_ns=int(span["startTime"]) * 1_000_000,
        end_ns=int(span["endTime"]) * 1_000_000,
        status=_STATUSES[span.get("status", "ok")],
        error_message=span.get("errorMessage", ""),
        metadata=dict(span.get("metadata", {})),
    )
    if kind is Kind.TOOL:
        rec.tool_name = rec.name  # the SDK names tool spans after the tool
    if "ttftMs" in span:
        rec.ttft_ms = float(span["ttftMs"])
    if "usage" in span:
        usage = span["usage"]
        rec.usage = Usage(input_includes_cache=True)
        for wire, attr in USAGE_MAP:
            if wire in usage:
                setattr(rec.usage, attr, int(usage[wire]))
    for wire, form_key, is_output in (
        ("input", EXTRA_INPUT_FORM, False),
        ("output", EXTRA_OUTPUT_FORM, True),
    ):
        if wire in span:
            messages, form = content.decode_content(span[wire], output=is_output)
            if is_output:
                rec.output = messages
            else:
                rec.input = messages
            if form is not None:
                rec.extra[form_key] = form
    if "toolCatalog" in span:
        tools = content.decode_tool_catalog(span["toolCatalog"])
        if tools is None:
            rec.extra[EXTRA_TOOL_CATALOG] = span["toolCatalog"]
        else:
            rec.tools = tools
    for name in EXTRA_FIELDS:
        if name in span:
            value = span[name]
            rec.extra["foglamp." + name] = dict(value) if isinstance(value, dict) else value
    return rec
