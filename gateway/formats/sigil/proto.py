"""Sigil protobuf messages <-> :class:`~gateway.model.Record` (internal; see ``gateway.formats.sigil``).

The gRPC path: request bytes of either package (``sigil.v1`` or ``agento11y.v1``, identical on
the wire) are parsed with the ``sigil.v1`` classes from ``gateway._proto`` and mapped by
attribute access, never through ``json_format`` or reflection.

Mapping conventions (the same as the protojson path in ``sigil_json``):

* proto3 ``int64`` usage counts cannot tell 0 from unset, so 0 becomes ``None`` in the record
  (other formats' exporters then do not send a false 0) and ``None`` becomes 0 on the way out.
* ``optional`` fields (``max_tokens``, ``temperature``, ...) keep their presence: unset is
  ``None``, a set 0 stays 0.
* ``model`` and ``usage`` are always written, as the Python SDK does; an empty ``metadata``
  Struct, an empty ``PartMetadata`` and a ``Part`` with no payload (read as an empty text
  part) are the only shapes a round trip does not reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil import common
from gateway.formats.sigil.common import ExportResult, ItemError, SigilDecodeError, outgoing_id
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

ROLE_FROM_PROTO: dict[int, Role] = {1: Role.USER, 2: Role.ASSISTANT, 3: Role.TOOL}
# Sigil has no system role: system messages are folded into system_prompt (see
# system_prompt_and_input), and any left over are sent without a role.
ROLE_TO_PROTO: dict[Role, int] = {Role.USER: 1, Role.ASSISTANT: 2, Role.TOOL: 3}


def system_prompt_and_input(record: Record) -> tuple[str, list[Message]]:
    """The system prompt and input messages to send for a record.

    Records from formats with a ``system`` role carry the prompt as messages; when the record
    has no ``system_prompt`` of its own, their text parts become it (joined by blank lines).
    """
    if record.system_prompt or not any(m.role is Role.SYSTEM for m in record.input):
        return record.system_prompt, record.input
    texts = [
        part.text
        for message in record.input
        if message.role is Role.SYSTEM
        for part in message.parts
        if part.kind is PartKind.TEXT
    ]
    return "\n\n".join(texts), [m for m in record.input if m.role is not Role.SYSTEM]


# --------------------------------------------------------------------------- proto -> record


def _value_to_py(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return common.json_number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {key: _value_to_py(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value_to_py(item) for item in value.list_value.values]
    return None  # null_value, or no kind set (which protojson also writes as null)


def struct_to_dict(struct: Any) -> dict[str, Any]:
    return {key: _value_to_py(item) for key, item in struct.fields.items()}


def _timestamp_ns(timestamp: Any) -> int:
    return int(timestamp.seconds) * _NS_PER_S + int(timestamp.nanos)


def _part_from_proto(part: pb.Part) -> Part:
    provider_type = part.metadata.provider_type
    which = part.WhichOneof("payload")
    if which == "text":
        return Part(PartKind.TEXT, text=part.text, provider_type=provider_type)
    if which == "thinking":
        return Part(PartKind.THINKING, text=part.thinking, provider_type=provider_type)
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


def _messages_from_proto(messages: Iterable[pb.Message]) -> list[Message]:
    return [
        Message(ROLE_FROM_PROTO.get(m.role, Role.UNSPECIFIED), [_part_from_proto(p) for p in m.parts], m.name)
        for m in messages
    ]


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

    One flat constructor call on purpose: it reads like the field table and is the fastest
    form (attribute access only).
    """
    g = generation
    u = g.usage
    record = Record(
        kind=Kind.LLM,
        id=g.id,
        trace_id=g.trace_id,
        span_id=g.span_id,
        operation=g.operation_name,
        conversation_id=g.conversation_id,
        agent_name=g.agent_name,
        agent_version=g.agent_version,
        provider=g.model.provider,
        model=g.model.name,
        response_id=g.response_id,
        response_model=g.response_model,
        stream=common.stream_from_mode(g.mode),
        start_ns=_timestamp_ns(g.started_at) if g.HasField("started_at") else None,
        end_ns=_timestamp_ns(g.completed_at) if g.HasField("completed_at") else None,
        status=common.status_from_call_error(g.call_error),
        error_message=g.call_error,
        stop_reason=g.stop_reason,
        max_tokens=g.max_tokens if g.HasField("max_tokens") else None,
        temperature=g.temperature if g.HasField("temperature") else None,
        top_p=g.top_p if g.HasField("top_p") else None,
        tool_choice=g.tool_choice if g.HasField("tool_choice") else None,
        thinking_enabled=g.thinking_enabled if g.HasField("thinking_enabled") else None,
        system_prompt=g.system_prompt,
        input=_messages_from_proto(g.input),
        output=_messages_from_proto(g.output),
        tools=[ToolDefinition(t.name, t.description, t.type, t.input_schema_json, t.deferred) for t in g.tools],
        artifacts=[Artifact(a.kind, a.name, a.content_type, a.payload, a.record_id, a.uri) for a in g.raw_artifacts],
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
        tags=dict(g.tags),
        metadata=struct_to_dict(g.metadata),
        parent_generation_ids=list(g.parent_generation_ids),
        effective_version=g.effective_version if g.HasField("effective_version") else None,
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
    return [
        common.finish_generation(generation_to_record(g), g.mode, g.HasField("model"), now) for g in request.generations
    ]


def workflow_steps_from_request(request: pb.ExportWorkflowStepsRequest) -> list[Record | ItemError]:
    return [common.finish_workflow_step(workflow_step_to_record(s)) for s in request.workflow_steps]


def _parse(message: Any, data: bytes) -> None:
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        # grpc-go answers INTERNAL "grpc: error unmarshalling request: ..." for these.
        raise SigilDecodeError(f"proto: cannot parse invalid wire-format data: {exc}") from exc


def decode_generations_grpc(data: bytes, *, now_ns: int | None = None) -> list[Record | ItemError]:
    """Decodes ExportGenerationsRequest bytes of either package (same wire format)."""
    request = pb.ExportGenerationsRequest()
    _parse(request, data)
    return generations_from_request(request, now_ns=now_ns)


def decode_workflow_steps_grpc(data: bytes) -> list[Record | ItemError]:
    request = pb.ExportWorkflowStepsRequest()
    _parse(request, data)
    return workflow_steps_from_request(request)


# --------------------------------------------------------------------------- record -> proto


def _enum(number: int) -> Any:
    # The generated stubs type enum arguments as their wrapper classes; the runtime takes any int
    # (proto3 enums are open, so unknown numbers such as an ArtifactKind 7 pass through).
    return number


def _set_timestamp(timestamp: Any, ns: int) -> None:
    seconds, nanos = divmod(ns, _NS_PER_S)  # floor division keeps nanos in [0, 1e9)
    timestamp.seconds = seconds
    timestamp.nanos = nanos


# Nested messages are given to the constructors as dicts: upb builds them in C, about twice as
# fast as creating each sub-message object from Python (measured on the bench payload).


def part_to_proto(part: Part) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"provider_type": part.provider_type}} if part.provider_type else {}
    kind = part.kind
    if kind is PartKind.TEXT:
        out["text"] = part.text
    elif kind is PartKind.THINKING:
        out["thinking"] = part.text
    elif kind is PartKind.TOOL_CALL:
        out["tool_call"] = {"id": part.tool_call_id, "name": part.tool_name, "input_json": part.tool_input_json}
    elif kind is PartKind.TOOL_RESULT:
        out["tool_result"] = {
            "tool_call_id": part.tool_call_id,
            "name": part.tool_name,
            "content": part.tool_result_content,
            "content_json": part.tool_result_json,
            "is_error": part.is_error,
        }
    else:
        out["media"] = {
            "kind": part.media_kind,
            "url": part.media_url,
            "mime_type": part.media_mime_type,
            "name": part.media_name,
        }
    return out


