"""Pieces shared by the Sigil translators: errors, per-item results, the server's per-item rules.

This module is internal to :mod:`gateway.formats.sigil` (import the public names from there).
It holds what both transports (protojson over HTTP, protobuf over gRPC) must do identically:
the defaults and validation the Sigil server applies to each item (wire sheet section 5), the
metadata projection into :class:`~gateway.model.Record`, JSON value normalisation for
``google.protobuf.Struct`` fields and the RFC 3339 timestamp format.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from gateway.model import Message, PartKind, Record, Role, Status

# Enum numbers (identical in sigil.v1 and agento11y.v1).
MODE_UNSPECIFIED: Final = 0
MODE_SYNC: Final = 1
MODE_STREAM: Final = 2
SEMANTICS_INCLUSIVE: Final = 1

OPERATION_SYNC: Final = "generateText"
OPERATION_STREAM: Final = "streamText"

# Metadata keys the server projects; the first key of each pair wins.
# agento11y SDKs spell Sigil's metadata keys with their own prefix (wire/sigil.md §1).
USER_ID_KEYS: Final = ("sigil.user.id", "user.id", "agento11y.user.id")
# The metadata label in which the SDK declares how much content it captured: "full",
# "no_tool_content" or "metadata_only" (the format declares it; see Format.capture_mode_key).
CAPTURE_MODE_KEY: Final = "sigil.sdk.content_capture_mode"
TITLE_KEYS: Final = ("sigil.conversation.title", "conversation_title", "agento11y.conversation.title")

# protojson Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS: Final = -62135596800
MAX_TIMESTAMP_SECONDS: Final = 253402300799

_NS_PER_S: Final = 1_000_000_000
# Integers up to 2**53 survive a round trip through a double (Struct numbers are doubles).
_MAX_EXACT_INT: Final = 2**53

_UUID7_RANDOM_BITS: Final = 74


class SigilDecodeError(ValueError):
    """A request or response body could not be decoded; the whole request is bad (HTTP 400).

    The message has protobuf-go's shape, ``proto: (line L:C): <msg>`` or
    ``proto: syntax error (line L:C): <msg>``, so a receiver can answer with it verbatim.
    """


@dataclass(frozen=True, slots=True)
class ItemError:
    """One request item that decoded but was rejected by the per-item rules.

    ``id`` is the item's id after defaults (a generation without an id gets ``gen-<n>``), which
    is what the server echoes in that item's result.
    """

    id: str
    error: str


@dataclass(frozen=True, slots=True)
class ExportResult:
    """One entry of an Export*Response: ``generation_id`` / ``step_id``, accepted, error."""

    id: str
    accepted: bool
    error: str = ""


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def export_results(items: Iterable[_Identified]) -> list[ExportResult]:
    """The response entries for decoded items, in order: accepted items (records, or messages on
    the pass-through), rejected items."""
    return [
        ExportResult(item.id, False, item.error) if isinstance(item, ItemError) else ExportResult(item.id, True)
        for item in items
    ]


def next_generation_id() -> str:
    """The default id for a generation sent without one: ``gen-<UUIDv7>``.

    The server numbers them ``gen-<n>`` from a process-local counter, which repeats across
    processes and restarts (a backend then refuses the second generation with the same id); a
    UUIDv7 (RFC 9562: 48-bit Unix milliseconds, then 74 random bits) is unique across both and
    still sorts by time."""
    return f"gen-{uuid7()}"


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") >> (80 - _UUID7_RANDOM_BITS)
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def now_ns() -> int:
    """The current time, read once per request so that every defaulted item gets the same value."""
    return time.time_ns()


def finish_generation(record: Record, mode: int, has_model: bool, now: int | None) -> Record | ItemError:
    """Applies the server's defaults, then its validation (wire sheet section 5), in that order.

    ``mode`` is the raw enum number (unknown numbers survive decoding and are rejected here);
    ``has_model`` tells an absent ``model`` message from an empty one. Checks compare with
    ``""`` and never trim, like the server.
    """
    if not record.id:
        record.id = next_generation_id()
    mode = MODE_SYNC if mode == MODE_UNSPECIFIED else mode
    if not record.operation:
        record.operation = default_operation(mode)
    if record.start_ns is None or record.end_ns is None:
        current = time.time_ns() if now is None else now
        if record.start_ns is None:
            record.start_ns = current
        if record.end_ns is None:
            record.end_ns = current
    problem = generation_problem(has_model, record.provider, record.model, mode)
    if problem:
        return ItemError(record.id, problem)
    record.stream = mode == MODE_STREAM
    return record


def default_operation(mode: int) -> str:
    """The operation name the server gives a generation without one."""
    return OPERATION_STREAM if mode == MODE_STREAM else OPERATION_SYNC


def generation_problem(has_model: bool, provider: str, model: str, mode: int) -> str:
    """The server's validation of a generation, after its defaults ("" when it takes it): the
    one rule set of the records path (:func:`finish_generation`) and the messages path
    (``native.finish_message``)."""
    if not has_model:
        return "generation.model is required"
    if provider == "":
        return "generation.model.provider is required"
    if model == "":
        return "generation.model.name is required"
    if mode != MODE_SYNC and mode != MODE_STREAM:
        return "generation.mode is invalid"
    return ""


def finish_workflow_step(record: Record) -> Record | ItemError:
    """The SDK's client-side workflow-step rules; the server's own rules are not public.

    The SDK trims before checking, unlike the generation rules.
    """
    if not record.id.strip():
        return ItemError(record.id, "id is required")
    if not record.conversation_id.strip():
        return ItemError(record.id, "conversation_id is required")
    if not record.name.strip():
        return ItemError(record.id, "step_name is required")
    if record.start_ns is not None and record.end_ns is not None and record.end_ns < record.start_ns:
        return ItemError(record.id, "completed_at must not be earlier than started_at")
    return record


def stream_from_mode(mode: int) -> bool | None:
    if mode == MODE_STREAM:
        return True
    if mode == MODE_SYNC:
        return False
    return None


def mode_from_stream(stream: bool | None) -> int:
    if stream is None:
        return MODE_UNSPECIFIED
    return MODE_STREAM if stream else MODE_SYNC


def project_metadata(record: Record) -> None:
    """Copies the user id and conversation title the server reads from metadata into the record.

    Only non-empty strings count; metadata itself is left untouched.
    """
    metadata = record.metadata
    if not metadata:
        return
    for key in USER_ID_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            record.user_id = value
            break
    for key in TITLE_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            record.conversation_title = value
            break


def metadata_out(record: Record) -> dict[str, Any]:
    """The metadata to send: the record's, plus the projected keys it lacks.

    A key is added only when the record has the value and none of the keys the server would
    read it from is present, so a Sigil -> record -> Sigil round trip adds nothing.
    """
    metadata = record.metadata
    add_user = bool(record.user_id) and not any(key in metadata for key in USER_ID_KEYS)
    add_title = bool(record.conversation_title) and not any(key in metadata for key in TITLE_KEYS)
    if not (add_user or add_title):
        return metadata
    out = dict(metadata)
    if add_user:
        out[USER_ID_KEYS[0]] = record.user_id
    if add_title:
        out[TITLE_KEYS[0]] = record.conversation_title
    return out


def call_error_out(record: Record) -> str:
    """Sigil has no status field: a failed record from another format needs a non-blank call_error.

    The server flags a generation as an error when call_error is non-blank, so a record whose
    status is not OK but has no message sends its error type, else its status name.
    """
    if record.error_message or record.status is Status.OK:
        return record.error_message
    return record.error_type or record.status.value


def status_from_call_error(call_error: str) -> Status:
    return Status.ERROR if call_error.strip() else Status.OK


def json_number(value: float) -> int | float:
    """A Struct number as the record keeps it: integral values within 2**53 become ``int``.

    JSON has one number type and Struct stores doubles; normalising keeps ``{"n": 1}`` the same
    record whichever transport carried it, and out of other formats as ``1`` rather than
    ``1.0``. ``-0.0`` stays a float so that its sign survives a round trip.
    """
    if value.is_integer() and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT and (value or math.copysign(1.0, value) > 0):
        return int(value)
    return value


def json_value(value: Any) -> Any:
    """Normalises a JSON value parsed by orjson the way a Struct would store it (see json_number)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else float(value)
    if kind is float:
        return json_number(value)
    if kind is dict:
        return {key: json_value(item) for key, item in value.items()}
    return [json_value(item) for item in value]


