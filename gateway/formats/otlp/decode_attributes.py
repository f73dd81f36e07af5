"""Span attributes -> record fields: one handler per attribute that has a record field.

A handler stores a value in the record (or in the span's :class:`State`, resolved by the reader
after the loop) and says whether it could; a value it refuses is kept in ``Record.extra``. Used by
:mod:`.decode`, which looks attribute names up in the convention tables first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from gateway.formats.otlp import content
from gateway.formats.otlp.aliases import EXTENSION_ALIASES
from gateway.formats.otlp.semconv import EXTENSIONS
from gateway.model import Kind, Record

ANTHROPIC_STOP_REASON = "anthropic.message.stop_reason"  # the anthropic SDK's own tracing


@dataclass(slots=True)
class State:
    """What one span's attributes say beyond single record fields, resolved after the loop."""

    canonical_seen: set[str] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)
    ambiguous_cache: bool = False
    original_operation: str | None = None
    record_name: str | None = None
    customer: dict[str, str] = field(default_factory=dict)
    kind: Kind | None = None
    message_finish_reasons: list[str] = field(default_factory=list)  # inside gen_ai.output.messages
    vendor_stop_reason: str = ""  # a provider SDK's own stop-reason attribute


# A handler stores a value in the record and says whether it could (False: keep it in extra).
Handler = Callable[[Record, Any, State], bool]


# --- handlers -----------------------------------------------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# Accepted value types of a setter. Attribute values are exactly these builtin types (see
# values.to_python), so an exact type test is the isinstance test, minus bool for the numbers.
STR: frozenset[type] = frozenset({str})
INT: frozenset[type] = frozenset({int})
NUMBER: frozenset[type] = frozenset({int, float})
BOOL: frozenset[type] = frozenset({bool})


@dataclass(frozen=True, slots=True)
class Setter:
    """Stores a value of one of ``types``, converted by ``convert`` if given, in a record, usage
    or state attribute; other values are refused (kept in extra).

    Data rather than a closure, so that the reader applies it without a call per attribute."""

    name: str
    types: frozenset[type]
    convert: Callable[[Any], Any] | None = None
    on: Literal["record", "usage", "state"] = "record"


def _str_list(name: str) -> Handler:
    """A handler for a list of strings, stored as a list."""

    def handler(record: Record, value: Any, state: State) -> bool:
        if not _is_str_list(value):
            return False
        setattr(record, name, list(value))
        return True

    return handler


def _parsed(name: str, parse: Callable[[Any], Any]) -> Handler:
    """A handler for content: a shape the parser rejects stays in extra as it came."""

    def handler(record: Record, value: Any, state: State) -> bool:
        try:
            setattr(record, name, parse(value))
        except ValueError:
            return False
        return True

    return handler


def _collect(collection: Literal["ids", "customer"], key: str) -> Handler:
    def handler(record: Record, value: Any, state: State) -> bool:
        if not isinstance(value, str):
            return False
        getattr(state, collection)[key] = value
        return True

    return handler


def _json_bytes(value: Any) -> bytes:
    # A JSON string is kept byte for byte; structured values are serialised (bytes cannot be:
    # such a value stays in extra).
    if isinstance(value, str):
        return value.encode()
    try:
        return content.dumps(value)
    except orjson.JSONEncodeError:
        raise ValueError("not JSON") from None


def _finish_reasons(record: Record, value: Any, state: State) -> bool:
    if isinstance(value, str):
        # logfire sends the list as a JSON string; one bare reason is read as a list of one.
        try:
            value = orjson.loads(value) if value.startswith("[") else [value]
        except orjson.JSONDecodeError:
            return False
    if not _is_str_list(value):
        return False
    record.stop_reason = value[0] if value else ""
    return len(value) == 1  # the full list stays in extra when stop_reason cannot hold it


def _output_messages(record: Record, value: Any, state: State) -> bool:
    try:
        record.output, state.message_finish_reasons = content.parse_messages(value)
    except ValueError:
        return False
    return True


def _ttfc(record: Record, value: Any, state: State) -> bool:
    if type(value) not in NUMBER:
        return False
    seconds = float(value)
    record.ttft_ms = seconds * 1000.0
    # When ms -> s does not give the same double back, extra keeps the exact value.
    return record.ttft_ms / 1000.0 == seconds


def _record_kind(record: Record, value: Any, state: State) -> bool:
    try:
        state.kind = Kind(value)
    except ValueError:
        return False
    return True


