"""Foglamp's v1 ingest contract, checked the way its zod v4 schema checks it.

The Foglamp server answers a bad body with ``400 {"error":"invalid payload","issues":[...]}``; a
drop-in receiver must reject the same bodies with the same issues. This module reproduces the
contract (wire fact sheet ``foglamp.md`` §4) together with the parts of zod v4's behaviour that decide
*which* issues appear and in what order:

* Objects are checked field by field in schema order, then unknown keys are reported as one
  ``unrecognized_keys`` issue on the object; arrays element by element, then their length.
* Type errors (``invalid_type``, ``invalid_value``, ``unrecognized_keys``, ``invalid_key``)
  *abort* the enclosing schema: its length checks and refinements do not run. Size and range
  errors (``too_big``, ``too_small``, ``invalid_format``, ``custom``) do not. So a trace whose span
  has a wrong type gets no "Either traceName or agentName" issue, but one whose span name is too
  long does.
* String lengths are JavaScript lengths (UTF-16 code units), object keys are visited in
  JavaScript order (array-index keys first, ascending), and integers are "safe" integers.
* Messages are zod v4's English ones (``Invalid input: expected string, received number``,
  ``Too big: expected array to have <=1000 items``) and the contract's own custom messages.

Issues are plain ``{"code", "path", "message"}`` dicts with full paths from the body's root.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.formats.foglamp import url

MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_TRACES: Final = 1000
MAX_SPANS_PER_TRACE: Final = 2000
MAX_PAYLOAD_CHARS: Final = 1_000_000
METADATA_MAX_KEYS: Final = 64
METADATA_MAX_KEY_CHARS: Final = 128
METADATA_MAX_VALUE_CHARS: Final = 1024

SPAN_TYPES: Final = ("agent", "llm", "tool", "embedding", "other")
SPAN_STATUSES: Final = ("ok", "error", "aborted")

MSG_NAME_REQUIRED: Final = "Either traceName or agentName must be provided"
MSG_WORKFLOW_TOGETHER: Final = "workflowName and workflowRunId must be provided together"
MSG_END_BEFORE_START: Final = "endTime must be >= startTime"
MSG_METADATA_KEYS: Final = "metadata may have at most 64 keys"

Path = tuple[str | int, ...]
Issue = dict[str, Any]


class _Missing:
    """A key absent from its object: what zod sees as ``undefined``."""

    __slots__ = ()


MISSING: Final = _Missing()


class Issues:
    """Collected issues plus, per issue, whether zod would keep checking the parent."""

    __slots__ = ("_continues", "items")

    def __init__(self) -> None:
        self.items: list[Issue] = []
        self._continues: list[bool] = []

    def add(self, code: str, path: Path, message: str, *, cont: bool) -> None:
        self.items.append({"code": code, "path": list(path), "message": message})
        self._continues.append(cont)

    def truncate(self, length: int) -> None:
        del self.items[length:]
        del self._continues[length:]

    def aborted_since(self, start: int) -> bool:
        return not all(self._continues[start:])

    def __len__(self) -> int:
        return len(self.items)


Check = Callable[[Issues, object, Path], None]


def js_len(s: str) -> int:
    """Length in UTF-16 code units, as JavaScript's ``String.length``."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1


def js_keys(obj: Mapping[str, object]) -> list[str]:
    """``Object.keys`` order: integer-like keys first, ascending, then insertion order."""
    keys = list(obj)
    indexes = [k for k in keys if _is_array_index(k)]
    if not indexes:
        return keys
    indexes.sort(key=int)
    return indexes + [k for k in keys if not _is_array_index(k)]


def _received(value: object) -> str:
    # zod v4's `parsedType`, applied to what a JSON parser can produce.
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "NaN" if value != value else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(issues: Issues, expected: str, value: object, path: Path) -> None:
    issues.add("invalid_type", path, f"Invalid input: expected {expected}, received {_received(value)}", cont=False)


