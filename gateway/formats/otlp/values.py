"""Shared OTLP helpers: AnyValue <-> Python values, and span ids.

Attribute values live in :attr:`Record.extra` as plain Python values (str, bool, int, float, bytes,
list, dict, None) so that the type survives a round trip: an int stays ``int_value``, a float
``double_value``, a kvlist a dict.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from gateway.formats import protowire as pw
from gateway.formats.otlp.semconv import SemConv
from gateway.model import Kind, Record, Status, Usage

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8


STRING_VALUE = "string_value"
# A scalar's Python type -> the AnyValue field it comes in (see :func:`to_python`).
WIRE_FIELDS: Mapping[type, str] = {
    str: STRING_VALUE,
    int: "int_value",
    float: "double_value",
    bool: "bool_value",
    bytes: "bytes_value",
}


def to_python(value: AnyValue) -> Any:
    """The Python value of an AnyValue; an empty AnyValue is ``None``."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [to_python(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value
    return None


# AnyValue fields (common.proto): the tag of each oneof member, and KeyValue's two fields.
_STRING = pw.tag(1, pw.LEN)
_BOOL_TRUE = pw.tag(2, pw.VARINT) + b"\x01"
_BOOL_FALSE = pw.tag(2, pw.VARINT) + b"\x00"
_INT = pw.tag(3, pw.VARINT)
_DOUBLE = pw.tag(4, pw.FIXED64)
_ARRAY = pw.tag(5, pw.LEN)
_KVLIST = pw.tag(6, pw.LEN)
_BYTES = pw.tag(7, pw.LEN)
_ITEM = pw.tag(1, pw.LEN)  # ArrayValue.values, KeyValueList.values
_KEY = pw.tag(1, pw.LEN)
_VALUE = pw.tag(2, pw.LEN)
_SMALL = pw.SMALL_VARINTS
# Encoded key fields by attribute name: names repeat on every span. Bounded (user metadata keys
# are unbounded): it starts over when full.
_KEYS: dict[str, bytes] = {}
_KEYS_CACHED = 4096


def any_value_bytes(value: Any) -> bytes:
    """The serialized AnyValue of a Python value (the inverse of :func:`to_python`); ``None`` is
    the empty AnyValue. The one rule set for every attribute the gateway writes."""
    head, body = _any_value(value)
    return head + body


def _any_value(value: Any) -> tuple[bytes, bytes]:
    """:func:`any_value_bytes` in two pieces, so that a long string is copied once into the
    attribute rather than once per enclosing message."""
    # bool before int: bool is a subclass of int. Lengths under 128 are one byte (_SMALL), inline:
    # attributes are written per span and a call per varint shows.
    if isinstance(value, str):
        data = value.encode()
        n = len(data)
        return _STRING + (_SMALL[n] if n < 128 else pw.varint(n)), data
    if isinstance(value, bool):
        return b"", _BOOL_TRUE if value else _BOOL_FALSE
    if isinstance(value, int):
        if 0 <= value < 128:
            return _INT, _SMALL[value]
        if _INT64_MIN <= value <= _INT64_MAX:
            return _INT, pw.signed_varint(value)
        # No int64 can hold it; a decimal string keeps the digits.
        return _any_value(str(value))
    if isinstance(value, float):
        return _DOUBLE, pw.double(value)
    if isinstance(value, bytes | bytearray):
        return _BYTES + pw.varint(len(value)), bytes(value)
    if isinstance(value, list | tuple):
        # An empty list is still an (empty) array, not an empty AnyValue.
        items = b"".join([pw.length_delimited(_ITEM, any_value_bytes(item)) for item in value])
        return _ARRAY + pw.varint(len(items)), items
    if isinstance(value, Mapping):
        pairs = b"".join([pw.length_delimited(_ITEM, key_value_bytes(str(k), item)) for k, item in value.items()])
        return _KVLIST + pw.varint(len(pairs)), pairs
    if value is not None:
        return _any_value(str(value))
    return b"", b""


def _key(key: str) -> bytes:
    """KeyValue's key field (none for an empty key)."""
    prefix = _KEYS.get(key)
    if prefix is None:
        if len(_KEYS) >= _KEYS_CACHED:
            _KEYS.clear()
        prefix = _KEYS[key] = pw.length_delimited(_KEY, key.encode()) if key else b""
    return prefix


def key_value_bytes(key: str, value: Any) -> bytes:
    """A serialized KeyValue; a ``None`` value leaves the value out."""
    if value is None:
        return _key(key)
    head, body = _any_value(value)
    n = len(head) + len(body)
    return b"".join((_key(key), _VALUE, _SMALL[n] if n < 128 else pw.varint(n), head, body))


def attribute_bytes(field_tag: bytes, key: str, value: Any) -> bytes:
    """A KeyValue as a repeated ``attributes`` field of the message whose tag is ``field_tag``:
    the bytes of ``field_tag + varint(len(kv)) + key_value_bytes(key, value)``, in one copy."""
    prefix = _key(key)
    if value is None:
        return field_tag + pw.varint(len(prefix)) + prefix
    head, body = _any_value(value)
    n = len(head) + len(body)
    size = _SMALL[n] if n < 128 else pw.varint(n)
    total = len(prefix) + 1 + len(size) + n
    return b"".join((field_tag, _SMALL[total] if total < 128 else pw.varint(total), prefix, _VALUE, size, head, body))


def set_any(target: AnyValue, value: Any) -> None:
    """Fill an empty ``target`` from a Python value (see :func:`any_value_bytes`)."""
    target.MergeFromString(any_value_bytes(value))