def workflow_state(value: Any) -> dict[str, Any]:
    """A workflow state attribute (a JSON object, or its text) as the record holds it; raises
    ``ValueError`` for anything else. The pass-through's check (``canonical_content``) reads it
    the same way."""
    try:
        data = orjson.loads(value) if isinstance(value, str) else value
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def field_handlers() -> dict[str, Handler | Setter]:
    """Logical attribute key -> handler, for every attribute that has a record field."""
    s, i, f = STR, INT, NUMBER
    return {
        "operation_name": Setter("operation", s),
        "provider_name": Setter("provider", s),
        "conversation_id": Setter("conversation_id", s),
        "agent_name": Setter("agent_name", s),
        "agent_version": Setter("agent_version", s),
        "workflow_name": Setter("workflow_name", s),
        "request_model": Setter("model", s),
        "request_max_tokens": Setter("max_tokens", i),
        "request_temperature": Setter("temperature", f, float),
        "request_top_p": Setter("top_p", f, float),
        "request_stream": Setter("stream", BOOL),
        "response_id": Setter("response_id", s),
        "response_model": Setter("response_model", s),
        "response_finish_reasons": _finish_reasons,
        "response_time_to_first_chunk": _ttfc,
        "usage_input_tokens": Setter("input_tokens", i, on="usage"),
        "usage_output_tokens": Setter("output_tokens", i, on="usage"),
        "usage_cache_read_input_tokens": Setter("cache_read_input_tokens", i, on="usage"),
        "usage_cache_creation_input_tokens": Setter("cache_write_input_tokens", i, on="usage"),
        "usage_reasoning_output_tokens": Setter("reasoning_tokens", i, on="usage"),
        "tool_name": Setter("tool_name", s),
        "tool_call_id": Setter("tool_call_id", s),
        "tool_type": Setter("tool_type", s),
        "tool_description": Setter("tool_description", s),
        "tool_call_arguments": _parsed("tool_arguments_json", _json_bytes),
        "tool_call_result": _parsed("tool_result_json", _json_bytes),
        # Per-message finish reasons repeat gen_ai.response.finish_reasons, which is kept.
        "input_messages": _parsed("input", lambda value: content.parse_messages(value)[0]),
        "output_messages": _output_messages,
        "system_instructions": _parsed("system_prompt", content.parse_system_instructions),
        "tool_definitions": _parsed("tools", content.parse_tool_definitions),
        "error_type": Setter("error_type", s),
        "user_id": Setter("user_id", s),
        "session_id": Setter("session_id", s),
    }


def extension_handlers() -> dict[str, Handler | Setter]:
    handlers = _own_extension_handlers()
    for alias, logical in EXTENSION_ALIASES.items():
        handlers[alias] = handlers[getattr(EXTENSIONS, logical)]
    handlers[ANTHROPIC_STOP_REASON] = _vendor_stop_reason
    return handlers


def _vendor_stop_reason(record: Record, value: Any, state: State) -> bool:
    """The anthropic SDK's own ``anthropic.message.stop_reason``: the stop reason when the
    conventions' finish reasons are absent (they win, whatever the order); kept in extra too."""
    if isinstance(value, str) and value:
        state.vendor_stop_reason = value
    return False


def _own_extension_handlers() -> dict[str, Handler | Setter]:
    x, s, i = EXTENSIONS, STR, INT
    return {
        x.generation_id: _collect("ids", x.generation_id),
        x.record_id: _collect("ids", x.record_id),
        x.conversation_title: Setter("conversation_title", s),
        x.tool_choice: Setter("tool_choice", s),
        x.thinking_enabled: Setter("thinking_enabled", BOOL),
        x.parent_generation_ids: _str_list("parent_generation_ids"),
        x.original_operation: Setter("original_operation", s, on="state"),
        x.record_name: Setter("record_name", s, on="state"),
        x.record_kind: _record_kind,
        x.trace_name: Setter("trace_name", s),
        x.workflow_run_id: Setter("workflow_run_id", s),
        x.effective_version: Setter("effective_version", s),
        x.framework: Setter("framework", s),
        x.sdk_version: Setter("sdk_version", s),
        x.prompt_hash: Setter("prompt_hash", s),
        x.tools_used: _str_list("tools_used"),
        x.cost_usd: Setter("cost_usd", NUMBER, float),
        x.usage_total_tokens: Setter("total_tokens", i, on="usage"),
        x.usage_image_count: Setter("image_count", i, on="usage"),
        x.usage_web_search_count: Setter("web_search_count", i, on="usage"),
        x.usage_request_count: Setter("request_count", i, on="usage"),
        x.linked_generation_ids: _str_list("linked_generation_ids"),
        x.parent_step_ids: _str_list("parent_step_ids"),
        x.input_state: _parsed("input_state", workflow_state),
        x.output_state: _parsed("output_state", workflow_state),
        x.customer_id: _collect("customer", "id"),
        x.customer_name: _collect("customer", "name"),
        x.customer_image_url: _collect("customer", "image_url"),
    }


# (prefix, record map attribute, accepted types (None: any), convert) for the prefixed extension names.
PREFIXES: list[tuple[str, str, frozenset[type] | None, Callable[[Any], Any] | None]] = [
    (EXTENSIONS.tag_prefix, "tags", STR, None),
    (EXTENSIONS.metadata_prefix, "metadata", None, None),
    (EXTENSIONS.eval_score_prefix, "eval_scores", NUMBER, float),
    (EXTENSIONS.trace_metadata_prefix, "trace_metadata", STR, None),
]
