"""Sigil's evaluation-rule selectors: which generations a rule (or a ``filter``) looks at.

Read off the record's output, generations only, as the Sigil server does:
``user_visible_turn`` (assistant text without tool calls), ``all_assistant_generations`` (any
assistant output), ``tool_call_steps`` (a tool call in the output), ``errored_generations`` (a
call error or an error status).
"""

from __future__ import annotations

import typing
from typing import Literal

from gateway.model import Kind, PartKind, Record, Role, Status

Selector = Literal["user_visible_turn", "all_assistant_generations", "tool_call_steps", "errored_generations"]
SELECTORS: tuple[str, ...] = typing.get_args(Selector)


def _assistant_parts(r: Record) -> list[PartKind]:
    return [p.kind for m in r.output if m.role in (Role.ASSISTANT, Role.UNSPECIFIED) for p in m.parts]


def selector_matches(selector: str, r: Record) -> bool:
    if r.kind != Kind.LLM:
        return False
    parts = _assistant_parts(r)
    if selector == "user_visible_turn":
        return PartKind.TEXT in parts and PartKind.TOOL_CALL not in parts
    if selector == "all_assistant_generations":
        return bool(parts)
    if selector == "tool_call_steps":
        return PartKind.TOOL_CALL in parts
    if selector == "errored_generations":
        return bool(r.error_message.strip()) or r.status != Status.OK
    raise ValueError(f"unknown selector {selector!r}")