def check_string(issues: Issues, value: object, path: Path, min_len: int = 0, max_len: int | None = None) -> None:
    if not isinstance(value, str):
        _invalid_type(issues, "string", value, path)
        return
    n = js_len(value)
    if n < min_len:
        issues.add("too_small", path, f"Too small: expected string to have >={min_len} characters", cont=True)
    if max_len is not None and n > max_len:
        issues.add("too_big", path, f"Too big: expected string to have <={max_len} characters", cont=True)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_number(issues: Issues, value: object, path: Path, *, integer: bool) -> None:
    """``z.number()[.int()].nonnegative()``."""
    if not is_number(value):
        _invalid_type(issues, "number", value, path)
        return
    assert isinstance(value, int | float)
    if integer:
        if isinstance(value, float) and not value.is_integer():
            issues.add("invalid_type", path, "Invalid input: expected int, received number", cont=False)
            return
        if value > MAX_SAFE_INTEGER:
            issues.add("too_big", path, f"Too big: expected int to be <={MAX_SAFE_INTEGER}", cont=True)
        elif value < -MAX_SAFE_INTEGER:
            issues.add("too_small", path, f"Too small: expected int to be >={-MAX_SAFE_INTEGER}", cont=True)
    if value < 0:
        issues.add("too_small", path, "Too small: expected number to be >=0", cont=True)


def _check_enum(values: tuple[str, ...]) -> Check:
    message = "Invalid option: expected one of " + "|".join(f'"{v}"' for v in values)

    def check(issues: Issues, value: object, path: Path) -> None:
        if not isinstance(value, str) or value not in values:
            issues.add("invalid_value", path, message, cont=False)

    return check


def _check_literal_v1(issues: Issues, value: object, path: Path) -> None:
    if value != "v1" or not isinstance(value, str):
        issues.add("invalid_value", path, 'Invalid input: expected "v1"', cont=False)


def _string(min_len: int = 0, max_len: int | None = None) -> Check:
    def check(issues: Issues, value: object, path: Path) -> None:
        check_string(issues, value, path, min_len, max_len)

    return check


def _int(issues: Issues, value: object, path: Path) -> None:
    check_number(issues, value, path, integer=True)


def _float(issues: Issues, value: object, path: Path) -> None:
    check_number(issues, value, path, integer=False)


def _int_array(issues: Issues, value: object, path: Path) -> None:
    _check_array(issues, value, path, _int, 0, 200)


def _check_array(issues: Issues, value: object, path: Path, item: Check, min_items: int, max_items: int) -> None:
    if not isinstance(value, list):
        _invalid_type(issues, "array", value, path)
        return
    start = len(issues)
    for i, element in enumerate(value):
        item(issues, element, (*path, i))
    if issues.aborted_since(start):
        return
    if len(value) < min_items:
        issues.add("too_small", path, f"Too small: expected array to have >={min_items} items", cont=True)
    if len(value) > max_items:
        issues.add("too_big", path, f"Too big: expected array to have <={max_items} items", cont=True)


def check_metadata(issues: Issues, value: object, path: Path) -> None:
    """``z.record(z.string().max(128), z.string().max(1024))`` refined to at most 64 keys."""
    if not isinstance(value, dict):
        _invalid_type(issues, "record", value, path)
        return
    if len(value) <= METADATA_MAX_KEYS and all(
        isinstance(v, str) and js_len(k) <= METADATA_MAX_KEY_CHARS and js_len(v) <= METADATA_MAX_VALUE_CHARS
        for k, v in value.items()
    ):
        return  # the common, valid map: no need for JavaScript key order
    start = len(issues)
    for key in js_keys(value):
        if js_len(key) > METADATA_MAX_KEY_CHARS:
            issues.add("invalid_key", (*path, key), "Invalid key in record", cont=False)
            continue
        check_string(issues, value[key], (*path, key), 0, METADATA_MAX_VALUE_CHARS)
    if not issues.aborted_since(start) and len(value) > METADATA_MAX_KEYS:
        issues.add("custom", path, MSG_METADATA_KEYS, cont=True)


