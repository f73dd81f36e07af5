"""Records -> Sigil protojson request bodies, and the response bodies both ways.

Internal to :mod:`gateway.formats.sigil`. Bodies are built as dicts and dumped with orjson,
shaped like the Python SDK's ``MessageToDict(..., preserving_proto_field_name=True)`` output:
proto field names in field-number order, enums as names, int64 as strings, bytes as standard
base64 with padding, RFC 3339 UTC timestamps with 0/3/6/9 fractional digits, defaults
omitted, ``optional`` fields present whenever set (``"temperature": 0.0``) and a set oneof
member present even when empty (``{"text": ""}``). ``model`` and ``usage`` are always present
(the SDK always sets them). Struct numbers are written as the record holds them (``1`` rather
than the SDK's ``1.0``; both parse to the same double).
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Iterable
from typing import Any, Final

import orjson

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil import common
from gateway.formats.sigil.common import (
    ROLE_TO_PROTO,
    outgoing_id,
    system_prompt_and_input,
)
from gateway.formats.sigil.decode_proto import _part_from_proto, generation_to_record, struct_to_dict
from gateway.formats.sigil.encode_proto import part_to_proto
from gateway.formats.sigil.targets import FULL, Schema, fit_dict
from gateway.model import TOKEN_COUNTS, Message, Part, Record, ToolDefinition

_MODE_NAMES: Final = {common.MODE_SYNC: "GENERATION_MODE_SYNC", common.MODE_STREAM: "GENERATION_MODE_STREAM"}
_ROLE_NAMES: Final = {1: "MESSAGE_ROLE_USER", 2: "MESSAGE_ROLE_ASSISTANT", 3: "MESSAGE_ROLE_TOOL"}
_ARTIFACT_KIND_NAMES: Final = {
    1: "ARTIFACT_KIND_REQUEST",
    2: "ARTIFACT_KIND_RESPONSE",
    3: "ARTIFACT_KIND_TOOLS",
    4: "ARTIFACT_KIND_PROVIDER_EVENT",
}


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _double(value: float) -> float | str:
    # JSON has no NaN or infinities; protojson spells them as strings (orjson would write null).
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _put_set(out: dict[str, Any], pairs: Iterable[tuple[str, Any]]) -> None:
    """Adds the pairs whose value is set: protojson leaves defaults out."""
    out.update((key, value) for key, value in pairs if value)


def _part(part: Part) -> dict[str, Any]:
    # The protobuf dict, as protojson writes it: the set oneof member even when empty, inside it
    # only what is set, bytes as base64.
    return {
        key: {k: _b64(v) if isinstance(v, bytes) else v for k, v in value.items() if v}
        if isinstance(value, dict)
        else value
        for key, value in part_to_proto(part).items()
    }


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        item: dict[str, Any] = {}
        role = ROLE_TO_PROTO.get(message.role, 0)
        if role:
            item["role"] = _ROLE_NAMES[role]
        if message.name:
            item["name"] = message.name
        if message.parts:
            item["parts"] = [_part(part) for part in message.parts]
        out.append(item)
    return out


def _usage(record: Record) -> dict[str, Any]:
    u = record.usage
    counts = (u.input_tokens, u.output_tokens, u.total_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens)
    return _usage_dict(*counts, u.reasoning_tokens, inclusive=bool(u.input_includes_cache))


def _usage_dict(*counts: int | None, inclusive: bool) -> dict[str, Any]:
    """TokenUsage: the set counts as int64 strings, in field order; INCLUSIVE when it is."""
    out: dict[str, Any] = {name: str(value) for name, value in zip(TOKEN_COUNTS, counts, strict=True) if value}
    if inclusive:
        out["input_semantics"] = "TOKEN_INPUT_SEMANTICS_INCLUSIVE"
    return out


def _put_timestamp(out: dict[str, Any], key: str, ns: int | None) -> None:
    if ns is not None:
        text = common.format_timestamp(ns)
        if text is not None:  # outside years 1-9999 protojson has no spelling: leave it out
            out[key] = text


def generation_dict(record: Record) -> dict[str, Any]:
    """One generation as the SDK's proto-named protojson dict.

    One straight pass in field-number order (MessageToDict's order); each field is a line.
    """
    r = record
    out: dict[str, Any] = {}
    system_prompt, input_messages = system_prompt_and_input(r)
    strings = (
        ("id", outgoing_id(r, "gen_")),
        ("conversation_id", r.conversation_id),
        ("operation_name", r.operation),
    )
    _put_set(out, strings)
    mode = common.mode_from_stream(r.stream)
    if mode:
        out["mode"] = _MODE_NAMES[mode]
    if r.trace_id:
        out["trace_id"] = r.trace_id
    if r.span_id:
        out["span_id"] = r.span_id
    out["model"] = {key: value for key, value in (("provider", r.provider), ("name", r.model)) if value}
    _put_set(
        out,
        (
            ("response_id", r.response_id),
            ("response_model", r.response_model),
            ("system_prompt", system_prompt),
        ),
    )
    if input_messages:
        out["input"] = _messages(input_messages)
    if r.output:
        out["output"] = _messages(r.output)
    if r.tools:
        out["tools"] = [_tool(tool) for tool in r.tools]
    usage = _usage(r)
    if usage:  # no usage stays no usage (an empty one would read as counts of zero)
        out["usage"] = usage
    if r.stop_reason:
        out["stop_reason"] = r.stop_reason
    _put_timestamp(out, "started_at", r.start_ns)
    _put_timestamp(out, "completed_at", r.end_ns)
    if r.tags:
        out["tags"] = r.tags
    metadata = common.metadata_out(r)
    if metadata:
        out["metadata"] = metadata
    if r.artifacts:
        out["raw_artifacts"] = [
            _artifact(a.kind, a.name, a.content_type, a.payload, a.record_id, a.uri) for a in r.artifacts
        ]
    call_error = common.call_error_out(r)
    if call_error:
        out["call_error"] = call_error
    if r.agent_name:
        out["agent_name"] = r.agent_name
    if r.agent_version:
        out["agent_version"] = r.agent_version
    if r.max_tokens is not None:
        out["max_tokens"] = str(r.max_tokens)
    if r.temperature is not None:
        out["temperature"] = _double(r.temperature)
    if r.top_p is not None:
        out["top_p"] = _double(r.top_p)
    if r.tool_choice is not None:
        out["tool_choice"] = r.tool_choice
    if r.thinking_enabled is not None:
        out["thinking_enabled"] = r.thinking_enabled
    if r.parent_generation_ids:
        out["parent_generation_ids"] = r.parent_generation_ids
    if r.effective_version is not None:
        out["effective_version"] = r.effective_version
    return out


# --------------------------------------------------------------------------- from messages


def message_generation_dict(g: pb.Generation) -> dict[str, Any]:
    """``generation_dict(generation_to_record(g))`` without the record, for the pass-through.

    The same keys in the same order, field by field (``tests/formats/sigil/test_native.py``
    checks the bytes on generated messages); it reads the message where generation_dict reads
    the record, and skips what a record built from a Sigil message never changes (the system
    prompt, projected metadata keys, the outgoing id of a generation that has one).
    """
    out: dict[str, Any] = {}
    generation_id = g.id or outgoing_id(generation_to_record(g), "gen_")
    _put_set(
        out,
        (
            ("id", generation_id),
            ("conversation_id", g.conversation_id),
            ("operation_name", g.operation_name),
        ),
    )
    _put_set(out, (("mode", _MODE_NAMES.get(g.mode)), ("trace_id", g.trace_id), ("span_id", g.span_id)))
    model = g.model
    out["model"] = {key: value for key, value in (("provider", model.provider), ("name", model.name)) if value}
    _put_set(
        out,
        (
            ("response_id", g.response_id),
            ("response_model", g.response_model),
            ("system_prompt", g.system_prompt),
        ),
    )
    if g.input:
        out["input"] = [_message_dict(m) for m in g.input]
    if g.output:
        out["output"] = [_message_dict(m) for m in g.output]
    if g.tools:
        out["tools"] = [
            _tool(ToolDefinition(t.name, t.description, t.type, t.input_schema_json, t.deferred)) for t in g.tools
        ]
    u = g.usage
    usage = _usage_dict(
        u.input_tokens,
        u.output_tokens,
        u.total_tokens,
        u.cache_read_input_tokens,
        u.cache_write_input_tokens or u.cache_creation_input_tokens,
        u.reasoning_tokens,
        inclusive=u.input_semantics == common.SEMANTICS_INCLUSIVE,
    )
    if usage:
        out["usage"] = usage
    if g.stop_reason:
        out["stop_reason"] = g.stop_reason
    for key in ("started_at", "completed_at"):
        if g.HasField(key):
            timestamp = getattr(g, key)
            _put_timestamp(out, key, int(timestamp.seconds) * 1_000_000_000 + int(timestamp.nanos))
    if g.tags:
        out["tags"] = dict(g.tags)
    metadata = struct_to_dict(g.metadata)
    if metadata:
        out["metadata"] = metadata
    if g.raw_artifacts:
        out["raw_artifacts"] = [
            _artifact(a.kind, a.name, a.content_type, a.payload, a.record_id, a.uri) for a in g.raw_artifacts
        ]
    _put_set(out, (("call_error", g.call_error), ("agent_name", g.agent_name), ("agent_version", g.agent_version)))
    if g.HasField("max_tokens"):
        out["max_tokens"] = str(g.max_tokens)
    if g.HasField("temperature"):
        out["temperature"] = _double(g.temperature)
    if g.HasField("top_p"):
        out["top_p"] = _double(g.top_p)
    if g.HasField("tool_choice"):
        out["tool_choice"] = g.tool_choice
    if g.HasField("thinking_enabled"):
        out["thinking_enabled"] = g.thinking_enabled
    if g.parent_generation_ids:
        out["parent_generation_ids"] = list(g.parent_generation_ids)
    if g.HasField("effective_version"):
        out["effective_version"] = g.effective_version
    return out


def _message_dict(message: pb.Message) -> dict[str, Any]:
    item: dict[str, Any] = {}
    role = _ROLE_NAMES.get(message.role)
    if role is not None:
        item["role"] = role
    if message.name:
        item["name"] = message.name
    if message.parts:
        item["parts"] = [_part_dict(part) for part in message.parts]
    return item


def _part_dict(part: pb.Part) -> dict[str, Any]:
    which = part.WhichOneof("payload")
    if which == "text" and not part.HasField("metadata"):
        return {"text": part.text}  # the common case
    return _part(_part_from_proto(part))


def encode_generation_messages_json(messages: Iterable[pb.Generation], schema: Schema = FULL) -> bytes:
    """``encode_generations_json`` of the records these messages would become."""
    generations = [fit_dict(message_generation_dict(g), schema) for g in messages]
    return orjson.dumps({"generations": generations} if generations else {})


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put_set(out, (("name", tool.name), ("description", tool.description), ("type", tool.type)))
    if tool.input_schema_json:
        out["input_schema_json"] = _b64(tool.input_schema_json)
    if tool.deferred:
        out["deferred"] = True
    return out


def _artifact(kind: int, name: str, content_type: str, payload: bytes, record_id: str, uri: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind:
        # protojson writes an enum number it has no name for as the number.
        out["kind"] = _ARTIFACT_KIND_NAMES.get(kind, kind)
    if name:
        out["name"] = name
    if content_type:
        out["content_type"] = content_type
    if payload:
        out["payload"] = _b64(payload)
    if record_id:
        out["record_id"] = record_id
    if uri:
        out["uri"] = uri
    return out


def workflow_step_dict(record: Record) -> dict[str, Any]:
    """One workflow step as the SDK's proto-named protojson dict."""
    r = record
    out: dict[str, Any] = {}
    _put_set(
        out,
        (
            ("id", outgoing_id(r, "wfs_")),
            ("conversation_id", r.conversation_id),
            ("step_name", r.name),
            ("framework", r.framework),
        ),
    )
    _put_timestamp(out, "started_at", r.start_ns)
    _put_timestamp(out, "completed_at", r.end_ns)
    if r.input_state is not None:
        out["input_state"] = r.input_state
    if r.output_state is not None:
        out["output_state"] = r.output_state
    error = common.call_error_out(r)
    if error:
        out["error"] = error
    if r.tags:
        out["tags"] = r.tags
    if r.linked_generation_ids:
        out["linked_generation_ids"] = r.linked_generation_ids
    if r.parent_step_ids:
        out["parent_step_ids"] = r.parent_step_ids
    _put_set(
        out,
        (
            ("agent_name", r.agent_name),
            ("agent_version", r.agent_version),
            ("trace_id", r.trace_id),
            ("span_id", r.span_id),
        ),
    )
    if r.metadata:
        out["metadata"] = r.metadata
    return out


def encode_generations_json(records: Iterable[Record], schema: Schema = FULL) -> bytes:
    """The ``ExportGenerationsRequest`` body for records (``{}`` when there are none), with only
    the fields ``schema`` knows (:mod:`.targets`)."""
    generations = [fit_dict(generation_dict(record), schema) for record in records]
    return orjson.dumps({"generations": generations} if generations else {})


def encode_workflow_steps_json(records: Iterable[Record]) -> bytes:
    """The ``ExportWorkflowStepsRequest`` body for records (``{}`` when there are none)."""
    steps = [workflow_step_dict(record) for record in records]
    return orjson.dumps({"workflow_steps": steps} if steps else {})


# --------------------------------------------------------------------------- in pieces


def generation_json_items(records: Iterable[Record], schema: Schema = FULL) -> list[bytes]:
    """Each generation's protojson object on its own, for an exporter that splits requests by
    size; :func:`join_json_items` makes the same body as :func:`encode_generations_json`."""
    return [orjson.dumps(fit_dict(generation_dict(record), schema)) for record in records]


def message_json_items(messages: Iterable[pb.Generation], schema: Schema = FULL) -> list[bytes]:
    """:func:`generation_json_items` for pass-through messages."""
    return [orjson.dumps(fit_dict(message_generation_dict(g), schema)) for g in messages]


def workflow_step_json_items(records: Iterable[Record]) -> list[bytes]:
    return [orjson.dumps(workflow_step_dict(record)) for record in records]


def join_json_items(key: str, items: list[bytes]) -> bytes:
    """``{"<key>":[item,...]}`` (``{}`` when there are none), as orjson writes it."""
    if not items:
        return b"{}"
    return b'{"' + key.encode() + b'":[' + b",".join(items) + b"]}"
