"""The generic half of the Sigil protojson decoder: scalar rules, message walking, error positions.

Internal to :mod:`gateway.formats.sigil.decode_json`, which declares the Sigil messages with
:class:`Spec` tables and builds records from the walked fields. Every converter takes a value
as orjson parsed it and returns the field's value, or raises :class:`Fail` with protobuf-go's
message. A failure only records its path (keys and list indices) while it unwinds; the
``(line L:C)`` position is recovered afterwards by re-scanning the body along that path
(:func:`positioned`), so the happy path pays nothing for positions.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, cast

import orjson

from gateway.formats.sigil import common
from gateway.formats.sigil.common import SigilDecodeError

Convert = Callable[[Any], Any]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_URL_TO_STD: Final = str.maketrans("-_", "+/")
_JSON_SPACE: Final = b" \t\r\n"


class Fail(Exception):
    """A decode failure whose position is not known yet.

    ``path`` collects keys and indices innermost first while the exception unwinds;
    ``at_key`` says the position is that of the key (unknown/duplicate field, oneof) rather
    than of the value.
    """

    def __init__(self, message: str, *, syntax: bool = False, at_key: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.syntax = syntax
        self.at_key = at_key
        self.path: list[str | int] = []


def raw(value: Any) -> str:
    """The token as Go prints it; containers show their opening bracket."""
    if type(value) is dict:
        return "{"
    if type(value) is list:
        return "["
    return orjson.dumps(value).decode()


def unexpected(value: Any) -> Fail:
    return Fail(f"unexpected token {raw(value)}", syntax=True)


def invalid(kind: str, value: Any) -> Fail:
    # protobuf-go 1.28 wording (the sheet's probe); newer releases say
    # "invalid value for <kind> field <jsonName>: <raw>".
    return Fail(f"invalid value for {kind} type: {raw(value)}")


# --------------------------------------------------------------------------- scalars


def as_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise invalid("string", value)


def as_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise invalid("bool", value)


def _int_text(text: str) -> int | None:
    # Go reads the string as one JSON number token (no surrounding space) and accepts it when
    # its digits, exponent applied, form an integer: "1e3" and "1.50e1" do, "1.5" does not.
    if not _NUMBER.fullmatch(text):
        return None
    if "." not in text and "e" not in text and "E" not in text:
        return int(text)
    number = Decimal(text)
    if number != number.to_integral_value() or not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return int(number)


def as_int64(value: Any) -> int:
    kind = type(value)
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return int(value)
    elif kind is float:
        if value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
            return int(value)
    elif kind is str:
        # Fast path for the usual protojson spelling ("123"); JSON forbids leading zeros.
        if value.isascii() and value.isdigit() and (value[0] != "0" or len(value) == 1):
            number: int | None = int(value)
        else:
            number = _int_text(value)
        if number is not None and _INT64_MIN <= number <= _INT64_MAX:
            return number
    raise invalid("int64", value)


def as_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return float(value)
    if kind is int:
        return float(value)
    if kind is str:
        if value == "NaN":
            return math.nan
        if value == "Infinity":
            return math.inf
        if value == "-Infinity":
            return -math.inf
        if _NUMBER.fullmatch(value):
            number = float(value)
            if not math.isinf(number):  # Go's ParseFloat rejects out-of-range numbers
                return number
    raise invalid("double", value)


def as_bytes(value: Any) -> bytes:
    if type(value) is str:
        decoded = _base64(value)
        if decoded is not None:
            return decoded
    raise invalid("bytes", value)


def _base64(text: str) -> bytes | None:
    """Go's rule: URL alphabet if the text has ``-`` or ``_``, padding optional, CR/LF ignored."""
    url = "-" in text or "_" in text
    padded = len(text) % 4 == 0  # Go decides on the length before dropping newlines
    if "\n" in text or "\r" in text:
        text = text.replace("\r", "").replace("\n", "")
    if url:
        if "+" in text or "/" in text:
            return None
        text = text.translate(_URL_TO_STD)
    if not padded:
        if "=" in text:
            return None
        text += "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None


def as_enum(names: dict[str, int]) -> Convert:
    def convert(value: Any) -> int:
        kind = type(value)
        if kind is str:
            number = names.get(value)
            if number is not None:
                return number
        elif kind is int:
            if _INT32_MIN <= value <= _INT32_MAX:
                return int(value)
        elif kind is float and value.is_integer() and _INT32_MIN <= value <= _INT32_MAX:
            return int(value)
        raise invalid("enum", value)

    return convert


# Batches carry many timestamps from the same few minutes: the calendar and clock part up to the
# minute (``YYYY-MM-DDTHH:MM``) is worth caching, as seconds since the epoch (None: not a valid
# date or time). Cleared when full, so that a long-running gateway keeps hitting it.
_MINUTES_CACHE_SIZE: Final = 4096
_seconds_by_minute: dict[str, int | None] = {}


