"""Older content shapes still sent by instrumentations in the field, read into record content.

* OpenLLMetry (Traceloop) before 0.60 flattens messages into indexed attributes:
  ``gen_ai.prompt.N.{role,content,tool_call_id}``, ``gen_ai.prompt.N.tool_calls.M.{id,name,arguments}``,
  ``gen_ai.completion.N.{role,content,finish_reason}`` (+ ``tool_calls.M.*``, or
  ``function_call.{name,arguments}``), and tool definitions as
  ``llm.request.functions.N.{name,description,parameters}``.
* Semantic conventions before 1.28 put content in span events: ``gen_ai.content.prompt`` (attribute
  ``gen_ai.prompt``) and ``gen_ai.content.completion`` (``gen_ai.completion``), JSON arrays of
  ``{role, content}``.

:func:`read` takes what it knows out of the attribute list; content the current names already gave
the record wins.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.formats.otlp.openinference import ROLES as ROLE_NAMES
from gateway.model import Message, Part, PartKind, Record, Role, ToolDefinition

PROMPT = "gen_ai.prompt."
COMPLETION = "gen_ai.completion."
FUNCTIONS = "llm.request.functions."
PREFIXES = (PROMPT, COMPLETION, FUNCTIONS)
PROMPT_EVENT = ("gen_ai.content.prompt", "gen_ai.prompt")  # (event name, attribute)
COMPLETION_EVENT = ("gen_ai.content.completion", "gen_ai.completion")

_INDEXED = re.compile(r"(\d+)\.(.*)", re.DOTALL)
LEGACY_KEY = re.compile(r"(?:gen_ai\.prompt|gen_ai\.completion|llm\.request\.functions)\.\d+\.")


def is_legacy(key: str) -> bool:
    """An indexed OpenLLMetry attribute (``gen_ai.prompt.0.role``), not ``gen_ai.prompt.name``."""
    return LEGACY_KEY.match(key) is not None


def read(record: Record, attributes: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Fills content from the indexed attributes; the attributes left for the other readers."""
    groups: dict[str, dict[int, dict[str, Any]]] = {PROMPT: {}, COMPLETION: {}, FUNCTIONS: {}}
    rest: list[tuple[str, Any]] = []
    for key, value in attributes:
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        match = _INDEXED.fullmatch(key[len(prefix) :]) if prefix is not None else None
        if prefix is None or match is None:
            rest.append((key, value))
            continue
        groups[prefix].setdefault(int(match.group(1)), {})[match.group(2)] = value
    if groups[PROMPT] and not record.input:
        messages = [_message(groups[PROMPT][i], Role.USER) for i in sorted(groups[PROMPT])]
        system = [m for m in messages if m.role is Role.SYSTEM]
        if system and not record.system_prompt:
            record.system_prompt = "\n".join(p.text for m in system for p in m.parts if p.kind is PartKind.TEXT)
        record.input = [m for m in messages if m.role is not Role.SYSTEM]
    if groups[COMPLETION] and not record.output:
        completions = [groups[COMPLETION][i] for i in sorted(groups[COMPLETION])]
        record.output = [_message(c, Role.ASSISTANT) for c in completions]
        reason = completions[0].get("finish_reason")
        if isinstance(reason, str) and reason and not record.stop_reason:
            record.stop_reason = reason
    if groups[FUNCTIONS] and not record.tools:
        record.tools = [_function(groups[FUNCTIONS][i]) for i in sorted(groups[FUNCTIONS])]
    return rest


def events(record: Record, span_events: list[tuple[str, dict[str, Any]]]) -> None:
    """Content from the pre-1.28 content events, where the record has none."""
    for name, attributes in span_events:
        for (event, attribute), into in ((PROMPT_EVENT, "input"), (COMPLETION_EVENT, "output")):
            if name != event or getattr(record, into):
                continue
            data = _json(attributes.get(attribute))
            if isinstance(data, list):
                role = Role.USER if into == "input" else Role.ASSISTANT
                messages = [_message(item, role) for item in data if isinstance(item, dict)]
                if into == "input":
                    system = [m for m in messages if m.role is Role.SYSTEM]
                    if system and not record.system_prompt:
                        record.system_prompt = "\n".join(p.text for m in system for p in m.parts)
                    messages = [m for m in messages if m.role is not Role.SYSTEM]
                setattr(record, into, messages)


def _message(fields: dict[str, Any], default_role: Role) -> Message:
    role_name = fields.get("role")
    role = ROLE_NAMES.get(role_name.lower(), default_role) if isinstance(role_name, str) else default_role
    parts: list[Part] = []
    text = _text(fields.get("content"))
    call_id = fields.get("tool_call_id")
    if role is Role.TOOL and isinstance(call_id, str):
        parts.append(Part(PartKind.TOOL_RESULT, tool_call_id=call_id, tool_result_content=text))
    elif text:
        parts.append(Part(PartKind.TEXT, text=text))
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if key.startswith("tool_calls.") and (match := _INDEXED.fullmatch(key[len("tool_calls.") :])):
            calls.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if "function_call.name" in fields:
        calls[len(calls)] = {"name": fields["function_call.name"], "arguments": fields.get("function_call.arguments")}
    for index in sorted(calls):
        call = calls[index]
        arguments = call.get("arguments")
        parts.append(
            Part(
                PartKind.TOOL_CALL,
                tool_call_id=str(call.get("id", "")),
                tool_name=str(call.get("name", "")),
                tool_input_json=arguments.encode() if isinstance(arguments, str) else b"",
            )
        )
    return Message(role=role, parts=parts)


def _function(fields: dict[str, Any]) -> ToolDefinition:
    parameters = fields.get("parameters")
    return ToolDefinition(
        name=str(fields.get("name", "")),
        description=str(fields.get("description", "")),
        type="function",
        input_schema_json=parameters.encode() if isinstance(parameters, str) else b"",
    )


def _text(value: Any) -> str:
    """A content value: text, or a JSON array of ``{type: text, text}`` parts (multimodal)."""
    if not isinstance(value, str):
        return ""
    if value.startswith("["):
        data = _json(value)
        if isinstance(data, list):
            return "".join(
                item["text"] for item in data if isinstance(item, dict) and isinstance(item.get("text"), str)
            )
    return value


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
