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


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _same(value: Any) -> Any:
    return value


def _setter(
    name: str,
    accept: Callable[[Any], bool],
    convert: Callable[[Any], Any] = _same,
    *,
    on: Literal["record", "usage", "state"] = "record",
) -> Handler:
    """A handler that stores an accepted value in a record, usage or state attribute."""

    def handler(record: Record, value: Any, state: State) -> bool:
        if not accept(value):
            return False
        target = record if on == "record" else record.usage if on == "usage" else state
        setattr(target, name, convert(value))
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
    # A JSON string is kept byte for byte; structured values are serialised.
    return value.encode() if isinstance(value, str) else content.dumps(value)


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
    if not _is_number(value):
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


def _workflow_state(value: Any) -> dict[str, Any]:
    try:
        data = orjson.loads(value) if isinstance(value, str) else value
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def field_handlers() -> dict[str, Handler]:
    """Logical attribute key -> handler, for every attribute that has a record field."""
    s, i, f = _is_str, _is_int, _is_number
    return {
        "operation_name": _setter("operation", s),
        "provider_name": _setter("provider", s),
        "conversation_id": _setter("conversation_id", s),
        "agent_name": _setter("agent_name", s),
        "agent_version": _setter("agent_version", s),
        "workflow_name": _setter("workflow_name", s),
        "request_model": _setter("model", s),
        "request_max_tokens": _setter("max_tokens", i),
        "request_temperature": _setter("temperature", f, float),
        "request_top_p": _setter("top_p", f, float),
        "request_stream": _setter("stream", _is_bool),
        "response_id": _setter("response_id", s),
        "response_model": _setter("response_model", s),
        "response_finish_reasons": _finish_reasons,
        "response_time_to_first_chunk": _ttfc,
        "usage_input_tokens": _setter("input_tokens", i, on="usage"),
        "usage_output_tokens": _setter("output_tokens", i, on="usage"),
        "usage_cache_read_input_tokens": _setter("cache_read_input_tokens", i, on="usage"),
        "usage_cache_creation_input_tokens": _setter("cache_write_input_tokens", i, on="usage"),
        "usage_reasoning_output_tokens": _setter("reasoning_tokens", i, on="usage"),
        "tool_name": _setter("tool_name", s),
        "tool_call_id": _setter("tool_call_id", s),
        "tool_type": _setter("tool_type", s),
        "tool_description": _setter("tool_description", s),
        "tool_call_arguments": _setter("tool_arguments_json", lambda _: True, _json_bytes),
        "tool_call_result": _setter("tool_result_json", lambda _: True, _json_bytes),
        # Per-message finish reasons repeat gen_ai.response.finish_reasons, which is kept.
        "input_messages": _parsed("input", lambda value: content.parse_messages(value)[0]),
        "output_messages": _output_messages,
        "system_instructions": _parsed("system_prompt", content.parse_system_instructions),
        "tool_definitions": _parsed("tools", content.parse_tool_definitions),
        "error_type": _setter("error_type", s),
        "user_id": _setter("user_id", s),
        "session_id": _setter("session_id", s),
    }


def extension_handlers() -> dict[str, Handler]:
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


def _own_extension_handlers() -> dict[str, Handler]:
    x, s, i, lst = EXTENSIONS, _is_str, _is_int, _is_str_list
    return {
        x.generation_id: _collect("ids", x.generation_id),
        x.record_id: _collect("ids", x.record_id),
        x.conversation_title: _setter("conversation_title", s),
        x.tool_choice: _setter("tool_choice", s),
        x.thinking_enabled: _setter("thinking_enabled", _is_bool),
        x.parent_generation_ids: _setter("parent_generation_ids", lst, list),
        x.original_operation: _setter("original_operation", s, on="state"),
        x.record_name: _setter("record_name", s, on="state"),
        x.record_kind: _record_kind,
        x.trace_name: _setter("trace_name", s),
        x.workflow_run_id: _setter("workflow_run_id", s),
        x.effective_version: _setter("effective_version", s),
        x.framework: _setter("framework", s),
        x.sdk_version: _setter("sdk_version", s),
        x.prompt_hash: _setter("prompt_hash", s),
        x.tools_used: _setter("tools_used", lst, list),
        x.cost_usd: _setter("cost_usd", _is_number, float),
        x.usage_total_tokens: _setter("total_tokens", i, on="usage"),
        x.usage_image_count: _setter("image_count", i, on="usage"),
        x.usage_web_search_count: _setter("web_search_count", i, on="usage"),
        x.usage_request_count: _setter("request_count", i, on="usage"),
        x.linked_generation_ids: _setter("linked_generation_ids", lst, list),
        x.parent_step_ids: _setter("parent_step_ids", lst, list),
        x.input_state: _parsed("input_state", _workflow_state),
        x.output_state: _parsed("output_state", _workflow_state),
        x.customer_id: _collect("customer", "id"),
        x.customer_name: _collect("customer", "name"),
        x.customer_image_url: _collect("customer", "image_url"),
    }


# (record map attribute, accept, convert) for the prefixed extension names.
PREFIXES: list[tuple[str, str, Callable[[Any], bool], Callable[[Any], Any]]] = [
    (EXTENSIONS.tag_prefix, "tags", _is_str, _same),
    (EXTENSIONS.metadata_prefix, "metadata", lambda _: True, _same),
    (EXTENSIONS.eval_score_prefix, "eval_scores", _is_number, float),
    (EXTENSIONS.trace_metadata_prefix, "trace_metadata", _is_str, _same),
]
