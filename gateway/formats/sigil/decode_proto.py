"""Sigil protobuf messages -> records (the gRPC receiving direction).

The gRPC path: request bytes of either package (``sigil.v1`` or ``agento11y.v1``, identical on
the wire) are parsed with the ``sigil.v1`` classes from ``gateway._proto`` and mapped by
attribute access, never through ``json_format`` or reflection.

Mapping conventions (the same as :mod:`.decode_json`; :mod:`.encode_proto` inverts them):

* proto3 ``int64`` usage counts cannot tell 0 from unset, so 0 becomes ``None`` in the record
  (other formats' exporters then do not send a false 0) and ``None`` becomes 0 on the way out.
* ``optional`` fields (``max_tokens``, ``temperature``, ...) keep their presence: unset is
  ``None``, a set 0 stays 0.
* ``model`` and ``usage`` are always written, as the Python SDK does; an empty ``metadata``
  Struct, an empty ``PartMetadata`` and a ``Part`` with no payload (read as an empty text
  part) are the only shapes a round trip does not reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from google.protobuf.message import DecodeError

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil import common
from gateway.formats.sigil.common import ItemError, SigilDecodeError
from gateway.model import (
    Artifact,
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    ToolDefinition,
    Usage,
)

_NS_PER_S = 1_000_000_000


def _value_to_py(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return common.json_number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value_to_py(item) for item in value.list_value.values]
    return None  # null_value, or no kind set (which protojson also writes as null)


def struct_to_dict(struct: Any) -> dict[str, Any]:
    # Keys and subscripts, not ``items()``: upb's maps take the ItemsView mixin's Python loop
    # for that, which costs twice as much.
    fields = struct.fields
    return {key: _value_to_py(fields[key]) for key in fields}


def string_map(field: Any) -> dict[str, str]:
    """A ``map<string, string>`` as a dict (keys and subscripts, as in struct_to_dict)."""
    return {key: field[key] for key in field}


def _timestamp_ns(timestamp: Any) -> int:
    return int(timestamp.seconds) * _NS_PER_S + int(timestamp.nanos)


def _part_from_proto(part: pb.Part) -> Part:
    # HasField first: reading an unset submessage still builds its wrapper.
    provider_type = part.metadata.provider_type if part.HasField("metadata") else ""
    which = part.WhichOneof("payload")
    if which == "text":
        return Part(PartKind.TEXT, part.text, provider_type)
    if which == "thinking":
        return Part(PartKind.THINKING, part.thinking, provider_type)
    if which == "tool_call":
        call = part.tool_call
        return Part(
            PartKind.TOOL_CALL,
            provider_type=provider_type,
            tool_call_id=call.id,
            tool_name=call.name,
            tool_input_json=call.input_json,
        )
    if which == "tool_result":
        result = part.tool_result
        return Part(
            PartKind.TOOL_RESULT,
            provider_type=provider_type,
            tool_call_id=result.tool_call_id,
            tool_name=result.name,
            tool_result_content=result.content,
            tool_result_json=result.content_json,
            is_error=result.is_error,
        )
    if which == "media":
        media = part.media
        return Part(
            PartKind.MEDIA,
            provider_type=provider_type,
            media_kind=media.kind,
            media_url=media.url,
            media_mime_type=media.mime_type,
            media_name=media.name,
        )
    return Part(PartKind.TEXT, provider_type=provider_type)


_ROLE_FROM_PROTO: Final = common.ROLE_FROM_PROTO


def _messages_from_proto(messages: Sequence[pb.Message]) -> list[Message]:
    # Loops over slices: upb iterates a repeated field through the generic sequence protocol,
    # a slice is one C call (a third cheaper), and a comprehension is a function call of its
    # own in Python 3.11.
    out: list[Message] = []
    for m in messages[:]:
        parts: list[Part] = []
        for p in m.parts[:]:
            parts.append(_part_from_proto(p))
        out.append(Message(_ROLE_FROM_PROTO.get(m.role, Role.UNSPECIFIED), parts, m.name))
    return out


def usage_from_counts(
    input_tokens: int,
    output_tokens: int,
    total_tokens: int,
    cache_read: int,
    cache_write: int,
    reasoning: int,
    legacy_cache_creation: int,
    semantics: int,
) -> Usage:
    """Usage with 0 read as unknown; legacy field 7 counts only when field 5 is 0."""
    return Usage(
        input_tokens=input_tokens or None,
        output_tokens=output_tokens or None,
        total_tokens=total_tokens or None,
        cache_read_input_tokens=cache_read or None,
        cache_write_input_tokens=cache_write or legacy_cache_creation or None,
        reasoning_tokens=reasoning or None,
        input_includes_cache=True if semantics == common.SEMANTICS_INCLUSIVE else None,
    )


def generation_to_record(generation: pb.Generation) -> Record:
    """Maps a Generation as sent, without the server's defaults or validation.

    One flat constructor call on purpose: it reads like the field table. Every read of a upb
    field builds a Python object, so each is made once: submessages are bound to a name,
    empty repeated fields and unset submessages are not iterated or opened (an empty list
    comprehension still costs a function call).
    """
    g = generation
    has = g.HasField
    u = g.usage
    model = g.model
    call_error = g.call_error
    tools = g.tools
    artifacts = g.raw_artifacts
    parent_ids = g.parent_generation_ids
    record = Record(
        kind=Kind.LLM,
        id=g.id,
        trace_id=g.trace_id,
        span_id=g.span_id,
        operation=g.operation_name,
        conversation_id=g.conversation_id,
        agent_name=g.agent_name,
        agent_version=g.agent_version,
        provider=model.provider,
        model=model.name,
        response_id=g.response_id,
        response_model=g.response_model,
        stream=common.stream_from_mode(g.mode),
        start_ns=_timestamp_ns(g.started_at) if has("started_at") else None,
        end_ns=_timestamp_ns(g.completed_at) if has("completed_at") else None,
        status=common.status_from_call_error(call_error),
        error_message=call_error,
        stop_reason=g.stop_reason,
        max_tokens=g.max_tokens if has("max_tokens") else None,
        temperature=g.temperature if has("temperature") else None,
        top_p=g.top_p if has("top_p") else None,
        tool_choice=g.tool_choice if has("tool_choice") else None,
        thinking_enabled=g.thinking_enabled if has("thinking_enabled") else None,
        system_prompt=g.system_prompt,
        input=_messages_from_proto(g.input),
        output=_messages_from_proto(g.output),
        tools=[ToolDefinition(t.name, t.description, t.type, t.input_schema_json, t.deferred) for t in tools]
        if tools
        else [],
        artifacts=[Artifact(a.kind, a.name, a.content_type, a.payload, a.record_id, a.uri) for a in artifacts]
        if artifacts
        else [],
        usage=usage_from_counts(
            u.input_tokens,
            u.output_tokens,
            u.total_tokens,
            u.cache_read_input_tokens,
            u.cache_write_input_tokens,
            u.reasoning_tokens,
            u.cache_creation_input_tokens,
            u.input_semantics,
        ),
        tags=string_map(g.tags),
        metadata=struct_to_dict(g.metadata) if has("metadata") else {},
        parent_generation_ids=list(parent_ids) if parent_ids else [],
        effective_version=g.effective_version if has("effective_version") else None,
    )
    common.project_metadata(record)
    return record


def workflow_step_to_record(step: pb.WorkflowStep) -> Record:
    """Maps a WorkflowStep as sent (``step_name`` becomes :attr:`Record.name`), without validation."""
    s = step
    return Record(
        kind=Kind.WORKFLOW_STEP,
        id=s.id,
        conversation_id=s.conversation_id,
        name=s.step_name,
        framework=s.framework,
        start_ns=_timestamp_ns(s.started_at) if s.HasField("started_at") else None,
        end_ns=_timestamp_ns(s.completed_at) if s.HasField("completed_at") else None,
        input_state=struct_to_dict(s.input_state) if s.HasField("input_state") else None,
        output_state=struct_to_dict(s.output_state) if s.HasField("output_state") else None,
        status=common.status_from_call_error(s.error),
        error_message=s.error,
        tags=dict(s.tags),
        linked_generation_ids=list(s.linked_generation_ids),
        parent_step_ids=list(s.parent_step_ids),
        agent_name=s.agent_name,
        agent_version=s.agent_version,
        trace_id=s.trace_id,
        span_id=s.span_id,
        metadata=struct_to_dict(s.metadata),
    )


def generations_from_request(
    request: pb.ExportGenerationsRequest, *, now_ns: int | None = None
) -> list[Record | ItemError]:
    """Per item, in order: the defaulted record, or why the server would reject it."""
    now = common.now_ns() if now_ns is None else now_ns
    generations = request.generations[:]  # a slice: upb iterates repeated fields slowly
    return [common.finish_generation(generation_to_record(g), g.mode, g.HasField("model"), now) for g in generations]


def workflow_steps_from_request(request: pb.ExportWorkflowStepsRequest) -> list[Record | ItemError]:
    return [common.finish_workflow_step(workflow_step_to_record(s)) for s in request.workflow_steps]


def parse_message(message: Any, data: bytes) -> None:
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        # grpc-go answers INTERNAL "grpc: error unmarshalling request: ..." for these.
        raise SigilDecodeError(f"proto: cannot parse invalid wire-format data: {exc}") from exc


def decode_generations_grpc(data: bytes, *, now_ns: int | None = None) -> list[Record | ItemError]:
    """Decodes ExportGenerationsRequest bytes of either package (same wire format)."""
    request = pb.ExportGenerationsRequest()
    parse_message(request, data)
    return generations_from_request(request, now_ns=now_ns)


def decode_workflow_steps_grpc(data: bytes) -> list[Record | ItemError]:
    request = pb.ExportWorkflowStepsRequest()
    parse_message(request, data)
    return workflow_steps_from_request(request)