def add_attribute(attributes: RepeatedCompositeFieldContainer[KeyValue], key: str, value: Any) -> None:
    attributes.add().MergeFromString(key_value_bytes(key, value))


def attributes_to_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: to_python(kv.value) for kv in attributes}


def id_from_hex(value: str, size: int) -> bytes | None:
    """The id bytes when ``value`` is valid hex of the right length and not all zeros."""
    if len(value) != size * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    # fromhex skips whitespace, so the length is checked again; all-zero ids are invalid in OTel.
    if len(raw) != size or not any(raw):
        return None
    return raw


def derive_id(namespace: bytes, key: str, size: int) -> bytes:
    """A deterministic id: a retry or replay of the same record gets the same bytes."""
    raw = hashlib.sha256(namespace + b"\0" + key.encode("utf-8", "surrogatepass")).digest()[:size]
    if not any(raw):  # astronomically unlikely, but an all-zero id would be invalid
        raw = raw[:-1] + b"\x01"
    return raw


# Record.extra keys for what an OTLP span carries beyond the record fields (see the module
# docstring of gateway.formats.otlp): attributes and resource attributes by name, then span and
# scope details that only an OTLP -> OTLP hop can use.
EXTRA_ATTR = "otlp.attr."
EXTRA_RESOURCE = "otlp.resource."
EXTRA_RESOURCE_SCHEMA_URL = "otlp.resource_schema_url"
EXTRA_SCOPE_NAME = "otlp.scope.name"
EXTRA_SCOPE_VERSION = "otlp.scope.version"
EXTRA_SCOPE_SCHEMA_URL = "otlp.scope.schema_url"
EXTRA_SPAN_KIND = "otlp.span.kind"  # int; its presence also marks a record decoded from OTLP
EXTRA_SPAN_NAME = "otlp.span.name"  # only when gateway.record.name replaced it as Record.name
EXTRA_STATUS_CODE = "otlp.span.status_code"  # 1 (OK) only: ERROR comes from Record.status
EXTRA_TRACE_STATE = "otlp.span.trace_state"
EXTRA_FLAGS = "otlp.span.flags"
EXTRA_EVENTS = "otlp.span.events"  # [{name, time_unix_nano, attributes}]
EXTRA_LINKS = "otlp.span.links"  # [{trace_id, span_id, trace_state, flags, attributes}] (hex ids)
EXTRA_DROPPED = "otlp.span.dropped"  # {attributes, events, links}: the span's non-zero dropped counts
# True on a record made from a span without GenAI attributes (``traces_to_records(passthrough=True)``):
# only an OTLP exporter can send it on (as the same span); other exporters drop it as unsupported.
EXTRA_PASSTHROUGH = "otlp.passthrough"


# Providers whose APIs count cached tokens inside the input count (OpenAI's prompt_tokens,
# Gemini's promptTokenCount); Anthropic's input_tokens leave them out.
INPUT_INCLUDES_CACHE_PROVIDERS = frozenset(
    {"openai", "azure.ai.openai", "gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai", "google", "gemini"}
)


def inclusive_input_tokens(usage: Usage, provider: str = "") -> int | None:
    """``gen_ai.usage.input_tokens`` semantics: cached tokens are part of the input count.

    When the record does not say whether its count already includes them (``input_includes_cache``
    None, as with Sigil) the provider's API decides; for other providers, or when the record says
    it does not (Anthropic-style), the cache read and write counts are added, since under-counting
    input is the worse error for cost and quota dashboards.
    """
    if usage.input_tokens is None:
        return None
    if usage.input_includes_cache is True or (
        usage.input_includes_cache is None and provider.lower() in INPUT_INCLUDES_CACHE_PROVIDERS
    ):
        return usage.input_tokens
    return usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_write_input_tokens or 0)


# error.type for records that failed without a type of their own.
STATUS_ERROR_TYPES = {
    Status.TIMEOUT: "timeout",
    Status.RATE_LIMITED: "rate_limit",
    Status.ABORTED: "cancelled",
}


# What an error message says when the record has no error type (Sigil keeps only the message).
_MESSAGE_ERROR_TYPES = (
    (re.compile(r"\b429\b|rate.?limit", re.IGNORECASE), "rate_limit"),
    (re.compile(r"time(d)?.?out", re.IGNORECASE), "timeout"),
)


def error_type(record: Record, fallback: str) -> str:
    """``error.type`` of a failed record ("" when it succeeded): its own, or what its status or
    message say, else ``fallback`` (``_OTHER``)."""
    if record.status is Status.OK:
        return ""
    if record.error_type:
        return record.error_type
    if record.status in STATUS_ERROR_TYPES:
        return STATUS_ERROR_TYPES[record.status]
    for pattern, value in _MESSAGE_ERROR_TYPES:
        if pattern.search(record.error_message):
            return value
    return fallback


def operation_kinds(semconv: SemConv) -> dict[str, Kind]:
    """The record kind each well-known ``gen_ai.operation.name`` stands for."""
    ops = semconv.operations
    return {
        ops.chat: Kind.LLM,
        ops.text_completion: Kind.LLM,
        ops.generate_content: Kind.LLM,
        ops.embeddings: Kind.EMBEDDING,
        ops.execute_tool: Kind.TOOL,
        ops.invoke_agent: Kind.AGENT,
        ops.create_agent: Kind.AGENT,
        ops.invoke_workflow: Kind.WORKFLOW_STEP,
        ops.retrieval: Kind.OTHER,
    }
