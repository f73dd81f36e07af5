"""LumiqTrace event validation: which fields an event must have, and of which type.

LumiqTrace publishes a field list, not its validator, so the checks and messages are the
gateway's (see :mod:`gateway.formats.lumiqtrace` for the rules chosen); each message names the
1-based line and the field, e.g. ``line 3: missing required field "model"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from gateway.model import Status

PROVIDERS: Final = ("openai", "anthropic", "google", "custom")
OPERATIONS: Final = ("chat", "embed", "image", "tts", "tool", "agent", "custom")
SPAN_KINDS: Final = ("llm", "agent", "tool", "planning", "handoff", "retriever", "guardrail", "general")
STATUSES: Final = ("success", "error", "timeout", "rate_limited", "cancelled")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


MAX_EVENTS: Final = 100  # events per request
EXTRA_SPAN_KIND: Final = "lumiqtrace.span_kind"  # Record.extra: the event's span_kind, kept for the round trip
EXTRA_UNKNOWN: Final = "lumiqtrace.unknown."  # Record.extra prefix: fields this schema does not know
# Wire status -> record status (the encoder inverts it).
STATUSES_IN: Final = {
    "success": Status.OK,
    "error": Status.ERROR,
    "timeout": Status.TIMEOUT,
    "rate_limited": Status.RATE_LIMITED,
    "cancelled": Status.ABORTED,
}


class LumiqValidationError(ValueError):
    """The body is not valid LumiqTrace NDJSON; the message is the 400 body's ``error``."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.line = line  # 1-based line of the body, None for batch-level errors
        self.field = field


class _Invalid(Exception):
    """A field value is wrong; the argument completes `field "x" ...`."""


def _non_empty(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("must be a non-empty string")
    return value


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid("must be a number")
    if value < 0:
        raise _Invalid("must be a non-negative number")
    return float(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid("must be a number")
    if value < 0 or (isinstance(value, float) and not value.is_integer()):
        raise _Invalid("must be a non-negative integer")
    return int(value)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be a boolean")
    return value


def _enum(values: tuple[str, ...]) -> Callable[[object], str]:
    message = "must be one of " + ", ".join(values)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in values:
            raise _Invalid(message)
        return value

    return check


def _timestamp(value: object) -> int:
    if not isinstance(value, str):
        raise _Invalid("must be an ISO 8601 timestamp")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("must be an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _tags(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Invalid("must be an object of strings")
    return dict(value)


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid("must be an array of strings")
    return list(value)


def _scores(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _Invalid("must be an object of numbers")
    try:
        return {k: _number_any(v) for k, v in value.items()}
    except _Invalid:
        raise _Invalid("must be an object of numbers") from None


def _number_any(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid("must be a number")
    return float(value)


# The event schema in the docs' order, which is also the order of checks and of encoded keys.
_FIELDS: Final[tuple[tuple[str, Callable[[object], Any], bool], ...]] = (
    ("event_id", _non_empty, True),
    ("trace_id", _non_empty, True),
    ("span_id", _non_empty, True),
    ("parent_span_id", _string, False),
    ("timestamp", _timestamp, True),
    ("provider", _enum(PROVIDERS), True),
    ("model", _string, True),
    ("operation", _enum(OPERATIONS), True),
    ("latency_ms", _number, True),
    ("ttft_ms", _number, False),
    ("input_tokens", _count, True),
    ("output_tokens", _count, True),
    ("cached_tokens", _count, False),
    ("cost_usd", _number, True),
    ("status", _enum(STATUSES), True),
    ("error_code", _string, False),
    ("error_message", _string, False),
    ("finish_reason", _string, False),
    ("stream", _boolean, True),
    ("environment", _string, True),
    ("user_id", _string, False),
    ("session_id", _string, False),
    ("tags", _tags, False),
    ("tools_used", _strings, False),
    ("eval_scores", _scores, False),
    ("prompt_hash", _string, False),
    ("sdk_version", _string, True),
    ("span_kind", _enum(SPAN_KINDS), False),
)
KNOWN_FIELDS: Final = frozenset(name for name, _, _ in _FIELDS)


def validate_event(number: int, line: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked values of one NDJSON line, and its unknown keys; raises on the first problem."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise LumiqValidationError(f"line {number}: invalid JSON", line=number) from None
    if not isinstance(event, dict):
        raise LumiqValidationError(f"line {number}: event must be a JSON object", line=number)
    values: dict[str, Any] = {}
    for name, check, required in _FIELDS:
        value = event.get(name)
        if value is None and (name not in event or not required):
            if required:
                raise LumiqValidationError(f'line {number}: missing required field "{name}"', line=number, field=name)
            continue
        try:
            values[name] = check(value)
        except _Invalid as problem:
            raise LumiqValidationError(f'line {number}: field "{name}" {problem}', line=number, field=name) from None
    return values, {k: v for k, v in event.items() if k not in KNOWN_FIELDS}
