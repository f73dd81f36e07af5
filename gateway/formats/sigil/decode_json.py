"""Sigil protojson request bodies -> records, accepting and rejecting what protobuf-go does.

Internal to :mod:`gateway.formats.sigil`. The body is parsed once with orjson and the dicts are
walked with per-message field tables (both the proto and the lowerCamel spelling of each
key). ``google.protobuf.json_format`` is deliberately not used: it is 4 to 8 times slower
(measured on SDK-shaped batches) and differs from Go (it accepts duplicate fields and a
top-level array, and words errors differently).

Errors are raised as :class:`SigilDecodeError` with protobuf-go's text, positions included
(see ``sigil_json_walk``). Scalar errors use the wording of protobuf-go 1.28, which the wire
sheet was probed with (``invalid value for bool type: "true"``); newer releases name the field
instead (``invalid value for bool field thinkingEnabled: "true"``).

Known deviations from protobuf-go:

* a key repeated with the same spelling is not an error (orjson keeps the last value before
  the walker sees the object); a key given in both spellings is an error, as in Go;
* integers beyond 2**53 written with a fraction or an exponent (``1.0e19``) are rounded
  through a double before the range check, and ``-9223372036854775809`` is read as
  ``-2**63`` (orjson turns integers outside 64 bits into doubles);
* raw token text in messages is re-serialised (``1e3`` shows as ``1000.0``);
* a body truncated inside a literal (``{"a":tru``) reports ``unexpected EOF`` where Go says
  ``invalid value tru``; other JSON syntax errors say ``unexpected token`` / ``invalid value``
  at orjson's position;
* timestamps follow Go's strict RFC 3339 parser (``2006-01-02T15:04:05[.frac](Z|+hh:mm)``),
  plus the offsets up to 24:60 that Go's fallback parser allows; the fallback's other
  leniencies (one-digit hours, a comma before the fraction) are rejected.
"""

from __future__ import annotations

from typing import Any

from gateway.formats.sigil import common
from gateway.formats.sigil.common import ROLE_FROM_PROTO, ItemError
from gateway.formats.sigil.decode_proto import usage_from_counts
from gateway.formats.sigil.protojson import (
    Convert,
    Spec,
    as_bool,
    as_bytes,
    as_double,
    as_enum,
    as_int64,
    as_string,
    as_string_map,
    as_struct,
    as_timestamp,
    decode_body,
    list_of,
    message_of,
)
from gateway.model import Artifact, Kind, Message, Part, PartKind, Record, Role, ToolDefinition, Usage


def _text_part(kind: PartKind) -> Convert:
    def convert(value: Any) -> Part:
        return Part(kind, text=as_string(value))

    return convert


def _tool_call(f: dict[str, Any]) -> Part:
    return Part(
        PartKind.TOOL_CALL,
        tool_call_id=f.get("id") or "",
        tool_name=f.get("name") or "",
        tool_input_json=f.get("input_json") or b"",
    )


def _tool_result(f: dict[str, Any]) -> Part:
    return Part(
        PartKind.TOOL_RESULT,
        tool_call_id=f.get("tool_call_id") or "",
        tool_name=f.get("name") or "",
        tool_result_content=f.get("content") or "",
        tool_result_json=f.get("content_json") or b"",
        is_error=f.get("is_error") or False,
    )


def _media(f: dict[str, Any]) -> Part:
    return Part(
        PartKind.MEDIA,
        media_kind=f.get("kind") or "",
        media_url=f.get("url") or "",
        media_mime_type=f.get("mime_type") or "",
        media_name=f.get("name") or "",
    )


def _part(f: dict[str, Any]) -> Part:
    # At most one member is non-null (the walker enforces the oneof); Parts are truthy.
    part: Part = (
        f.get("text")
        or f.get("thinking")
        or f.get("tool_call")
        or f.get("tool_result")
        or f.get("media")
        or Part(PartKind.TEXT)  # no payload: read as an empty text part
    )
    provider_type = f.get("metadata")
    if provider_type:
        part.provider_type = provider_type
    return part


def _message_record(f: dict[str, Any]) -> Message:
    return Message(ROLE_FROM_PROTO.get(f.get("role") or 0, Role.UNSPECIFIED), f.get("parts") or [], f.get("name") or "")


_PART_PAYLOAD = frozenset({"text", "thinking", "tool_call", "tool_result", "media"})
_TOOL_CALL = Spec({"id": as_string, "name": as_string, "input_json": as_bytes})
_TOOL_RESULT = Spec(
    {
        "tool_call_id": as_string,
        "name": as_string,
        "content": as_string,
        "content_json": as_bytes,
        "is_error": as_bool,
    }
)
_MEDIA = Spec({"kind": as_string, "url": as_string, "mime_type": as_string, "name": as_string})
_PART_METADATA = Spec({"provider_type": as_string})
_PART = Spec(
    {
        "metadata": message_of(_PART_METADATA, lambda f: f.get("provider_type") or ""),
        "text": _text_part(PartKind.TEXT),
        "thinking": _text_part(PartKind.THINKING),
        "tool_call": message_of(_TOOL_CALL, _tool_call),
        "tool_result": message_of(_TOOL_RESULT, _tool_result),
        "media": message_of(_MEDIA, _media),
    },
    oneof=_PART_PAYLOAD,
    oneof_name="sigil.v1.Part.payload",
)
_GENERIC_PART = message_of(_PART, _part)