is_url = url.is_url  # what zod's url() accepts (see gateway/formats/foglamp/url.py)


def _check_url(issues: Issues, value: object, path: Path) -> None:
    # `z.string().url().max(2048)`: zod trims before parsing the URL and checks the trimmed length.
    if not isinstance(value, str):
        _invalid_type(issues, "string", value, path)
        return
    trimmed = url.js_trim(value)
    if is_url(trimmed):
        value = trimmed
    else:
        issues.add("invalid_format", path, "Invalid URL", cont=True)
    if js_len(value) > 2048:
        issues.add("too_big", path, "Too big: expected string to have <=2048 characters", cont=True)


Field = tuple[str, Check, bool]  # name, check, required


@dataclass(frozen=True, slots=True)
class _Shape:
    fields: tuple[Field, ...]  # in declaration order, the order zod reports issues in
    known: frozenset[str]
    required: frozenset[str]
    checks: Mapping[str, Check]


def _shape(fields: tuple[Field, ...]) -> _Shape:
    return _Shape(
        fields=fields,
        known=frozenset(name for name, _, _ in fields),
        required=frozenset(name for name, _, required in fields if required),
        checks={name: check for name, check, _ in fields},
    )


def _check_object(issues: Issues, value: object, path: Path, shape: _Shape) -> bool:
    """A strict object; returns False when ``value`` is not an object at all."""
    if not isinstance(value, dict):
        _invalid_type(issues, "object", value, path)
        return False
    start = len(issues)
    keys = value.keys()
    if shape.required <= keys and keys <= shape.known:
        # Fast path for the common, valid object: visit only the keys present. Issue order needs
        # the declaration order, so any issue sends the object through the exact path below.
        for name, field_value in value.items():
            shape.checks[name](issues, field_value, (*path, name))
        if len(issues) == start:
            return True
        issues.truncate(start)
    for name, check, required in shape.fields:
        field_value = value.get(name, MISSING)
        if field_value is MISSING and not required:
            continue
        check(issues, field_value, (*path, name))
    unknown = [key for key in js_keys(value) if key not in shape.known]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        listed = ", ".join(f'"{key}"' for key in unknown)
        issues.add("unrecognized_keys", path, f"Unrecognized key{plural}: {listed}", cont=False)
    return True


def _strict(fields: tuple[Field, ...]) -> Check:
    shape = _shape(fields)

    def check(issues: Issues, value: object, path: Path) -> None:
        _check_object(issues, value, path, shape)

    return check


_USAGE_FIELDS: Final = (
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "reasoningTokens",
    "cachedInputTokens",
    "cacheWriteInputTokens",
    "imageCount",
    "webSearchCount",
    "requestCount",
)
_RATE_LIMIT_FIELDS: Final = (
    "requestsLimit",
    "requestsRemaining",
    "requestsResetMs",
    "tokensLimit",
    "tokensRemaining",
    "tokensResetMs",
)
_JITTER_FIELDS: Final = ("min", "p10", "median", "avg", "p90", "max")

check_usage: Final = _strict(tuple((name, _int, False) for name in _USAGE_FIELDS))
check_rate_limit: Final = _strict(tuple((name, _int, False) for name in _RATE_LIMIT_FIELDS))
check_chunk_jitter: Final = _strict(tuple((name, _float, True) for name in _JITTER_FIELDS))
check_customer: Final = _strict(
    (("id", _string(1, 128), True), ("name", _string(0, 256), False), ("imageUrl", _check_url, False))
)

