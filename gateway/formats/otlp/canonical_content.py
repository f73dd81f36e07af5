"""The pass-through rule for content attributes (:mod:`.canonical`): whether the records path
writes ``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.definitions`` and the workflow state back byte for byte.

The encoder's own functions (:mod:`.content`) decide, after a shortcut for what most content is:
text-only messages and one-part system instructions in the conventions' shapes, which the
encoder writes exactly as orjson writes them (parsed and written again here, then compared).
``tests/formats/otlp/test_native.py`` holds both against the records path.
"""

from __future__ import annotations

from typing import Final

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from gateway.formats.otlp import content
from gateway.formats.otlp.decode_attributes import workflow_state
from gateway.model import Role

# What a content attribute is.
INPUT, OUTPUT, SYSTEM, TOOLS, STATE = range(5)
_ROLES: Final = frozenset(role.value for role in Role if role.value)


def written_back(kind: int, raw: bytes, finish: list[str] | None) -> bool:
    """Whether the encoder writes a content attribute (``raw``: its serialized ``AnyValue``)
    back byte for byte, or keeps it as it came because the decoder cannot read it. ``finish``:
    the span's finish reasons, which output messages are written with."""
    payload = _string_payload(raw)
    if payload is None:
        value = AnyValue.FromString(raw)
        if value.WhichOneof("value") != "string_value":
            return False  # read anyway, and written back as a JSON string
        payload = value.string_value.encode()
    if kind in (INPUT, OUTPUT):
        fast = _text_messages(payload, finish if kind == OUTPUT else None, output=kind == OUTPUT)
        if fast is not None:
            return fast
    elif kind == SYSTEM:
        fast = _text_system(payload)
        if fast is not None:
            return fast
    text = payload.decode()
    try:
        if kind == INPUT:
            messages = content.parse_messages(text)[0]
            return bool(messages) and text == content.messages_to_json(
                messages, output=False, finish_reasons=(), fallback_finish=""
            )
        if kind == OUTPUT:
            messages, reasons = content.parse_messages(text)
            if not finish and reasons:
                return False  # the record's stop reason would come from them, and be written
            return bool(messages) and text == content.messages_to_json(
                messages, output=True, finish_reasons=finish or (), fallback_finish=finish[0] if finish else ""
            )
        if kind == SYSTEM:
            prompt = content.parse_system_instructions(text)
            return bool(prompt) and text == content.system_instructions_to_json(prompt)
        if kind == TOOLS:
            tools = content.parse_tool_definitions(text)
            return bool(tools) and text == content.tool_definitions_to_json(tools)
        state = workflow_state(text)
    except ValueError:
        return True  # kept in extra as it came and written back so
    return content.dumps(state).decode() == text


def _string_payload(raw: bytes) -> bytes | None:
    """The UTF-8 of an AnyValue that is one string field (shorter than 2 MiB), from its bytes;
    None otherwise."""
    size = len(raw)
    if size < 2 or raw[0] != 0x0A:
        return None
    n = raw[1]
    if n < 0x80:
        return raw[2:] if n + 2 == size else None
    if size > 2 and raw[2] < 0x80 and (n & 0x7F | raw[2] << 7) + 3 == size:
        return raw[3:]
    if size > 3 and raw[2] >= 0x80 and raw[3] < 0x80 and (n & 0x7F | (raw[2] & 0x7F) << 7 | raw[3] << 14) + 4 == size:
        return raw[4:]
    return None


def short_string(raw: bytes) -> str | None:
    """The string of an AnyValue that is one string field, from its bytes (None otherwise)."""
    payload = _string_payload(raw)
    return None if payload is None else payload.decode()


def _text_messages(text: bytes, finish: list[str] | None, *, output: bool) -> bool | None:
    """The shortcut for messages of text parts only, as the encoder writes them: True when it
    would write ``text`` back, None when the encoder's functions must decide."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not list or not data:
        return None
    for i, item in enumerate(data):
        if type(item) is not dict:
            return None
        keys = tuple(item)
        if output:
            reason = finish[i] if finish and i < len(finish) else finish[0] if finish else ""
            if keys != (("role", "parts", "finish_reason") if reason else ("role", "parts")):
                return None
            if reason and item["finish_reason"] != reason:
                return None
        elif keys != ("role", "parts"):
            return None
        parts = item["parts"]
        if item["role"] not in _ROLES or type(parts) is not list:
            return None
        for part in parts:
            if type(part) is not dict or tuple(part) != ("type", "content") or part["type"] != "text":
                return None
            if type(part["content"]) is not str:
                return None
    return orjson.dumps(data) == text  # this shape is written as orjson writes it


def _text_system(text: bytes) -> bool | None:
    """The shortcut for system instructions of one text part."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not list or len(data) != 1 or type(data[0]) is not dict:
        return None
    part = data[0]
    if tuple(part) != ("type", "content") or part["type"] != "text" or type(part["content"]) is not str:
        return None
    return bool(part["content"]) and orjson.dumps(data) == text
