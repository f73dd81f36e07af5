"""Foglamp span ``input`` / ``output`` / ``toolCatalog`` strings <-> messages and tool definitions.

The Foglamp SDK sends content as strings: ``JSON.stringify`` of AI SDK messages for model steps
(``[{"role":"user","content":[{"type":"text","text":"hi"}]}]``), of the content parts of a step
result (``[{"type":"text","text":"..."},{"type":"tool-call",...}]``), of a tool's arguments and
result, or plain text (a step's ``text``). Content must end up in :class:`Message` /
:class:`Part` so that content processors find it, and a Foglamp -> Foglamp trip must give back the
exact string. Both are met by one rule: a string is *structured* (parsed into messages with their
parts) only when re-encoding the parsed messages reproduces it byte for byte; anything else (plain
text, a tool's JSON arguments, messages with fields this module does not model such as
``providerOptions``) is kept whole as one TEXT part and marked ``raw``.

The form travels in ``Record.extra["foglamp.input_form"]`` / ``["foglamp.output_form"]``:

* absent: a message list in the default content style (``system`` content a string, every other
  role a part list), which is also what records from other formats are encoded as;
* ``"messages:<styles>"``: a message list whose contents deviate from the default; one letter per
  message, ``s`` for string content, ``p`` for a part list;
* ``"parts"``: a bare part list (one assistant message);
* ``"raw"``: the string itself, one TEXT part.

Parts map as: ``text`` <-> TEXT, ``reasoning`` <-> THINKING, ``tool-call`` <-> TOOL_CALL (``input``
as JSON bytes), ``tool-result`` <-> TOOL_RESULT (``output`` ``text``/``error-text`` as content,
``json``/``error-json`` as JSON bytes, ``error-*`` sets ``is_error``), ``image`` / ``file`` <-> MEDIA.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from gateway.model import Message, Part, PartKind, Role, ToolDefinition

FORM_RAW: Final = "raw"
FORM_PARTS: Final = "parts"
_FORM_MESSAGES_PREFIX: Final = "messages:"

_ROLES: Final = {"system": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT, "tool": Role.TOOL}
_ROLE_NAMES: Final = {role: name for name, role in _ROLES.items()}


class _NotModelled(Exception):
    """The JSON is not in the shape this module round-trips; keep the string raw."""


def _json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def _loads_or_none(data: bytes | str) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def _expect_keys(obj: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    if not all(key in obj for key in required) or not set(obj) <= {*required, *optional}:
        raise _NotModelled


def _expect_str(value: object) -> str:
    if not isinstance(value, str):
        raise _NotModelled
    return value


def _part_from_json(obj: object) -> Part:
    if not isinstance(obj, dict):
        raise _NotModelled
    kind = obj.get("type")
    if kind in ("text", "reasoning"):
        _expect_keys(obj, ("type", "text"))
        part_kind = PartKind.TEXT if kind == "text" else PartKind.THINKING
        return Part(kind=part_kind, text=_expect_str(obj["text"]))
    if kind == "tool-call":
        _expect_keys(obj, ("type", "toolCallId", "toolName", "input"))
        return Part(
            kind=PartKind.TOOL_CALL,
            tool_call_id=_expect_str(obj["toolCallId"]),
            tool_name=_expect_str(obj["toolName"]),
            tool_input_json=_json_bytes(obj["input"]),
        )
    if kind == "tool-result":
        _expect_keys(obj, ("type", "toolCallId", "toolName", "output"))
        output = obj["output"]
        if not isinstance(output, dict):
            raise _NotModelled
        _expect_keys(output, ("type", "value"))
        part = Part(
            kind=PartKind.TOOL_RESULT,
            tool_call_id=_expect_str(obj["toolCallId"]),
            tool_name=_expect_str(obj["toolName"]),
        )
        out_type = output["type"]
        if out_type in ("text", "error-text"):
            part.tool_result_content = _expect_str(output["value"])
        elif out_type in ("json", "error-json"):
            part.tool_result_json = _json_bytes(output["value"])
        else:
            raise _NotModelled
        part.is_error = out_type.startswith("error-")
        return part
    if kind == "image":
        _expect_keys(obj, ("type", "image"), ("mediaType",))
        return Part(
            kind=PartKind.MEDIA,
            media_kind="image",
            media_url=_expect_str(obj["image"]),
            media_mime_type=_expect_str(obj.get("mediaType", "")),
        )
    if kind == "file":
        _expect_keys(obj, ("type", "data", "mediaType"), ("filename",))
        return Part(
            kind=PartKind.MEDIA,
            media_kind="file",
            media_url=_expect_str(obj["data"]),
            media_mime_type=_expect_str(obj["mediaType"]),
            media_name=_expect_str(obj.get("filename", "")),
        )
    raise _NotModelled


def _json_value(data: bytes, default: Any) -> Any:
    """Embed JSON bytes from a record; bytes that are not JSON are sent as a JSON string."""
    if not data:
        return default
    ok, value = _loads_or_none(data)
    return value if ok else data.decode("utf-8", "replace")


def _part_to_json(part: Part) -> dict[str, Any]:
    if part.kind is PartKind.TEXT:
        return {"type": "text", "text": part.text}
    if part.kind is PartKind.THINKING:
        return {"type": "reasoning", "text": part.text}
    if part.kind is PartKind.TOOL_CALL:
        return {
            "type": "tool-call",
            "toolCallId": part.tool_call_id,
            "toolName": part.tool_name,
            "input": _json_value(part.tool_input_json, {}),
        }
    if part.kind is PartKind.TOOL_RESULT:
        prefix = "error-" if part.is_error else ""
        if part.tool_result_json:
            output = {"type": prefix + "json", "value": _json_value(part.tool_result_json, None)}
        else:
            output = {"type": prefix + "text", "value": part.tool_result_content}
        return {
            "type": "tool-result",
            "toolCallId": part.tool_call_id,
            "toolName": part.tool_name,
            "output": output,
        }
    if part.media_kind == "image":
        image: dict[str, Any] = {"type": "image", "image": part.media_url}
        if part.media_mime_type:
            image["mediaType"] = part.media_mime_type
        return image
    file: dict[str, Any] = {
        "type": "file",
        "data": part.media_url,
        "mediaType": part.media_mime_type or "application/octet-stream",
    }
    if part.media_name:
        file["filename"] = part.media_name
    return file


def _message_from_json(obj: object) -> tuple[Message, str]:
    if not isinstance(obj, dict):
        raise _NotModelled
    _expect_keys(obj, ("role", "content"))
    role = _ROLES.get(obj["role"]) if isinstance(obj["role"], str) else None
    if role is None:
        raise _NotModelled
    content = obj["content"]
    if isinstance(content, str):
        return Message(role=role, parts=[Part(kind=PartKind.TEXT, text=content)]), "s"
    if isinstance(content, list):
        return Message(role=role, parts=[_part_from_json(p) for p in content]), "p"
    raise _NotModelled


def _default_style(role: Role) -> str:
    return "s" if role is Role.SYSTEM else "p"


def _message_to_json(message: Message, style: str, fallback_role: Role) -> dict[str, Any]:
    role = message.role if message.role is not Role.UNSPECIFIED else fallback_role
    if style == "s" and all(p.kind is PartKind.TEXT for p in message.parts):
        content: Any = "".join(p.text for p in message.parts)
    else:
        content = [_part_to_json(p) for p in message.parts]
    return {"role": _ROLE_NAMES[role], "content": content}


def encode_content(messages: list[Message], form: object, *, output: bool, system_prompt: str = "") -> str | None:
    """The Foglamp string for ``messages`` in ``form`` (see the module docstring); None if empty."""
    fallback_role = Role.ASSISTANT if output else Role.USER
    if system_prompt:
        # Sigil keeps the system prompt beside the messages; Foglamp only has messages.
        system = Message(role=Role.SYSTEM, parts=[Part(kind=PartKind.TEXT, text=system_prompt)])
        messages = [system, *messages]
        form = None
    if not messages:
        return None
    if form == FORM_RAW and all(p.kind is PartKind.TEXT for m in messages for p in m.parts):
        return "".join(p.text for m in messages for p in m.parts)
    if form == FORM_PARTS and len(messages) == 1 and messages[0].role in (Role.ASSISTANT, Role.UNSPECIFIED):
        return orjson.dumps([_part_to_json(p) for p in messages[0].parts]).decode()
    styles = form[len(_FORM_MESSAGES_PREFIX) :] if isinstance(form, str) and form.startswith("messages:") else ""
    wire = [
        _message_to_json(m, styles[i] if i < len(styles) else _default_style(m.role), fallback_role)
        for i, m in enumerate(messages)
    ]
    return orjson.dumps(wire).decode()


def _parse_structured(text: str) -> tuple[list[Message], str | None]:
    ok, value = _loads_or_none(text)
    if not ok or not isinstance(value, list) or not value:
        raise _NotModelled
    if all(isinstance(item, dict) and "role" in item for item in value):
        parsed = [_message_from_json(item) for item in value]
        messages = [m for m, _ in parsed]
        styles = "".join(style for _, style in parsed)
        if styles == "".join(_default_style(m.role) for m in messages):
            return messages, None
        return messages, _FORM_MESSAGES_PREFIX + styles
    return [Message(role=Role.ASSISTANT, parts=[_part_from_json(p) for p in value])], FORM_PARTS


def decode_content(text: str, *, output: bool) -> tuple[list[Message], str | None]:
    """Messages for a Foglamp ``input``/``output`` string and the form to re-encode it in."""
    try:
        messages, form = _parse_structured(text)
        if encode_content(messages, form, output=output) == text:
            return messages, form
    except _NotModelled:
        pass
    role = Role.ASSISTANT if output else Role.USER
    return [Message(role=role, parts=[Part(kind=PartKind.TEXT, text=text)])], FORM_RAW


def encode_tool_catalog(tools: list[ToolDefinition]) -> str | None:
    """``{name: {description?, parameters?}}``, the SDK's catalog shape; first of duplicate names wins."""
    catalog: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if tool.name in catalog:
            continue
        entry: dict[str, Any] = {}
        if tool.description:
            entry["description"] = tool.description
        if tool.input_schema_json:
            entry["parameters"] = _json_value(tool.input_schema_json, None)
        catalog[tool.name] = entry
    return orjson.dumps(catalog).decode() if catalog else None


def decode_tool_catalog(text: str) -> list[ToolDefinition] | None:
    """Tool definitions for a catalog string, or None when they would not re-encode to it exactly."""
    ok, value = _loads_or_none(text)
    if not ok or not isinstance(value, dict) or not value:
        return None
    tools: list[ToolDefinition] = []
    for name, entry in value.items():
        if not isinstance(entry, dict) or not set(entry) <= {"description", "parameters"}:
            return None
        description = entry.get("description", "")
        if not isinstance(description, str):
            return None
        schema = _json_bytes(entry["parameters"]) if "parameters" in entry else b""
        tools.append(ToolDefinition(name=name, description=description, input_schema_json=schema))
    return tools if encode_tool_catalog(tools) == text else None