def _convert_part(value: Any) -> Part:
    # Most parts are a lone text or thinking member: skip the generic walk for them.
    if type(value) is dict and len(value) == 1:
        text = value.get("text")
        if type(text) is str:
            return Part(PartKind.TEXT, text=text)
        thinking = value.get("thinking")
        if type(thinking) is str:
            return Part(PartKind.THINKING, text=thinking)
    part: Part = _GENERIC_PART(value)
    return part


_ROLE = as_enum(
    {
        "MESSAGE_ROLE_UNSPECIFIED": 0,
        "MESSAGE_ROLE_USER": 1,
        "MESSAGE_ROLE_ASSISTANT": 2,
        "MESSAGE_ROLE_TOOL": 3,
    },
)
_MESSAGE = Spec({"role": _ROLE, "name": as_string, "parts": list_of(_convert_part)})
_MODEL_REF = Spec({"provider": as_string, "name": as_string})
_TOOL_DEFINITION = Spec(
    {
        "name": as_string,
        "description": as_string,
        "type": as_string,
        "input_schema_json": as_bytes,
        "deferred": as_bool,
    }
)
_TOKEN_USAGE = Spec(
    {
        "input_tokens": as_int64,
        "output_tokens": as_int64,
        "total_tokens": as_int64,
        "cache_read_input_tokens": as_int64,
        "cache_write_input_tokens": as_int64,
        "reasoning_tokens": as_int64,
        "cache_creation_input_tokens": as_int64,
        "input_semantics": as_enum(
            {"TOKEN_INPUT_SEMANTICS_UNSPECIFIED": 0, "TOKEN_INPUT_SEMANTICS_INCLUSIVE": 1},
        ),
    }
)
_ARTIFACT_KIND = as_enum(
    {
        "ARTIFACT_KIND_UNSPECIFIED": 0,
        "ARTIFACT_KIND_REQUEST": 1,
        "ARTIFACT_KIND_RESPONSE": 2,
        "ARTIFACT_KIND_TOOLS": 3,
        "ARTIFACT_KIND_PROVIDER_EVENT": 4,
    },
)
_ARTIFACT = Spec(
    {
        "kind": _ARTIFACT_KIND,
        "name": as_string,
        "content_type": as_string,
        "payload": as_bytes,
        "record_id": as_string,
        "uri": as_string,
    }
)
_MODE = as_enum(
    {"GENERATION_MODE_UNSPECIFIED": 0, "GENERATION_MODE_SYNC": 1, "GENERATION_MODE_STREAM": 2},
)


def _usage(f: dict[str, Any]) -> Usage:
    get = f.get
    return usage_from_counts(
        get("input_tokens") or 0,
        get("output_tokens") or 0,
        get("total_tokens") or 0,
        get("cache_read_input_tokens") or 0,
        get("cache_write_input_tokens") or 0,
        get("reasoning_tokens") or 0,
        get("cache_creation_input_tokens") or 0,
        get("input_semantics") or 0,
    )


_GENERATION = Spec(
    {
        "id": as_string,
        "conversation_id": as_string,
        "operation_name": as_string,
        "mode": _MODE,
        "trace_id": as_string,
        "span_id": as_string,
        "model": message_of(_MODEL_REF, lambda f: (f.get("provider") or "", f.get("name") or "")),
        "response_id": as_string,
        "response_model": as_string,
        "system_prompt": as_string,
        "input": list_of(message_of(_MESSAGE, _message_record)),
        "output": list_of(message_of(_MESSAGE, _message_record)),
        "tools": list_of(
            message_of(
                _TOOL_DEFINITION,
                lambda f: ToolDefinition(
                    f.get("name") or "",
                    f.get("description") or "",
                    f.get("type") or "",
                    f.get("input_schema_json") or b"",
                    f.get("deferred") or False,
                ),
            )
        ),
        "usage": message_of(_TOKEN_USAGE, _usage),
        "stop_reason": as_string,
        "started_at": as_timestamp,
        "completed_at": as_timestamp,
        "tags": as_string_map,
        "metadata": as_struct,
        "raw_artifacts": list_of(
            message_of(
                _ARTIFACT,
                lambda f: Artifact(
                    f.get("kind") or 0,
                    f.get("name") or "",
                    f.get("content_type") or "",
                    f.get("payload") or b"",
                    f.get("record_id") or "",
                    f.get("uri") or "",
                ),
            )
        ),
        "call_error": as_string,
        "agent_name": as_string,
        "agent_version": as_string,
        "max_tokens": as_int64,
        "temperature": as_double,
        "top_p": as_double,
        "tool_choice": as_string,
        "thinking_enabled": as_bool,
        "parent_generation_ids": list_of(as_string),
        "effective_version": as_string,
    }
)


