"""OTLP trace messages framed by hand: the bytes ``SerializeToString`` gives for the same
``ExportTraceServiceRequest``, built from already-encoded pieces.

:mod:`.encode` decides what a span holds; this module only writes it (field numbers from
``opentelemetry/proto/trace/v1/trace.proto`` and ``common.proto``, fields in number order,
proto3 defaults left out, as upb serializes). Framing by hand skips a call into the protobuf
runtime per field and per attribute, and lets an attribute that repeats across spans
(provider, model, operation) be encoded once: :class:`AttributeCache`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from gateway.formats import protowire as pw
from gateway.formats.otlp.values import attribute_bytes

# ExportTraceServiceRequest / ResourceSpans / Resource / ScopeSpans / InstrumentationScope
_REQUEST_RESOURCE_SPANS: Final = pw.tag(1, pw.LEN)
_RS_RESOURCE: Final = pw.tag(1, pw.LEN)
_RS_SCOPE_SPANS: Final = pw.tag(2, pw.LEN)
_RS_SCHEMA_URL: Final = pw.tag(3, pw.LEN)
_RESOURCE_ATTRIBUTES: Final = pw.tag(1, pw.LEN)
_SS_SCOPE: Final = pw.tag(1, pw.LEN)
_SS_SPANS: Final = pw.tag(2, pw.LEN)
_SS_SCHEMA_URL: Final = pw.tag(3, pw.LEN)
_SCOPE_NAME: Final = pw.tag(1, pw.LEN)
_SCOPE_VERSION: Final = pw.tag(2, pw.LEN)
# Span
_TRACE_ID: Final = pw.tag(1, pw.LEN)
_SPAN_ID: Final = pw.tag(2, pw.LEN)
_TRACE_STATE: Final = pw.tag(3, pw.LEN)
_PARENT_SPAN_ID: Final = pw.tag(4, pw.LEN)
_NAME: Final = pw.tag(5, pw.LEN)
_KIND: Final = pw.tag(6, pw.VARINT)
_START: Final = pw.tag(7, pw.FIXED64)
_END: Final = pw.tag(8, pw.FIXED64)
SPAN_ATTRIBUTE: Final = pw.tag(9, pw.LEN)
_DROPPED_ATTRIBUTES: Final = pw.tag(10, pw.VARINT)
_EVENTS: Final = pw.tag(11, pw.LEN)
_DROPPED_EVENTS: Final = pw.tag(12, pw.VARINT)
_LINKS: Final = pw.tag(13, pw.LEN)
_DROPPED_LINKS: Final = pw.tag(14, pw.VARINT)
_STATUS: Final = pw.tag(15, pw.LEN)
_FLAGS: Final = pw.tag(16, pw.FIXED32)
# Span.Event, Span.Link, Status
_EVENT_TIME: Final = pw.tag(1, pw.FIXED64)
_EVENT_NAME: Final = pw.tag(2, pw.LEN)
_EVENT_ATTRIBUTE: Final = pw.tag(3, pw.LEN)
_LINK_TRACE_ID: Final = pw.tag(1, pw.LEN)
_LINK_SPAN_ID: Final = pw.tag(2, pw.LEN)
_LINK_TRACE_STATE: Final = pw.tag(3, pw.LEN)
_LINK_ATTRIBUTE: Final = pw.tag(4, pw.LEN)
_LINK_FLAGS: Final = pw.tag(6, pw.FIXED32)
_STATUS_MESSAGE: Final = pw.tag(2, pw.LEN)
_STATUS_CODE: Final = pw.tag(3, pw.VARINT)

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
CACHE_ENTRIES: Final = 4096  # (key, value) pairs kept per value type; a full table starts over
CACHE_MAX_VALUE: Final = 256  # characters: longer strings (content) are rarely repeated


# The values an attribute of a record field is left out for (``in`` compares by identity, then
# ==; a truthiness test first settles most values without a comparison).
EMPTY: Final[tuple[Any, ...]] = (None, "", [], {})
# A message (or part of one) as the byte strings that, joined, are its serialized form: spans are
# framed by their length, not copied into their scope and resource, so the request is joined once.
Pieces = list[bytes]
# Attributes in emission order, and whether their EMPTY values are left out.
Segment = tuple[Sequence[tuple[str, Any]], bool]


def present(segments: Iterable[Segment]) -> list[tuple[str, Any]]:
    """The attributes ``segments`` emit, as one list."""
    return [pair for pairs, skip in segments for pair in pairs if not skip or pair[1] or pair[1] not in EMPTY]


class AttributeCache:
    """Encoded span attributes by (key, value), for values that repeat across records.

    One table per value type (str, int, float), since ``1 == 1.0 == True`` would otherwise share
    an entry; falsy values (0, -0.0, "") and long strings are encoded each time. Bounded: a full
    table starts over, so unique values (ids) cost a refill of the repeated ones now and then,
    never memory. A race between threads can only lose an entry."""

    def __init__(self) -> None:
        self._str: dict[tuple[str, Any], bytes] = {}
        self._int: dict[tuple[str, Any], bytes] = {}
        self._float: dict[tuple[str, Any], bytes] = {}

    def span_attributes(self, segments: Iterable[Segment]) -> Pieces:
        """The span's ``attributes`` fields (tag included) for ``segments``, in order."""
        strs, ints, floats = self._str, self._int, self._float
        out: Pieces = []
        append = out.append
        for pairs, skip in segments:
            for pair in pairs:
                value = pair[1]
                if not value:
                    if not (skip and value in EMPTY):
                        append(attribute_bytes(SPAN_ATTRIBUTE, *pair))
                    continue
                kind = type(value)
                if kind is str:
                    table = strs if len(value) <= CACHE_MAX_VALUE else None
                elif kind is int:
                    table = ints
                elif kind is float:
                    table = floats
                else:
                    table = None
                if table is None:
                    append(attribute_bytes(SPAN_ATTRIBUTE, *pair))
                    continue
                data = table.get(pair)
                if data is None:
                    if len(table) >= CACHE_ENTRIES:
                        table.clear()
                    data = table[pair] = attribute_bytes(SPAN_ATTRIBUTE, *pair)
                append(data)
        return out


