"""Records -> Sigil protobuf messages (the gRPC sending direction); :mod:`.decode_proto` has the
conventions both directions share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil import common
from gateway.formats.sigil.common import outgoing_id
from gateway.formats.sigil.targets import FULL, Schema, fit_message
from gateway.model import (
    Message,
    Part,
    PartKind,
    Record,
    Usage,
)

_NS_PER_S = 1_000_000_000


def _enum(number: int) -> Any:
    # The generated stubs type enum arguments as their wrapper classes; the runtime takes any int
    # (proto3 enums are open, so unknown numbers such as an ArtifactKind 7 pass through).
    return number


def _timestamp(ns: int | None) -> dict[str, int] | None:
    """A Timestamp for a constructor (None leaves it unset)."""
    if ns is None:
        return None
    seconds, nanos = divmod(ns, _NS_PER_S)  # floor division keeps nanos in [0, 1e9)
    return {"seconds": seconds, "nanos": nanos}


def set_struct(struct: Any, values: Any) -> None:
    """What the constructor does with a Struct field's JSON object (present even when empty),
    with string values set directly: ``Struct.update`` takes every value through protobuf's
    Python helpers, twice the cost for the usual metadata (string labels). Raises TypeError
    for a value that is not an object, as the constructor does."""
    if type(values) is not dict:
        raise TypeError("a Struct is set from an object")
    struct.SetInParent()
    fields = struct.fields
    for key, value in values.items():
        if type(value) is str:
            fields[key].string_value = value
        else:
            struct.update({key: value})


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
        {"role": common.ROLE_TO_PROTO.get(m.role, 0), "name": m.name, "parts": [part_to_proto(p) for p in m.parts]}
        for m in messages
    ]


def _usage(u: Usage) -> dict[str, int] | None:
    """TokenUsage, or None for a record without usage (an empty one would read as zeros)."""
    counts = (u.input_tokens, u.output_tokens, u.total_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens)
    if not any(counts) and not u.reasoning_tokens and not u.input_includes_cache:
        return None
    return {
        "input_tokens": u.input_tokens or 0,
        "output_tokens": u.output_tokens or 0,
        "total_tokens": u.total_tokens or 0,
        "cache_read_input_tokens": u.cache_read_input_tokens or 0,
        "cache_write_input_tokens": u.cache_write_input_tokens or 0,
        "reasoning_tokens": u.reasoning_tokens or 0,
        "input_semantics": common.SEMANTICS_INCLUSIVE if u.input_includes_cache else 0,
    }


def record_to_generation(record: Record) -> pb.Generation:
    """The Generation for a record; the inverse of :func:`generation_to_record`.

    Long because it is one constructor call listing every field, like generation_to_record.
    """
    r = record
    u = r.usage
    system_prompt, input_messages = common.system_prompt_and_input(r)
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
        usage=_usage(u),
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
        started_at=_timestamp(r.start_ns),
        completed_at=_timestamp(r.end_ns),
    )
    metadata = common.metadata_out(r)
    if metadata:
        set_struct(generation.metadata, metadata)
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
        started_at=_timestamp(r.start_ns),
        completed_at=_timestamp(r.end_ns),
    )
    if r.input_state is not None:  # an empty state stays present
        set_struct(step.input_state, r.input_state)
    if r.output_state is not None:
        set_struct(step.output_state, r.output_state)
    if r.metadata:
        set_struct(step.metadata, r.metadata)
    return step


def generations_request(records: Iterable[Record], schema: Schema = FULL) -> pb.ExportGenerationsRequest:
    """The gRPC request for records (serialise it for either service name), with only the
    fields ``schema`` knows (:mod:`.targets`)."""
    return pb.ExportGenerationsRequest(generations=[fit_message(record_to_generation(r), schema) for r in records])


def generation_items(records: Iterable[Record], schema: Schema = FULL) -> list[bytes]:
    """Each record's Generation, fitted to ``schema`` and serialized: the items an exporter
    frames into requests (``native.frame_request``). Serializing the messages one by one skips
    copying each into a request first (a fifth of the cost of ``generations_request``)."""
    return [fit_message(record_to_generation(r), schema).SerializeToString() for r in records]


def workflow_steps_request(records: Iterable[Record]) -> pb.ExportWorkflowStepsRequest:
    return pb.ExportWorkflowStepsRequest(workflow_steps=[record_to_workflow_step(r) for r in records])
