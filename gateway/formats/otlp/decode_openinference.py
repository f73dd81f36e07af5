"""OpenInference span attributes -> record fields, following the tables of :mod:`.openinference`.

:func:`read` takes the span's attributes (already Python values), fills what it knows into the
record and says which attributes it did not read, for the GenAI reader to handle (a span may
carry both conventions; ``gen_ai.*`` names are then read after these and win). Values of the
wrong type are left to the caller, which keeps them in ``Record.extra``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.formats.otlp import content
from gateway.formats.otlp import openinference as oi
from gateway.formats.otlp.semconv import normalize_provider
from gateway.model import Kind, Message, Part, PartKind, Record, Role, ToolDefinition

_INDEXED = re.compile(r"(\d+)\.(.*)", re.DOTALL)


@dataclass(slots=True)
class _State:
    model_name: str = ""
    provider: str = ""
    system: str = ""
    inputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tools: dict[int, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def is_openinference(keys: Any) -> bool:
    """Whether attribute names (any iterable) include ``openinference.span.kind``."""
    return oi.SPAN_KIND in keys


def read(record: Record, attributes: list[tuple[str, Any]]) -> tuple[Kind | None, list[int]]:
    """Fills ``record`` from the OpenInference attributes; the record kind they imply and the
    positions (in ``attributes``) of the attributes left for the GenAI reader."""
    state = _State()
    rest: list[int] = []
    span_kind = ""
    for position, (key, value) in enumerate(attributes):
        if key == oi.SPAN_KIND:
            span_kind = str(value).upper()
        elif not _scalar(record, state, key, value) and not _listed(state, key, value):
            if key in (oi.INVOCATION_PARAMETERS, oi.METADATA, *oi.CONTENT_ATTRIBUTES):
                state.values[key] = value
            rest.append(position)
    kind = oi.SPAN_KINDS.get(span_kind, Kind.OTHER)
    if not record.operation:
        record.operation = oi.SPAN_KIND_OPERATIONS.get(span_kind, "")
    consumed = _values(record, state, kind)
    _resolve(record, state, kind)
    return kind, [position for position in rest if attributes[position][0] not in consumed]


def _scalar(record: Record, state: _State, key: str, value: Any) -> bool:
    target = oi.SCALARS.get(key)
    if target is None:
        return False
    where, name = target
    if name.endswith("tokens"):
        if not isinstance(value, int) or isinstance(value, bool):
            return False
    elif name == "cost_usd":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        value = float(value)
    elif not isinstance(value, str):
        return False
    obj = state if where == "state" else record.usage if where == "usage" else record
    setattr(obj, name, value)
    return True


def _listed(state: _State, key: str, value: Any) -> bool:
    """Flattened list items: messages, tool definitions and other content."""
    for prefix, into in ((oi.INPUT_MESSAGES, state.inputs), (oi.OUTPUT_MESSAGES, state.outputs)):
        if key.startswith(prefix):
            match = _INDEXED.fullmatch(key[len(prefix) :])
            if match is None or not match.group(2).startswith(oi.MESSAGE):
                return False
            into.setdefault(int(match.group(1)), {})[match.group(2)[len(oi.MESSAGE) :]] = value
            return True
    if key.startswith(oi.TOOLS):
        match = _INDEXED.fullmatch(key[len(oi.TOOLS) :])
        if match is None or match.group(2) != oi.TOOL_JSON_SCHEMA:
            return False
        state.tools[int(match.group(1))] = value
        return True
    if key.startswith(oi.CONTENT_PREFIXES):
        state.other[key] = value
        return True
    return False


def _resolve(record: Record, state: _State, kind: Kind) -> None:
    if state.model_name:
        if not record.model:
            record.model = state.model_name
        elif not record.response_model and state.model_name != record.model:
            record.response_model = state.model_name
    provider = state.provider or state.system
    if provider:
        record.provider = normalize_provider(provider)
    if record.usage.input_tokens is not None:
        record.usage.input_includes_cache = True  # the prompt_details are a breakdown of prompt
    if state.inputs:
        messages = [_message(state.inputs[i]) for i in sorted(state.inputs)]
        system = [m for m in messages if m.role is Role.SYSTEM and all(p.kind is PartKind.TEXT for p in m.parts)]
        if system:
            record.system_prompt = "\n".join(p.text for m in system for p in m.parts)
        record.input = [m for m in messages if not any(m is s for s in system)]
    if state.outputs:
        record.output = [_message(state.outputs[i]) for i in sorted(state.outputs)]
    if state.tools:
        record.tools = [t for t in (_tool(state.tools[i]) for i in sorted(state.tools)) if t is not None]
    if state.other:
        record.extra[oi.CONTENT_EXTRA] = state.other


def _values(record: Record, state: _State, kind: Kind) -> set[str]:
    """JSON-valued attributes; the names that filled a record field (the rest stay in extra)."""
    used: set[str] = set()
    params = _json_object(state.values.get(oi.INVOCATION_PARAMETERS))
    if params is not None:
        for name, keys in oi.INVOCATION_FIELDS:
            for k in keys:
                if k in params:
                    _param(record, name, params[k])
                    break
        choice = params.get("tool_choice")
        if isinstance(choice, str):
            record.tool_choice = choice
    metadata = _json_object(state.values.get(oi.METADATA))
    if metadata is not None:
        record.metadata.update(metadata)
        used.add(oi.METADATA)
    for key, mime, into_input in (
        (oi.INPUT_VALUE, oi.INPUT_MIME_TYPE, True),
        (oi.OUTPUT_VALUE, oi.OUTPUT_MIME_TYPE, False),
    ):
        value = state.values.get(key)
        if isinstance(value, str) and _value(record, kind, value, into_input):
            used.update((key, mime))
    return used


def _value(record: Record, kind: Kind, value: str, into_input: bool) -> bool:
    """input.value / output.value where the record has a place for them."""
    if kind is Kind.TOOL:
        if into_input:
            record.tool_arguments_json = value.encode()
        else:
            record.tool_result_json = value.encode()
        return True
    if kind is Kind.LLM and _json_object(value) is None:
        # Plain text, and no messages: the prompt or the answer as one text part.
        messages = record.input if into_input else record.output
        if not messages:
            role = Role.USER if into_input else Role.ASSISTANT
            messages.append(Message(role=role, parts=[Part(PartKind.TEXT, text=value)]))
            return True
    if kind in (Kind.AGENT, Kind.WORKFLOW_STEP):
        data = _json_object(value)
        if data is not None:
            if into_input:
                record.input_state = data
            else:
                record.output_state = data
            return True
    return False


def _param(record: Record, name: str, value: Any) -> None:
    if name == "model" and isinstance(value, str):
        record.model = record.model or value
    elif name == "max_tokens" and isinstance(value, int) and not isinstance(value, bool):
        record.max_tokens = value
    elif name in ("temperature", "top_p") and isinstance(value, int | float) and not isinstance(value, bool):
        setattr(record, name, float(value))
    elif name == "stream" and isinstance(value, bool):
        record.stream = value


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _message(fields: dict[str, Any]) -> Message:
    role = oi.ROLES.get(str(fields.get(oi.MESSAGE_ROLE, "")).lower(), Role.UNSPECIFIED)
    parts: list[Part] = []
    text = fields.get(oi.MESSAGE_CONTENT)
    tool_call_id = fields.get(oi.MESSAGE_TOOL_CALL_ID)
    contents = _items(fields, oi.MESSAGE_CONTENTS, oi.CONTENT_ITEM)
    texts = [text] if isinstance(text, str) and text else []
    for item in contents:
        kind = item.get(oi.CONTENT_TYPE)
        if kind == "text" and isinstance(item.get(oi.CONTENT_TEXT), str):
            texts.append(item[oi.CONTENT_TEXT])
        elif kind == "image" and isinstance(item.get(oi.CONTENT_IMAGE_URL), str):
            parts.append(Part(PartKind.MEDIA, media_kind="image", media_url=item[oi.CONTENT_IMAGE_URL]))
    if role is Role.TOOL and isinstance(tool_call_id, str):
        parts.insert(0, Part(PartKind.TOOL_RESULT, tool_call_id=tool_call_id, tool_result_content="".join(texts)))
    else:
        parts[:0] = [Part(PartKind.TEXT, text=t) for t in texts]
    for call in _items(fields, oi.MESSAGE_TOOL_CALLS, oi.TOOL_CALL):
        arguments = call.get(oi.TOOL_CALL_ARGUMENTS)
        parts.append(
            Part(
                PartKind.TOOL_CALL,
                tool_call_id=str(call.get(oi.TOOL_CALL_ID, "")),
                tool_name=str(call.get(oi.TOOL_CALL_NAME, "")),
                tool_input_json=arguments.encode() if isinstance(arguments, str) else b"",
            )
        )
    name = fields.get(oi.MESSAGE_NAME)
    return Message(role=role, parts=parts, name=name if isinstance(name, str) else "")


def _items(fields: dict[str, Any], prefix: str, item_prefix: str) -> list[dict[str, Any]]:
    """``contents.0.message_content.text`` style keys of one message as a list of dicts."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if not key.startswith(prefix):
            continue
        match = _INDEXED.fullmatch(key[len(prefix) :])
        if match is not None and match.group(2).startswith(item_prefix):
            items.setdefault(int(match.group(1)), {})[match.group(2)[len(item_prefix) :]] = value
    return [items[i] for i in sorted(items)]


def _tool(value: Any) -> ToolDefinition | None:
    try:
        tools = content.parse_tool_definitions([content.load_json(value)])
    except ValueError:
        return None
    return tools[0] if tools else None
