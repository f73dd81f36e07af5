"""OTLP traces carrying GenAI telemetry <-> records, following the GenAI semantic conventions.

Modules, by direction:

* :mod:`.wire`: request bodies (protobuf, and OTLP/JSON written by hand) <-> ``ExportTraceServiceRequest``.
* :mod:`.decode`: spans -> records (:func:`traces_to_records`); non-GenAI spans optionally kept as
  pass-through records that only OTLP exporters send. Attribute handlers in
  :mod:`.decode_attributes`; OpenInference spans via :mod:`.decode_openinference`; older shapes
  (OpenLLMetry's indexed attributes, content events) via :mod:`.decode_legacy`.
* :mod:`.decode_logs`: OTLP logs -> GenAI events, and events -> their span's record content.
* :mod:`.encode_openinference`: records -> OpenInference attributes (``conventions``).
* :mod:`.encode`: records -> spans (:func:`records_to_traces`, or its serialized form
  :func:`records_to_traces_bytes`, framed by :mod:`.frame` without building messages);
  attributes kept from a source span re-emitted by :mod:`.encode_kept`.
* :mod:`.encode_metrics`: records -> ``gen_ai.client.*`` histograms.
* :mod:`.native`: the OTLP -> OTLP pass-through (parsed requests handed on untranslated when
  every span is one the records path would give back unchanged, and every consumer an ``otlp``
  exporter that takes them); the rule in :mod:`.canonical` and :mod:`.canonical_content`.
* :mod:`.semconv`: the conventions as data (attribute names per version, aliases, metric specs).
* :mod:`.openinference`: OpenInference's attribute names as data, read by
  :mod:`.decode_openinference` (spans with ``openinference.span.kind``).
* :mod:`.content` (message and tool JSON in the conventions' part shapes) and :mod:`.values`
  (attribute values, ids, the ``otlp.*`` extra keys): shared by both directions.

``docs/mapping.md`` has the attribute-by-attribute table.
"""

from __future__ import annotations

from collections import Counter

from gateway.formats import Format, LineStats, MessageBody, MessageCodec, MessageItems
from gateway.formats.otlp import native, openinference
from gateway.formats.otlp.decode import is_passthrough, traces_to_records
from gateway.formats.otlp.encode import (
    DEFAULT_SCOPE_NAME,
    DEFAULT_SERVICE_NAME,
    records_to_traces,
    records_to_traces_bytes,
)
from gateway.formats.otlp.semconv import VERSIONS, content_attribute_names
from gateway.formats.otlp.values import EXTRA_ATTR, EXTRA_PASSTHROUGH
from gateway.formats.otlp.wire import (
    OtlpDecodeError,
    decode_traces_json,
    decode_traces_protobuf,
    encode_traces_json,
)
from gateway.formats.report import EncodeReport
from gateway.model import Native, Rating, Record, Score

__all__ = [
    "CONTENT_EXTRA_KEYS",
    "DEFAULT_SCOPE_NAME",
    "DEFAULT_SERVICE_NAME",
    "FORMAT",
    "PASSTHROUGH",
    "OtlpDecodeError",
    "decode_traces_json",
    "decode_traces_protobuf",
    "encode_traces_json",
    "is_passthrough",
    "records_to_traces",
    "records_to_traces_bytes",
    "traces_to_records",
]

PASSTHROUGH = EXTRA_PASSTHROUGH  # Record.extra marker of a non-GenAI span kept for OTLP only
# Record.extra keys of content attributes kept raw (a shape the record fields could not hold), for
# every convention version: a processor stripping content must drop these too.
CONTENT_EXTRA_KEYS = frozenset(
    {EXTRA_ATTR + name for sc in VERSIONS.values() for name in content_attribute_names(sc)}
    | {EXTRA_ATTR + name for name in openinference.CONTENT_ATTRIBUTES}
    | {openinference.CONTENT_EXTRA}
)


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    records, other = traces_to_records(decode_traces_json(line))
    stats.skipped["non-GenAI spans"] += other
    return records


def _write_lines(records: list[Record], report: EncodeReport) -> list[bytes]:
    """One OTLP/JSON ExportTraceServiceRequest per call."""
    report.records_in += len(records)
    report.records_out += len(records)
    if not records:
        return []
    return [encode_traces_json(records_to_traces(records, resource_attributes={}, include_content=True))]


TRACES_BODY = "otlp/traces"  # the message body kind (the NATS Gateway-Encoding header)


def _messages(
    records: list[Record], scores: list[Score], ratings: list[Rating], dropped: Counter[str]
) -> list[MessageBody]:
    request = records_to_traces_bytes(records, resource_attributes={}, include_content=True)
    return [MessageBody(TRACES_BODY, request, len(records))]


def _native_messages(batch: Native) -> list[MessageBody] | None:
    """Canonical spans (:mod:`.native`) are what the record path would write: sent as received."""
    if isinstance(batch, native.OtlpTraces):
        return [MessageBody(TRACES_BODY, batch.to_bytes(), len(batch))]
    return None


def _native_items(data: bytes) -> native.OtlpTraces | None:
    """A body of canonical spans (:mod:`.native`) as they came, as the ``otlp`` receiver hands
    them on; None for any other (the records path words a decode error)."""
    try:
        request = decode_traces_protobuf(data)
    except OtlpDecodeError:
        return None
    found = native.survey(request, data, passthrough=True)  # as _message_items decodes
    return native.OtlpTraces.of(request, found.spans, data) if found is not None else None


def _message_items(data: bytes) -> MessageItems:
    return MessageItems(traces_to_records(decode_traces_protobuf(data), passthrough=True)[0])


MESSAGES = MessageCodec(
    encoding="otlp_proto",
    encode=_messages,
    decoders={
        TRACES_BODY: (
            "application/x-protobuf; proto=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
            _message_items,
        )
    },
    encode_native=_native_messages,
    native_kinds=frozenset({native.KIND}),
    native_decoders={TRACES_BODY: (native.KIND, _native_items)},
)


FORMAT = Format(
    name="otlp",
    description="OTLP/JSON ExportTraceServiceRequest with GenAI spans, one body per line",
    line_reader=_read_line,
    line_writer=lambda: _write_lines,
    native_decoders={native.KIND: native.OtlpTraces.from_bytes},
    content_extra_keys=CONTENT_EXTRA_KEYS,
    reserves=is_passthrough,
    reserved_reason="otlp_passthrough",
    message_codec=MESSAGES,
)