def _messages_to_proto(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [
        {"role": ROLE_TO_PROTO.get(m.role, 0), "name": m.name, "parts": [part_to_proto(p) for p in m.parts]}
        for m in messages
    ]


def record_to_generation(record: Record) -> pb.Generation:
    """The Generation for a record; the inverse of :func:`generation_to_record`.

    Long because it is one constructor call listing every field, like generation_to_record.
    """
    r = record
    u = r.usage
    system_prompt, input_messages = system_prompt_and_input(r)
    generation = pb.Generation(
        id=outgoing_id(r, "gen_"),
        conversation_id=r.conversation_id,
        operation_name=r.operation,
        mode=_enum(common.mode_from_stream(r.stream)),
        trace_id=r.trace_id,
        span_id=r.span_id,
        model={"provider": r.provider, "name": r.model},
        response_id=r.response_id,
        response_model=r.response_model,
        system_prompt=system_prompt,
        input=_messages_to_proto(input_messages),
        output=_messages_to_proto(r.output),
        tools=[
            {
                "name": t.name,
                "description": t.description,
                "type": t.type,
                "input_schema_json": t.input_schema_json,
                "deferred": t.deferred,
            }
            for t in r.tools
        ],
        usage={
            "input_tokens": u.input_tokens or 0,
            "output_tokens": u.output_tokens or 0,
            "total_tokens": u.total_tokens or 0,
            "cache_read_input_tokens": u.cache_read_input_tokens or 0,
            "cache_write_input_tokens": u.cache_write_input_tokens or 0,
            "reasoning_tokens": u.reasoning_tokens or 0,
            "input_semantics": common.SEMANTICS_INCLUSIVE if u.input_includes_cache else 0,
        },
        stop_reason=r.stop_reason,
        tags=r.tags,
        raw_artifacts=[
            pb.Artifact(
                kind=_enum(a.kind),
                name=a.name,
                content_type=a.content_type,
                payload=a.payload,
                record_id=a.record_id,
                uri=a.uri,
            )
            for a in r.artifacts
        ],
        call_error=common.call_error_out(r),
        agent_name=r.agent_name,
        agent_version=r.agent_version,
        max_tokens=r.max_tokens,
        temperature=r.temperature,
        top_p=r.top_p,
        tool_choice=r.tool_choice,
        thinking_enabled=r.thinking_enabled,
        parent_generation_ids=r.parent_generation_ids,
        effective_version=r.effective_version,
    )
    if r.start_ns is not None:
        _set_timestamp(generation.started_at, r.start_ns)
    if r.end_ns is not None:
        _set_timestamp(generation.completed_at, r.end_ns)
    metadata = common.metadata_out(r)
    if metadata:
        generation.metadata.update(metadata)
    return generation


def record_to_workflow_step(record: Record) -> pb.WorkflowStep:
    """The WorkflowStep for a record; the inverse of :func:`workflow_step_to_record`."""
    r = record
    step = pb.WorkflowStep(
        id=outgoing_id(r, "wfs_"),
        conversation_id=r.conversation_id,
        step_name=r.name,
        framework=r.framework,
        error=common.call_error_out(r),
        tags=r.tags,
        linked_generation_ids=r.linked_generation_ids,
        parent_step_ids=r.parent_step_ids,
        agent_name=r.agent_name,
        agent_version=r.agent_version,
        trace_id=r.trace_id,
        span_id=r.span_id,
    )
    if r.start_ns is not None:
        _set_timestamp(step.started_at, r.start_ns)
    if r.end_ns is not None:
        _set_timestamp(step.completed_at, r.end_ns)
    if r.input_state is not None:
        step.input_state.SetInParent()  # an empty state stays present
        step.input_state.update(r.input_state)
    if r.output_state is not None:
        step.output_state.SetInParent()
        step.output_state.update(r.output_state)
    if r.metadata:
        step.metadata.update(r.metadata)
    return step


def generations_request(records: Iterable[Record]) -> pb.ExportGenerationsRequest:
    """The gRPC request for records (serialise it for either service name)."""
    return pb.ExportGenerationsRequest(generations=[record_to_generation(r) for r in records])


def workflow_steps_request(records: Iterable[Record]) -> pb.ExportWorkflowStepsRequest:
    return pb.ExportWorkflowStepsRequest(workflow_steps=[record_to_workflow_step(r) for r in records])


def generations_response(results: Iterable[ExportResult]) -> pb.ExportGenerationsResponse:
    return pb.ExportGenerationsResponse(
        results=[pb.ExportGenerationResult(generation_id=r.id, accepted=r.accepted, error=r.error) for r in results]
    )


def workflow_steps_response(results: Iterable[ExportResult]) -> pb.ExportWorkflowStepsResponse:
    return pb.ExportWorkflowStepsResponse(
        results=[pb.ExportWorkflowStepResult(step_id=r.id, accepted=r.accepted, error=r.error) for r in results]
    )


def results_from_generations_response(response: pb.ExportGenerationsResponse) -> list[ExportResult]:
    return [ExportResult(r.generation_id, r.accepted, r.error) for r in response.results]


def results_from_workflow_steps_response(response: pb.ExportWorkflowStepsResponse) -> list[ExportResult]:
    return [ExportResult(r.step_id, r.accepted, r.error) for r in response.results]