def format_timestamp(ns: int) -> str | None:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protojson writes it.

    Returns ``None`` outside the Timestamp range (years 1 to 9999), which protojson cannot
    represent; callers then omit the field.
    """
    seconds, nanos = divmod(ns, _NS_PER_S)
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        return None
    days, rest = divmod(seconds, 86400)
    year, month, day = civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1000 == 0:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).

    Unlike :mod:`datetime` it accepts year 0, which RFC 3339 text can carry with an offset.
    """
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + (3 if month_index < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def outgoing_id(record: Record, prefix: str) -> str:
    """The id sent to Sigil: the record's own, or for a record from a format without ids (a
    Foglamp span) one derived from what identifies it, so a retry or replay sends the same id
    and Sigil rejects it as a duplicate instead of storing it twice."""
    if record.id:
        return record.id
    key = "\x1f".join(
        (record.trace_id, record.span_id, str(record.start_ns), record.provider, record.model, record.name)
    )
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


ROLE_FROM_PROTO: dict[int, Role] = {1: Role.USER, 2: Role.ASSISTANT, 3: Role.TOOL}
# Sigil has no system role: system messages are folded into system_prompt (see
# system_prompt_and_input), and any left over are sent without a role.
ROLE_TO_PROTO: dict[Role, int] = {Role.USER: 1, Role.ASSISTANT: 2, Role.TOOL: 3}


def system_prompt_and_input(record: Record) -> tuple[str, list[Message]]:
    """The system prompt and input messages to send for a record.

    Records from formats with a ``system`` role carry the prompt as messages; when the record
    has no ``system_prompt`` of its own, their text parts become it (joined by blank lines).
    """
    if record.system_prompt or not any(m.role is Role.SYSTEM for m in record.input):
        return record.system_prompt, record.input
    texts = [
        part.text
        for message in record.input
        if message.role is Role.SYSTEM
        for part in message.parts
        if part.kind is PartKind.TEXT
    ]
    return "\n\n".join(texts), [m for m in record.input if m.role is not Role.SYSTEM]