def _minute_seconds(text: str) -> int | None:
    """Seconds since the epoch of a ``YYYY-MM-DDTHH:MM`` text, or None when it is not a real
    date or time of day."""
    year = int(text[0:4])
    month = int(text[5:7])
    day = int(text[8:10])
    hour = int(text[11:13])
    minute = int(text[14:16])
    if not 1 <= month <= 12 or hour > 23 or minute > 59:
        return None
    days_in_month = _DAYS_IN_MONTH[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days_in_month = 29
    if not 1 <= day <= days_in_month:
        return None
    return common.days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60


def as_timestamp(value: Any) -> int:
    """RFC 3339 with any offset -> ns since the epoch (UTC), protojson's checks and wording."""
    if type(value) is not str:
        raise unexpected(value)
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise Fail(f"invalid google.protobuf.Timestamp value {raw(value)}")
    minute_text, second_text, fraction, sign, oh, om = match.groups()
    try:
        seconds = _seconds_by_minute[minute_text]
    except KeyError:
        seconds = _minute_seconds(minute_text)
        if len(_seconds_by_minute) >= _MINUTES_CACHE_SIZE:
            _seconds_by_minute.clear()
        _seconds_by_minute[minute_text] = seconds
    second = int(second_text)
    # Go's strict parser fails on a 24:xx offset, but time.Parse then retries with its general
    # parser, which allows offsets up to 24:60.
    if (
        seconds is None
        or second > 59
        or (sign is not None and (int(oh) > 24 or int(om) > 60))
        or (fraction is not None and len(fraction) > 9)
    ):
        raise Fail(f"invalid google.protobuf.Timestamp value {raw(value)}")
    seconds += second
    if sign is not None:
        offset = int(oh) * 3600 + int(om) * 60
        seconds += -offset if sign == "+" else offset
    if not common.MIN_TIMESTAMP_SECONDS <= seconds <= common.MAX_TIMESTAMP_SECONDS:
        raise Fail(f"google.protobuf.Timestamp value out of range: {raw(value)}")
    if fraction:
        return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))
    return seconds * 1_000_000_000


