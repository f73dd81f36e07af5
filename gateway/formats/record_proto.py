"""The canonical record as protobuf (``proto/gateway/record/v1/record.proto``): lossless.

The ``record`` encoding of the nats exporter and receiver: one :class:`~gateway.model.Batch`'s
records, scores and ratings in one ``gateway.record.v1.Batch`` message. Every field of the model
survives ``decode_batch(encode_batch(...))`` unchanged: None stays None (``optional`` fields and
absent messages), dictionary order is kept (repeated entries, not proto maps), JSON values keep
their type (int, float, bool, null, bytes), and integers past 64 bits go to ``int_overflow``.

Pure translation, no I/O::

    encode_batch(records, scores=(), ratings=()) -> bytes     # deterministic bytes
    decode_batch(data) -> tuple[list[Record], list[Score], list[Rating]]   # RecordDecodeError

A record holding a value no JSON has (a set, an object) cannot be encoded:
:class:`RecordEncodeError` names the field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from google.protobuf.message import DecodeError

from gateway._proto.gateway.record.v1 import record_pb2 as pb
from gateway.formats import MessageBody, MessageCodec, MessageItems
from gateway.model import (
    Artifact,
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Rating,
    RatingValue,
    Record,
    Role,
    Score,
    Status,
    ToolDefinition,
    Usage,
)

SCHEMA: Final = "gateway.record.v1.Batch"
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_USAGE_INTS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_tokens",
    "image_count",
    "web_search_count",
    "request_count",
)
_RECORD_STRINGS: Final = (
    "id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "operation",
    "conversation_id",
    "conversation_title",
    "session_id",
    "user_id",
    "trace_name",
    "agent_name",
    "agent_version",
    "workflow_name",
    "workflow_run_id",
    "provider",
    "model",
    "response_id",
    "response_model",
    "error_message",
    "error_type",
    "stop_reason",
    "system_prompt",
    "environment",
    "sdk_version",
    "prompt_hash",
    "tool_name",
    "tool_call_id",
    "tool_type",
    "tool_description",
    "framework",
)
_RECORD_BYTES: Final = ("tool_arguments_json", "tool_result_json")
_RECORD_LISTS: Final = ("tools_used", "parent_generation_ids", "linked_generation_ids", "parent_step_ids")
_RECORD_OPTIONALS: Final = ("stream", "ttft_ms", "temperature", "top_p", "tool_choice", "thinking_enabled", "cost_usd")
_RECORD_INTS: Final = ("start_ns", "end_ns", "max_tokens")
_SCORE_STRINGS: Final = (
    "id",
    "generation_id",
    "evaluator_id",
    "evaluator_version",
    "key",
    "explanation",
    "conversation_id",
    "trace_id",
    "span_id",
    "rule_id",
    "run_id",
    "experiment_id",
    "trial_id",
    "test_case_id",
    "grader_conversation_id",
    "grader_generation_id",
    "grader_trace_id",
    "source_kind",
    "source_id",
)
_RATING_STRINGS: Final = ("id", "conversation_id", "comment", "generation_id", "rater_id", "source")
_PART_FIELDS: Final = (
    "text",
    "provider_type",
    "tool_call_id",
    "tool_name",
    "tool_input_json",
    "tool_result_content",
    "tool_result_json",
    "is_error",
    "media_kind",
    "media_url",
    "media_mime_type",
    "media_name",
)


class RecordEncodeError(ValueError):
    """A record holds a value the schema has no place for (the message names the field)."""


class RecordDecodeError(ValueError):
    """The bytes are not a ``gateway.record.v1.Batch`` (or hold values the model cannot take)."""


# --- encoding ------------------------------------------------------------------------------------


def encode_batch(records: Iterable[Record], scores: Iterable[Score] = (), ratings: Iterable[Rating] = ()) -> bytes:
    """One ``Batch`` message; the same items always give the same bytes."""
    msg = pb.Batch()
    try:
        for record in records:
            _record_to_pb(record, msg.records.add())
        for score in scores:
            _score_to_pb(score, msg.scores.add())
        for rating in ratings:
            _rating_to_pb(rating, msg.ratings.add())
        return msg.SerializeToString(deterministic=True)
    except (TypeError, ValueError) as exc:  # protobuf refuses e.g. a lone surrogate in a string
        if isinstance(exc, RecordEncodeError):
            raise
        raise RecordEncodeError(f"record cannot be encoded: {exc}") from None


def _set_int(msg: Any, overflow: Any, name: str, value: int | None, field: str | None = None) -> None:
    if value is None:
        return
    if _INT64_MIN <= value <= _INT64_MAX:
        setattr(msg, name, value)
    else:
        overflow.add(key=field or name, value=str(value))


def _record_to_pb(r: Record, m: pb.Record) -> None:
    m.kind = str(r.kind)
    m.status = str(r.status)
    for name in _RECORD_STRINGS:
        value = getattr(r, name)
        if value:
            setattr(m, name, value)
    for name in _RECORD_BYTES:
        value = getattr(r, name)
        if value:
            setattr(m, name, value)
    for name in _RECORD_LISTS:
        getattr(m, name).extend(getattr(r, name))
    for name in _RECORD_OPTIONALS:
        value = getattr(r, name)
        if value is not None:
            setattr(m, name, value)
    if r.effective_version is not None:
        m.effective_version = r.effective_version
    for name in _RECORD_INTS:
        _set_int(m, m.int_overflow, name, getattr(r, name))
    if r.customer is not None:
        m.customer.id = r.customer.id
        if r.customer.name is not None:
            m.customer.name = r.customer.name
        if r.customer.image_url is not None:
            m.customer.image_url = r.customer.image_url
    _strings_to_pb(r.trace_metadata, m.trace_metadata)
    _strings_to_pb(r.tags, m.tags)
    for key, score in r.eval_scores.items():
        m.eval_scores.add(key=key, value=score)
    for msg_in in r.input:
        _message_to_pb(msg_in, m.input.add())
    for msg_out in r.output:
        _message_to_pb(msg_out, m.output.add())
    for tool in r.tools:
        m.tools.add(
            name=tool.name,
            description=tool.description,
            type=tool.type,
            input_schema_json=tool.input_schema_json,
            deferred=tool.deferred,
        )
    for a in r.artifacts:
        art = m.artifacts.add(name=a.name, content_type=a.content_type, payload=a.payload, record_id=a.record_id)
        art.uri = a.uri
        _set_int(art, m.int_overflow, "kind", a.kind, f"artifacts.{len(m.artifacts) - 1}.kind")
    usage = m.usage
    usage.SetInParent()
    for name in _USAGE_INTS:
        _set_int(usage, m.int_overflow, name, getattr(r.usage, name), f"usage.{name}")
    if r.usage.input_includes_cache is not None:
        usage.input_includes_cache = r.usage.input_includes_cache
    _map_to_pb(r.metadata, m.metadata, "metadata")
    _map_to_pb(r.extra, m.extra, "extra")
    if r.input_state is not None:
        _map_to_pb(r.input_state, m.input_state, "input_state")
    if r.output_state is not None:
        _map_to_pb(r.output_state, m.output_state, "output_state")


def _message_to_pb(message: Message, m: pb.Message) -> None:
    m.role = str(message.role)
    m.name = message.name
    for part in message.parts:
        p = m.parts.add(kind=str(part.kind))
        for name in _PART_FIELDS:
            value = getattr(part, name)
            if value:
                setattr(p, name, value)


def _score_to_pb(s: Score, m: pb.Score) -> None:
    for name in _SCORE_STRINGS:
        value = getattr(s, name)
        if value:
            setattr(m, name, value)
    _value_to_pb(s.value, m.value, "score.value")
    if s.passed is not None:
        m.passed = s.passed
    _map_to_pb(s.metadata, m.metadata, "score.metadata")
    _set_int(m, m.int_overflow, "created_ns", s.created_ns)


def _rating_to_pb(r: Rating, m: pb.Rating) -> None:
    for name in _RATING_STRINGS:
        value = getattr(r, name)
        if value:
            setattr(m, name, value)
    m.value = str(r.value)
    _map_to_pb(r.metadata, m.metadata, "rating.metadata")
    _set_int(m, m.int_overflow, "created_ns", r.created_ns)


def _strings_to_pb(values: Mapping[str, str], entries: Any) -> None:
    for key, value in values.items():
        entries.add(key=key, value=value)


def _map_to_pb(values: Mapping[str, Any], m: pb.MapValue, where: str) -> None:
    m.SetInParent()  # present even when empty: {} is not None
    for key, value in values.items():
        if not isinstance(key, str):
            raise RecordEncodeError(f"{where}: key {key!r} is not a string")
        entry = m.entries.add(key=key)
        _value_to_pb(value, entry.value, f"{where}.{key}")


def _value_to_pb(value: Any, m: pb.Value, where: str) -> None:
    # bool before int: bool is an int subclass.
    if value is None:
        m.null_value = True
    elif isinstance(value, bool):
        m.bool_value = value
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            m.int_value = value
        else:
            m.big_int_value = str(value)
    elif isinstance(value, float):
        m.double_value = value
    elif isinstance(value, str):
        m.string_value = value
    elif isinstance(value, bytes):
        m.bytes_value = value
    elif isinstance(value, list):
        m.list_value.SetInParent()
        for i, item in enumerate(value):
            _value_to_pb(item, m.list_value.values.add(), f"{where}.{i}")
    elif isinstance(value, dict):
        _map_to_pb(value, m.map_value, where)
    else:
        raise RecordEncodeError(f"{where}: a {type(value).__name__} is not a JSON value")


# --- decoding ------------------------------------------------------------------------------------


def decode_batch(data: bytes) -> tuple[list[Record], list[Score], list[Rating]]:
    """The items of a ``Batch`` message; raises :class:`RecordDecodeError` on bad input."""
    msg = pb.Batch()
    try:
        msg.ParseFromString(data)
        return (
            [_record_from_pb(m) for m in msg.records],
            [_score_from_pb(m) for m in msg.scores],
            [_rating_from_pb(m) for m in msg.ratings],
        )
    except DecodeError as exc:
        raise RecordDecodeError(f"invalid protobuf {SCHEMA}: {exc}") from None
    except ValueError as exc:  # an enum value this version does not know, a bad overflow
        raise RecordDecodeError(f"invalid {SCHEMA}: {exc}") from None


def _opt(m: Any, name: str) -> Any:
    return getattr(m, name) if m.HasField(name) else None


def _int(m: Any, overflow: Mapping[str, str], name: str, field: str | None = None) -> int | None:
    key = field or name
    if key in overflow:
        return int(overflow[key])
    return int(getattr(m, name)) if m.HasField(name) else None


def _record_from_pb(m: pb.Record) -> Record:
    # Only the fields that are set are read (ListFields): most records leave most fields empty,
    # and reading a field through upb costs as much as setting it.
    r = Record()
    overflow: dict[str, str] = {}
    for fd, value in m.ListFields():
        name = fd.name
        how = _RECORD_FIELDS.get(name)
        if how is None:
            setattr(r, name, value)  # strings, bytes, optional scalars, 64-bit ints
        elif how == "list":
            setattr(r, name, list(value))
        elif how == "strings":
            setattr(r, name, {e.key: e.value for e in value})
        elif how == "map":
            setattr(r, name, _map_from_pb(value))
        elif how == "messages":
            setattr(r, name, [_message_from_pb(x) for x in value])
        elif name == "kind":
            r.kind = Kind(value)
        elif name == "status":
            r.status = Status(value)
        elif name == "customer":
            r.customer = Customer(id=value.id, name=_opt(value, "name"), image_url=_opt(value, "image_url"))
        elif name == "usage":
            r.usage = Usage(**{f.name: v for f, v in value.ListFields()})
        elif name == "tools":
            r.tools = [
                ToolDefinition(
                    name=t.name,
                    description=t.description,
                    type=t.type,
                    input_schema_json=t.input_schema_json,
                    deferred=t.deferred,
                )
                for t in value
            ]
        elif name == "artifacts":
            r.artifacts = [
                Artifact(
                    kind=a.kind,
                    name=a.name,
                    content_type=a.content_type,
                    payload=a.payload,
                    record_id=a.record_id,
                    uri=a.uri,
                )
                for a in value
            ]
        elif name == "int_overflow":
            overflow = {e.key: e.value for e in value}
    for key, text in overflow.items():
        head, _, rest = key.partition(".")
        if head == "usage":
            setattr(r.usage, rest, int(text))
        elif head == "artifacts":
            r.artifacts[int(rest.partition(".")[0])].kind = int(text)
        else:
            setattr(r, key, int(text))
    return r


# How _record_from_pb turns a set field into the model's value; absent: as it is.
_RECORD_FIELDS: Final[dict[str, str]] = {
    **{name: "list" for name in _RECORD_LISTS},
    "trace_metadata": "strings",
    "tags": "strings",
    "eval_scores": "strings",
    "metadata": "map",
    "extra": "map",
    "input_state": "map",
    "output_state": "map",
    "input": "messages",
    "output": "messages",
    **{name: "special" for name in ("kind", "status", "customer", "usage", "tools", "artifacts", "int_overflow")},
}


def _message_from_pb(m: pb.Message) -> Message:
    parts = [Part(PartKind(p.kind), **{f.name: v for f, v in p.ListFields() if f.name != "kind"}) for p in m.parts]
    return Message(role=Role(m.role), parts=parts, name=m.name)


def _score_from_pb(m: pb.Score) -> Score:
    overflow = {e.key: e.value for e in m.int_overflow}
    s = Score(**{name: getattr(m, name) for name in _SCORE_STRINGS})
    value = _value_from_pb(m.value)
    s.value = value if isinstance(value, float | bool | str | int) else 0.0
    s.passed = _opt(m, "passed")
    s.metadata = _map_from_pb(m.metadata)
    s.created_ns = _int(m, overflow, "created_ns")
    return s


def _rating_from_pb(m: pb.Rating) -> Rating:
    overflow = {e.key: e.value for e in m.int_overflow}
    r = Rating(**{name: getattr(m, name) for name in _RATING_STRINGS})
    r.value = RatingValue(m.value)
    r.metadata = _map_from_pb(m.metadata)
    r.created_ns = _int(m, overflow, "created_ns")
    return r


def _map_from_pb(m: pb.MapValue) -> dict[str, Any]:
    return {e.key: _value_from_pb(e.value) for e in m.entries}


def _value_from_pb(m: pb.Value) -> Any:
    kind = m.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "list_value":
        return [_value_from_pb(v) for v in m.list_value.values]
    if kind == "map_value":
        return _map_from_pb(m.map_value)
    if kind == "big_int_value":
        return int(m.big_int_value)
    return getattr(m, kind)


BATCH_BODY: Final = "record/v1"  # the message body kind (the NATS Gateway-Encoding header)


def _messages(
    records: list[Record], scores: list[Score], ratings: list[Rating], dropped: Counter[str]
) -> list[MessageBody]:
    return [MessageBody(BATCH_BODY, encode_batch(records, scores, ratings), len(records) + len(scores) + len(ratings))]


def _message_items(data: bytes) -> MessageItems:
    records, scores, ratings = decode_batch(data)
    return MessageItems(records, scores, ratings)


# The record's message form: lossless, the only one that carries scores and ratings.
MESSAGES = MessageCodec(
    encoding="record",
    encode=_messages,
    decoders={BATCH_BODY: ("application/x-protobuf; proto=gateway.record.v1.Batch", _message_items)},
    carries_scores=True,
)
