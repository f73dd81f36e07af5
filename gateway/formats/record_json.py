"""The canonical record as JSON: the file exporter's default format and `convert`'s `record`.

Bytes fields are standard base64; enums are their string values; ``None`` fields are kept so
the shape is stable. Bytes inside ``extra`` (whose values are untyped, so a base64 string could
not be told from a string) are written as ``{"$bytes": "<base64>"}``. :func:`from_dict` is the
exact inverse of :func:`to_dict`.
"""

from __future__ import annotations

import base64
import dataclasses
import types
import typing
from typing import Any

import orjson

from gateway.formats import Format, LineStats, record_proto
from gateway.formats.report import EncodeReport
from gateway.model import Record

_T = typing.TypeVar("_T")


def _default(obj: object) -> object:
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"cannot encode {type(obj).__name__}")


_BYTES_TAG = "$bytes"


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    return False


def _tag_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _tag_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag_bytes(v) for v in value]
    return value


def _untag_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(tagged := value.get(_BYTES_TAG), str):
            return base64.b64decode(tagged)
        return {k: _untag_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_bytes(v) for v in value]
    return value


def _serializable(record: Record) -> Record:
    if record.extra and _has_bytes(record.extra):
        return dataclasses.replace(record, extra=_tag_bytes(record.extra))
    return record


def dumps(record: Record) -> bytes:
    """One record as compact JSON (orjson serialises slotted dataclasses natively)."""
    return orjson.dumps(_serializable(record), default=_default)


def dumps_lines(records: list[Record]) -> bytes:
    return b"".join(orjson.dumps(_serializable(r), default=_default) + b"\n" for r in records)


def to_dict(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(dumps(record))
    return out


def from_dict(data: dict[str, Any]) -> Record:
    record: Record = _build(Record, data)
    if record.extra:
        record.extra = _untag_bytes(record.extra)
    return record


def build(cls: type[_T], data: dict[str, Any]) -> _T:
    """Any model dataclass (Score, Rating, ...) from the dict orjson made of it."""
    out: _T = _build(cls, data)
    return out


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _value(hints[f.name], data[f.name])
    return cls(**kwargs)


def _value(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value)
    if origin is list:
        return [_value(args[0], v) for v in value]
    if origin is dict:
        return {k: _value(args[1], v) for k, v in value.items()}
    if tp is bytes:
        return base64.b64decode(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value)
    if isinstance(tp, type) and issubclass(tp, str) and tp is not str:
        return tp(value)  # StrEnum
    return value


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    return [from_dict(orjson.loads(line))]


def _write_lines(records: list[Record], report: EncodeReport) -> list[bytes]:
    report.records_in += len(records)
    report.records_out += len(records)
    return [dumps(r) for r in records]


FORMAT = Format(
    name="record",
    description="the canonical record as JSON, one per line (lossless)",
    line_reader=_read_line,
    line_writer=lambda: _write_lines,
    carries_all=True,
    message_codec=record_proto.MESSAGES,
)
