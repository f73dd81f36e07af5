"""GenAI content attributes (``gen_ai.input.messages`` and friends) <-> record messages.

Shapes follow the semantic conventions' JSON schemas (see ``docs/mapping.md``):
messages are ``{role, parts[], name?, finish_reason?}``, system instructions a list of parts,
tool definitions ``{type, name, description?, parameters?}``.

Part mapping (record :class:`Part` kind <-> part ``type``):

* TEXT <-> ``text``; THINKING <-> ``reasoning``.
* TOOL_CALL <-> ``tool_call`` (``arguments`` is the parsed ``tool_input_json``);
  TOOL_RESULT <-> ``tool_call_response`` (``response`` is the parsed ``tool_result_json``, or the
  plain ``tool_result_content`` string). The spans doc's ``result`` spelling is accepted.
* ``server_tool_call`` / ``server_tool_call_response`` are TOOL_CALL / TOOL_RESULT parts whose
  ``provider_type`` is that type name, which is how they find their way back out.
* MEDIA <-> ``blob`` (kept as a ``data:`` URL in ``media_url``), ``uri`` (``media_url``) and
  ``file`` (``file_id`` in ``media_name``, the only free string a MEDIA part has).
* Other part types have no record shape and are dropped.

Parsers raise :class:`ValueError` on a shape they cannot read, so the caller can keep the raw
attribute instead of losing it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.model import Message, Part, PartKind, Role, ToolDefinition

SERVER_TOOL_CALL = "server_tool_call"
SERVER_TOOL_CALL_RESPONSE = "server_tool_call_response"
_MODALITIES = ("image", "video", "audio")
_ROLES = {role.value: role for role in Role}  # Role(value) without the enum call's cost


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def json_value(raw: bytes) -> Any:
    """Parsed JSON bytes; text that is not JSON is passed on as a string."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def load_json(value: Any) -> Any:
    """A content attribute's value as Python data: JSON strings are parsed, structured AnyValues
    (already converted to lists and dicts) are taken as they are."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    return value


# --- record -> attribute ------------------------------------------------------------------------


def messages_to_json(
    messages: Sequence[Message], *, output: bool, finish_reasons: Sequence[str], fallback_finish: str
) -> str:
    items: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.role.value or ("assistant" if output else "user")
        item: dict[str, Any] = {"role": role, "parts": [p for p in map(_part_to_dict, message.parts) if p]}
        if message.name:
            item["name"] = message.name
        reason = finish_reasons[index] if index < len(finish_reasons) else fallback_finish
        if output and reason:  # one message per choice; left out when the source did not say
            item["finish_reason"] = reason
        items.append(item)
    return orjson.dumps(items).decode()


def system_instructions_to_json(system_prompt: str) -> str:
    return orjson.dumps([{"type": "text", "content": system_prompt}]).decode()


def tool_definitions_to_json(tools: Sequence[ToolDefinition]) -> str:
    items: list[dict[str, Any]] = []
    for tool in tools:
        item: dict[str, Any] = {"type": tool.type or "function", "name": tool.name}
        if tool.description:
            item["description"] = tool.description
        if tool.input_schema_json:
            item["parameters"] = json_value(tool.input_schema_json)
        items.append(item)
    return orjson.dumps(items).decode()


def _part_to_dict(part: Part) -> dict[str, Any] | None:
    kind = part.kind
    if kind is PartKind.TEXT:
        return {"type": "text", "content": part.text}
    if kind is PartKind.THINKING:
        return {"type": "reasoning", "content": part.text}
    if kind is PartKind.TOOL_CALL:
        server = part.provider_type == SERVER_TOOL_CALL
        out: dict[str, Any] = {"type": SERVER_TOOL_CALL if server else "tool_call"}
        if part.tool_call_id:
            out["id"] = part.tool_call_id
        out["name"] = part.tool_name
        if server:
            out[SERVER_TOOL_CALL] = json_value(part.tool_input_json) if part.tool_input_json else {}
        elif part.tool_input_json:
            out["arguments"] = json_value(part.tool_input_json)
        return out
    if kind is PartKind.TOOL_RESULT:
        server = part.provider_type == SERVER_TOOL_CALL_RESPONSE
        out = {"type": SERVER_TOOL_CALL_RESPONSE if server else "tool_call_response"}
        if part.tool_call_id:
            out["id"] = part.tool_call_id
        response = json_value(part.tool_result_json) if part.tool_result_json else part.tool_result_content
        out[SERVER_TOOL_CALL_RESPONSE if server else "response"] = response
        return out
    if kind is PartKind.MEDIA:
        return _media_to_dict(part)
    return None


def _media_to_dict(part: Part) -> dict[str, Any] | None:
    url, mime = part.media_url, part.media_mime_type
    if url.startswith("data:") and ";base64," in url:
        header, _, data = url.partition(",")
        mime = mime or header[5:].split(";", 1)[0]
        out: dict[str, Any] = {"type": "blob"}
        _put_media_common(out, part, mime)
        out["content"] = data
    elif url:
        out = {"type": "uri"}
        _put_media_common(out, part, mime)
        out["uri"] = url
    elif part.media_name:
        out = {"type": "file"}
        _put_media_common(out, part, mime)
        out["file_id"] = part.media_name
    else:
        return None
    return out


def _put_media_common(out: dict[str, Any], part: Part, mime: str) -> None:
    if mime:
        out["mime_type"] = mime
    # modality is required; without a kind, the MIME major type names it when it is a known one.
    major = mime.split("/", 1)[0]
    out["modality"] = part.media_kind or (major if major in _MODALITIES else "")


# --- attribute -> record ------------------------------------------------------------------------


def parse_messages(value: Any) -> tuple[list[Message], list[str]]:
    """Messages and, for output messages, their finish reasons in order."""
    data = load_json(value)
    if not isinstance(data, list):
        raise ValueError("expected an array of messages")
    messages: list[Message] = []
    finish_reasons: list[str] = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("expected each message to be an object")
        parts = item.get("parts", [])
        if not isinstance(parts, list):
            raise ValueError("expected message parts to be an array")
        # A custom role ("developer") has no record value.
        role = _ROLES.get(str(item.get("role", "")), Role.UNSPECIFIED)
        name = item.get("name")
        parsed = [p for p in map(_dict_to_part, parts) if p is not None]
        messages.append(Message(role=role, parts=parsed, name=name if isinstance(name, str) else ""))
        reason = item.get("finish_reason")
        if isinstance(reason, str):
            finish_reasons.append(reason)
    return messages, finish_reasons


def parse_system_instructions(value: Any) -> str:
    data = load_json(value)
    if isinstance(data, str):  # some emitters record the bare prompt text
        return data
    if not isinstance(data, list):
        raise ValueError("expected an array of parts")
    texts = [p["content"] for p in data if isinstance(p, dict) and isinstance(p.get("content"), str)]
    return "\n".join(texts)


def parse_tool_definitions(value: Any) -> list[ToolDefinition]:
    data = load_json(value)
    if not isinstance(data, list):
        raise ValueError("expected an array of tool definitions")
    tools: list[ToolDefinition] = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("expected each tool definition to be an object")
        # OpenAI-style {"type": "function", "function": {...}} nests the definition.
        body = item.get("function") if isinstance(item.get("function"), dict) else item
        assert isinstance(body, dict)
        tools.append(
            ToolDefinition(
                name=_str(body.get("name")),
                description=_str(body.get("description")),
                type=_str(item.get("type")),
                input_schema_json=_schema(body),
            )
        )
    return tools


def _schema(body: dict[str, Any]) -> bytes:
    """A tool's parameter schema as JSON: ``parameters`` (conventions, OpenAI) or Anthropic's
    ``input_schema``."""
    for key in ("parameters", "input_schema"):
        if key in body:
            return dumps(body[key])
    return b""


def _dict_to_part(item: Any) -> Part | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "text":
        return Part(PartKind.TEXT, text=_str(item.get("content")))
    if kind == "reasoning":
        return Part(PartKind.THINKING, text=_str(item.get("content")))
    if kind in ("tool_call", SERVER_TOOL_CALL):
        server = kind == SERVER_TOOL_CALL
        args_key = SERVER_TOOL_CALL if server else "arguments"
        return Part(
            PartKind.TOOL_CALL,
            tool_call_id=_str(item.get("id")),
            tool_name=_str(item.get("name")),
            tool_input_json=dumps(item[args_key]) if args_key in item else b"",
            provider_type=SERVER_TOOL_CALL if server else "",
        )
    if kind in ("tool_call_response", SERVER_TOOL_CALL_RESPONSE):
        server = kind == SERVER_TOOL_CALL_RESPONSE
        key = SERVER_TOOL_CALL_RESPONSE if server else ("response" if "response" in item else "result")
        part = Part(
            PartKind.TOOL_RESULT,
            tool_call_id=_str(item.get("id")),
            provider_type=SERVER_TOOL_CALL_RESPONSE if server else "",
        )
        if key in item:  # a JSON null is still a response
            response = item[key]
            if isinstance(response, str) and not server:
                part.tool_result_content = response
            else:
                part.tool_result_json = dumps(response)
        return part
    if kind in ("blob", "uri", "file"):
        return _dict_to_media(kind, item)
    return None


def _dict_to_media(kind: str, item: dict[str, Any]) -> Part:
    mime = _str(item.get("mime_type"))
    part = Part(PartKind.MEDIA, media_kind=_str(item.get("modality")), media_mime_type=mime)
    if kind == "blob":
        content = item.get("content")
        if isinstance(content, bytes):  # a structured AnyValue may carry real bytes
            content = base64.b64encode(content).decode()
        part.media_url = f"data:{mime};base64,{_str(content)}"
    elif kind == "uri":
        part.media_url = _str(item.get("uri"))
    else:
        part.media_name = _str(item.get("file_id"))
    return part


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