# Span fields in the contract's declaration order, which is the order zod reports them in.
SPAN_FIELDS: Final[tuple[Field, ...]] = (
    ("spanId", _string(1, 128), True),
    ("parentSpanId", _string(1, 128), False),
    ("spanType", _check_enum(SPAN_TYPES), True),
    ("name", _string(0, 512), True),
    ("startTime", _int, True),
    ("endTime", _int, True),
    ("status", _check_enum(SPAN_STATUSES), False),  # `.default("ok")`
    ("errorMessage", _string(0, 8192), False),
    ("provider", _string(0, 128), False),
    ("modelId", _string(0, 256), False),
    ("usage", check_usage, False),
    ("ttftMs", _float, False),
    ("chunkOffsets", _int_array, False),
    ("chunkTokens", _int_array, False),
    ("reasoningOffsets", _int_array, False),
    ("reasoningChunkTokens", _int_array, False),
    ("reasoningDurationMs", _int, False),
    ("input", _string(0, MAX_PAYLOAD_CHARS), False),
    ("output", _string(0, MAX_PAYLOAD_CHARS), False),
    ("toolCatalog", _string(0, MAX_PAYLOAD_CHARS), False),
    ("modelCallMs", _int, False),
    ("responseTimeMs", _int, False),
    ("effectiveOutputTps", _float, False),
    ("effectiveTotalTps", _float, False),
    ("outputTps", _float, False),
    ("inputTps", _float, False),
    ("chunkJitter", check_chunk_jitter, False),
    ("systemFingerprint", _string(0, 256), False),
    ("safetyMetadata", _string(0, 16_384), False),
    ("sources", _string(0, MAX_PAYLOAD_CHARS), False),
    ("rateLimit", check_rate_limit, False),
    ("metadata", check_metadata, False),
)
_SPAN: Final = _shape(SPAN_FIELDS)
SPAN_CHECKS: Final = _SPAN.checks

TRACE_FIELDS: Final[tuple[Field, ...]] = (
    ("traceId", _string(1, 128), True),
    ("traceName", _string(0, 256), False),
    ("agentName", _string(0, 256), False),
    ("workflowName", _string(0, 256), False),
    ("workflowRunId", _string(0, 128), False),
    ("sessionId", _string(0, 128), False),
    ("customer", check_customer, False),
    ("metadata", check_metadata, False),
    (
        "spans",
        lambda issues, value, path: _check_array(issues, value, path, _check_span, 1, MAX_SPANS_PER_TRACE),
        True,
    ),
)
_TRACE: Final = _shape(TRACE_FIELDS)


def _check_span(issues: Issues, value: object, path: Path) -> None:
    start = len(issues)
    if not _check_object(issues, value, path, _SPAN) or issues.aborted_since(start):
        return
    assert isinstance(value, dict)
    if value["endTime"] < value["startTime"]:
        issues.add("custom", (*path, "endTime"), MSG_END_BEFORE_START, cont=True)


def _check_trace(issues: Issues, value: object, path: Path) -> None:
    start = len(issues)
    if not _check_object(issues, value, path, _TRACE) or issues.aborted_since(start):
        return
    assert isinstance(value, dict)
    # JavaScript truthiness: an empty string counts as missing.
    if not value.get("traceName") and not value.get("agentName"):
        issues.add("custom", (*path, "traceName"), MSG_NAME_REQUIRED, cont=True)
    if bool(value.get("workflowName")) != bool(value.get("workflowRunId")):
        issues.add("custom", (*path, "workflowRunId"), MSG_WORKFLOW_TOGETHER, cont=True)


_PAYLOAD_FIELDS: Final[tuple[Field, ...]] = (
    ("version", _check_literal_v1, True),
    (
        "traces",
        lambda issues, value, path: _check_array(issues, value, path, _check_trace, 1, MAX_TRACES),
        True,
    ),
)
_PAYLOAD: Final = _shape(_PAYLOAD_FIELDS)


def validate_payload(body: object) -> list[Issue]:
    """Every issue the contract finds in ``body`` (a parsed JSON value), in zod's order."""
    issues = Issues()
    _check_object(issues, body, (), _PAYLOAD)
    return issues.items


def span_field_issues(name: str, value: object) -> list[Issue]:
    """Issues of one span field checked alone (the encoder uses it to vet pass-through values)."""
    issues = Issues()
    SPAN_CHECKS[name](issues, value, (name,))
    return issues.items