def as_struct(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise unexpected(value)
    result: dict[str, Any] = common.json_value(value)
    return result


def as_string_map(value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise unexpected(value)
    for key, item in value.items():
        if type(item) is not str:
            failure = invalid("string", item)
            failure.path.append(key)
            raise failure
    return cast(dict[str, str], value)


def list_of(convert: Convert) -> Convert:
    def convert_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise unexpected(value)
        try:
            return [convert(item) for item in value]
        except Fail:
            pass
        # Rare path: convert again one by one to learn which element failed.
        for index, item in enumerate(value):
            try:
                convert(item)
            except Fail as failure:
                failure.path.append(index)
                raise
        raise AssertionError("a conversion failed once but not again")  # pragma: no cover

    return convert_list


# --------------------------------------------------------------------------- messages


class Spec:
    """How to walk one message: JSON key (either spelling) -> (field name, converter)."""

    __slots__ = ("fields", "oneof", "oneof_name")

    def __init__(self, fields: dict[str, Convert], oneof: frozenset[str] = frozenset(), oneof_name: str = ""):
        self.fields: dict[str, tuple[str, Convert]] = {}
        for name, convert in fields.items():
            camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)
            self.fields[name] = self.fields[camel] = (name, convert)
        self.oneof = oneof
        self.oneof_name = oneof_name


def _at_key(message: str, key: str) -> Fail:
    failure = Fail(message, at_key=True)
    failure.path.append(key)
    return failure


def walk(value: Any, spec: Spec) -> dict[str, Any]:
    """Field name -> converted value; a JSON null is kept as None (unset).

    This is the hot loop, so it skips the checks that need per-key bookkeeping: a duplicate
    (a field named in both spellings) shows up afterwards as fewer fields than keys, and two
    oneof members as a count. Whenever anything is wrong, :func:`_walk_checked` walks the
    object again in protobuf-go's order to raise the error Go would report first.
    """
    if type(value) is not dict:
        raise unexpected(value)
    fields = spec.fields
    out: dict[str, Any] = {}
    try:
        for key, item in value.items():
            name, convert = fields[key]
            if item is None:
                out[name] = None
            elif convert is as_string and type(item) is str:
                out[name] = item  # the most common field kind, without a call
            else:
                out[name] = convert(item)
    except (KeyError, Fail):
        _walk_checked(value, spec)
        raise
    oneof = spec.oneof
    if len(out) != len(value) or (oneof and len(out) > 1 and sum(out.get(name) is not None for name in oneof) > 1):
        _walk_checked(value, spec)
    return out


def _walk_checked(value: dict[str, Any], spec: Spec) -> None:
    """Walks a message known to be bad, in order, and raises its first error as Go would."""
    fields = spec.fields
    oneof = spec.oneof
    seen: set[str] = set()
    chosen = False
    for key, item in value.items():
        entry = fields.get(key)
        if entry is None:
            raise _at_key(f"unknown field {raw(key)}", key)
        name, convert = entry
        if name in seen:
            raise _at_key(f"duplicate field {raw(key)}", key)
        seen.add(name)
        if item is None:  # null: unset, but the field still counts as seen
            continue
        if name in oneof:
            if chosen:
                raise _at_key(f"error parsing {raw(key)}, oneof {spec.oneof_name} is already set", key)
            chosen = True
        try:
            convert(item)
        except Fail as failure:
            failure.path.append(key)
            raise
    raise AssertionError("the fast walk failed but the checked walk did not")  # pragma: no cover


def message_of(spec: Spec, build: Callable[[dict[str, Any]], Any]) -> Convert:
    def convert(value: Any) -> Any:
        return build(walk(value, spec))

    return convert


def decode_body(body: bytes, spec: Spec) -> dict[str, Any]:
    """Parses a request body and walks its top-level message; raises SigilDecodeError."""
    if not body.strip(_JSON_SPACE):
        # Go reads an EOF token where the message should start.
        line, column = line_column(body.decode("utf-8", "replace"), len(body))
        raise SigilDecodeError(f"proto: syntax error (line {line}:{column}): unexpected token ")
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise syntax_error(body, exc) from None
    try:
        return walk(root, spec)
    except Fail as failure:
        raise positioned(body, failure) from None


# --------------------------------------------------------------------------- error positions

_SNIPPET = re.compile(r'[-+._a-zA-Z0-9]{1,32}|"(?:[^"\\]|\\.)*"?|.', re.DOTALL)
_TOKEN = re.compile(r'[ \t\r\n]*(?:("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^ \t\r\n{}\[\]:,"]+))', re.DOTALL)


def syntax_error(body: bytes, exc: orjson.JSONDecodeError) -> SigilDecodeError:
    """Go's wording for a body orjson could not parse (approximate: see the sigil_json docstring)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as bad:
        # Go reports it at the start of the string holding the bad byte.
        before = body[: max(body.rfind(b'"', 0, bad.start), 0)].decode("utf-8", "replace")
        line, column = line_column(before, len(before))
        return SigilDecodeError(f"proto: syntax error (line {line}:{column}): invalid UTF-8 in string")
    if exc.pos >= len(text.rstrip(" \t\r\n")) or "end of data" in exc.msg:
        return SigilDecodeError("proto: unexpected EOF")
    position = exc.pos
    if "trailing comma" in exc.msg:
        # orjson points at the comma; Go complains about the bracket after it.
        position = len(text) - len(text[position + 1 :].lstrip(" \t\r\n"))
    match = _SNIPPET.match(text, position)
    snippet = match.group(0) if match else ""
    what = "invalid value" if "literal" in exc.msg or "expected a JSON value" in exc.msg else "unexpected token"
    line, column = line_column(text, position)
    return SigilDecodeError(f"proto: syntax error (line {line}:{column}): {what} {snippet}")


def positioned(body: bytes, failure: Fail) -> SigilDecodeError:
    """The decode error for a walk failure, with the ``(line L:C)`` of the offending token."""
    text = body.decode("utf-8")  # orjson accepted it, so it is valid UTF-8
    try:
        position = _locate(text, failure.path[::-1], failure.at_key)
    except (IndexError, ValueError):  # a locator bug must not hide the real error
        position = None
    if position is None:
        where = ""
    else:
        line, column = line_column(text, position)
        where = f" (line {line}:{column})"
    if failure.syntax:
        return SigilDecodeError(f"proto: syntax error{where}: {failure.message}")
    return SigilDecodeError(f"proto:{where}: {failure.message}" if where else f"proto: {failure.message}")


def line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column (in characters, like Go's rune count) of a text offset."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _skip(tokens: list[tuple[int, str]], index: int) -> int:
    """Index of the token after the value starting at ``index``."""
    depth = 0
    while True:
        token = tokens[index][1]
        index += 1
        if token in ("{", "["):
            depth += 1
        elif token in ("}", "]"):
            depth -= 1
        if depth == 0:
            return index


def _locate(text: str, path: list[str | int], at_key: bool) -> int | None:
    """Offset of the value (or key) at ``path`` in a valid JSON text; None if not found.

    Where a key repeats, the last occurrence is the one orjson kept, so it is the one used.
    """
    tokens = [(m.start(m.lastindex or 0), m.group(m.lastindex or 0)) for m in _TOKEN.finditer(text)]
    index = 0
    for depth, step in enumerate(path):
        if index >= len(tokens):
            return None
        opener = tokens[index][1]
        index += 1
        if isinstance(step, int):
            if opener != "[":
                return None
            for _ in range(step):
                index = _skip(tokens, index) + 1  # the value and its comma
        else:
            if opener != "{":
                return None
            found: int | None = None
            while tokens[index][1] != "}":
                if json.loads(tokens[index][1]) == step:
                    found = index
                index = _skip(tokens, index + 2)  # key, colon, value
                if tokens[index][1] == ",":
                    index += 1
            if found is None:
                return None
            if at_key and depth == len(path) - 1:
                return tokens[found][0]
            index = found + 2
    return tokens[index][0] if index < len(tokens) else None