def _generation(f: dict[str, Any]) -> tuple[Record, int, bool]:
    """The record, plus what the per-item rules need and the record cannot hold.

    One flat constructor call, mirroring decode_proto.generation_to_record field for field.
    """
    get = f.get
    model = get("model")
    provider, model_name = model if model is not None else ("", "")
    call_error = get("call_error") or ""
    record = Record(
        kind=Kind.LLM,
        id=get("id") or "",
        trace_id=get("trace_id") or "",
        span_id=get("span_id") or "",
        operation=get("operation_name") or "",
        conversation_id=get("conversation_id") or "",
        agent_name=get("agent_name") or "",
        agent_version=get("agent_version") or "",
        provider=provider,
        model=model_name,
        response_id=get("response_id") or "",
        response_model=get("response_model") or "",
        stream=common.stream_from_mode(get("mode") or 0),
        start_ns=get("started_at"),
        end_ns=get("completed_at"),
        status=common.status_from_call_error(call_error),
        error_message=call_error,
        stop_reason=get("stop_reason") or "",
        max_tokens=get("max_tokens"),
        temperature=get("temperature"),
        top_p=get("top_p"),
        tool_choice=get("tool_choice"),
        thinking_enabled=get("thinking_enabled"),
        system_prompt=get("system_prompt") or "",
        input=get("input") or [],
        output=get("output") or [],
        tools=get("tools") or [],
        artifacts=get("raw_artifacts") or [],
        usage=get("usage") or Usage(),
        tags=get("tags") or {},
        metadata=get("metadata") or {},
        parent_generation_ids=get("parent_generation_ids") or [],
        effective_version=get("effective_version"),
    )
    common.project_metadata(record)
    return record, get("mode") or 0, model is not None


def _workflow_step(f: dict[str, Any]) -> Record:
    get = f.get
    error = get("error") or ""
    return Record(
        kind=Kind.WORKFLOW_STEP,
        id=get("id") or "",
        conversation_id=get("conversation_id") or "",
        name=get("step_name") or "",
        framework=get("framework") or "",
        start_ns=get("started_at"),
        end_ns=get("completed_at"),
        input_state=get("input_state"),
        output_state=get("output_state"),
        status=common.status_from_call_error(error),
        error_message=error,
        tags=get("tags") or {},
        linked_generation_ids=get("linked_generation_ids") or [],
        parent_step_ids=get("parent_step_ids") or [],
        agent_name=get("agent_name") or "",
        agent_version=get("agent_version") or "",
        trace_id=get("trace_id") or "",
        span_id=get("span_id") or "",
        metadata=get("metadata") or {},
    )


_WORKFLOW_STEP = Spec(
    {
        "id": as_string,
        "conversation_id": as_string,
        "step_name": as_string,
        "framework": as_string,
        "started_at": as_timestamp,
        "completed_at": as_timestamp,
        "input_state": as_struct,
        "output_state": as_struct,
        "error": as_string,
        "tags": as_string_map,
        "linked_generation_ids": list_of(as_string),
        "parent_step_ids": list_of(as_string),
        "agent_name": as_string,
        "agent_version": as_string,
        "trace_id": as_string,
        "span_id": as_string,
        "metadata": as_struct,
    }
)
_GENERATIONS_REQUEST = Spec({"generations": list_of(message_of(_GENERATION, _generation))})
_WORKFLOW_STEPS_REQUEST = Spec({"workflow_steps": list_of(message_of(_WORKFLOW_STEP, _workflow_step))})


# --------------------------------------------------------------------------- entry points


def decode_generations_json(body: bytes, *, now_ns: int | None = None) -> list[Record | ItemError]:
    """Decodes an ``ExportGenerationsRequest`` protojson body; per item a record or an ItemError.

    Raises :class:`SigilDecodeError` when the body as a whole is bad (the server's 400).
    """
    fields = decode_body(body, _GENERATIONS_REQUEST)
    now = common.now_ns() if now_ns is None else now_ns
    return [
        common.finish_generation(record, mode, has_model, now)
        for record, mode, has_model in fields.get("generations") or ()
    ]


def decode_workflow_steps_json(body: bytes) -> list[Record | ItemError]:
    """Decodes an ``ExportWorkflowStepsRequest`` protojson body (see decode_generations_json)."""
    fields = decode_body(body, _WORKFLOW_STEPS_REQUEST)
    return [common.finish_workflow_step(record) for record in fields.get("workflow_steps") or ()]