def attributes(field_tag: bytes, values: Iterable[tuple[str, Any]]) -> bytes:
    """Repeated KeyValue fields (resource, event or link attributes), uncached."""
    return b"".join([attribute_bytes(field_tag, key, value) for key, value in values])


def span(
    *,
    trace_id: bytes,
    span_id: bytes,
    trace_state: str,
    parent_span_id: bytes,
    name: str,
    kind: int,
    start: int,
    end: int,
    attributes: Pieces,
    dropped: tuple[int, int, int],
    events: Sequence[bytes],
    links: Sequence[bytes],
    status_code: int,
    status_message: str,
    flags: int,
) -> bytes:
    """One serialized ``Span`` (unframed). ``attributes`` come from :meth:`AttributeCache.span_attributes`,
    ``events`` and ``links`` from :func:`event` and :func:`link`; ``dropped`` counts attributes,
    events and links. The status is always present, as the SDKs and the Collector send it."""
    out = [pw.length_delimited(_TRACE_ID, trace_id), pw.length_delimited(_SPAN_ID, span_id)]
    if trace_state:
        out.append(pw.length_delimited(_TRACE_STATE, trace_state.encode()))
    if parent_span_id:
        out.append(pw.length_delimited(_PARENT_SPAN_ID, parent_span_id))
    if name:
        out.append(pw.length_delimited(_NAME, name.encode()))
    if kind:
        if not _INT32_MIN <= kind <= _INT32_MAX:
            raise ValueError(f"span kind out of range: {kind}")
        out.append(_KIND + pw.signed_varint(kind))
    if start:
        out.append(_START + pw.fixed64(start))
    if end:
        out.append(_END + pw.fixed64(end))
    out += attributes
    if dropped[0]:
        out.append(_DROPPED_ATTRIBUTES + pw.varint(dropped[0]))
    out.extend([pw.length_delimited(_EVENTS, item) for item in events])
    if dropped[1]:
        out.append(_DROPPED_EVENTS + pw.varint(dropped[1]))
    out.extend([pw.length_delimited(_LINKS, item) for item in links])
    if dropped[2]:
        out.append(_DROPPED_LINKS + pw.varint(dropped[2]))
    status = pw.length_delimited(_STATUS_MESSAGE, status_message.encode()) if status_message else b""
    if status_code:
        status += _STATUS_CODE + pw.varint(status_code)
    out.append(pw.length_delimited(_STATUS, status))
    if flags:
        out.append(_FLAGS + pw.fixed32(flags))
    return b"".join(out)


def event(name: str, time_unix_nano: int, values: Iterable[tuple[str, Any]]) -> bytes:
    out = _EVENT_TIME + pw.fixed64(time_unix_nano) if time_unix_nano else b""
    if name:
        out += pw.length_delimited(_EVENT_NAME, name.encode())
    return out + attributes(_EVENT_ATTRIBUTE, values)


def link(trace_id: bytes, span_id: bytes, trace_state: str, flags: int, values: Iterable[tuple[str, Any]]) -> bytes:
    out = pw.length_delimited(_LINK_TRACE_ID, trace_id) if trace_id else b""
    if span_id:
        out += pw.length_delimited(_LINK_SPAN_ID, span_id)
    if trace_state:
        out += pw.length_delimited(_LINK_TRACE_STATE, trace_state.encode())
    out += attributes(_LINK_ATTRIBUTE, values)
    if flags:
        out += _LINK_FLAGS + pw.fixed32(flags)
    return out


def resource(values: Iterable[tuple[str, Any]]) -> bytes:
    """A ``Resource``'s attributes (the message body; empty when there are none)."""
    return attributes(_RESOURCE_ATTRIBUTES, values)


def scope_spans(name: str, version: str, schema_url: str, spans: Iterable[bytes]) -> Pieces:
    """One ``ScopeSpans``: the scope (always present), its spans (from :func:`span`), the URL."""
    scope = pw.length_delimited(_SCOPE_NAME, name.encode()) if name else b""
    if version:
        scope += pw.length_delimited(_SCOPE_VERSION, version.encode())
    out = [pw.length_delimited(_SS_SCOPE, scope)]
    for item in spans:
        out += (_SS_SPANS, pw.varint(len(item)), item)
    if schema_url:
        out.append(pw.length_delimited(_SS_SCHEMA_URL, schema_url.encode()))
    return out


def resource_spans(resource_body: bytes, schema_url: str, scopes: Iterable[Pieces]) -> Pieces:
    """One ``ResourceSpans`` framed as an item of ``ExportTraceServiceRequest.resource_spans``:
    a request is the join of these."""
    out = [pw.length_delimited(_RS_RESOURCE, resource_body)] if resource_body else []
    for item in scopes:
        out += _framed(_RS_SCOPE_SPANS, item)
    if schema_url:
        out.append(pw.length_delimited(_RS_SCHEMA_URL, schema_url.encode()))
    return _framed(_REQUEST_RESOURCE_SPANS, out)


def _framed(field_tag: bytes, pieces: Pieces) -> Pieces:
    """``pieces`` as a length-delimited field."""
    return [field_tag, pw.varint(sum(map(len, pieces))), *pieces]
