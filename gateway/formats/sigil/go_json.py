"""Go's ``encoding/json``, as the Sigil server's plain-JSON handlers use it (scores, ratings).

Decoding follows ``json.NewDecoder(body)`` with ``DisallowUnknownFields`` into a struct: keys
match fields case-insensitively, a repeated key overwrites (a repeated object merges), ``null``
leaves a field as it was (pointers and maps become nil), only the first JSON value is read, and
a type mismatch or unknown key anywhere fails the whole body. A struct is described by a spec,
``{json name: STRING | BOOL | NUMBER | MAP | TIME | nested spec}``.

:func:`dumps` writes as ``json.Marshal`` does: struct fields in order, map keys sorted,
HTML-safe escaping, and Go's shortest float formatting.
"""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

from gateway.formats.sigil.protojson import Fail, as_timestamp

STRING, BOOL, NUMBER, MAP, TIME = "string", "bool", "number", "map", "time"


class InvalidBody(ValueError):
    """The body does not decode into the Go struct (the server's 400 ``invalid request body``)."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object as parsed, duplicate keys kept in order."""


def _reject_constant(name: str) -> Any:
    raise InvalidBody(f"invalid JSON constant {name}")


_DECODER = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=_reject_constant)


def first_value(body: bytes) -> tuple[bool, Any]:
    """(found, value) of the first JSON value in ``body``, as ``json.Decoder.Decode`` reads it."""
    text = body.decode("utf-8", "replace")  # Go replaces invalid UTF-8 with U+FFFD
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        return False, None
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidBody(str(exc)) from None
    return True, value


def decode_struct(raw: Any, spec: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    if raw is None:
        return into
    if not isinstance(raw, Pairs):
        raise InvalidBody("expected an object")
    lowered = {name.lower(): name for name in spec}
    for key, value in raw:
        name = key if key in spec else lowered.get(key.lower())
        if name is None:
            raise InvalidBody(f"unknown field {key!r}")
        into[name] = _field(spec[name], value, into.get(name))
    return into


def _field(kind: Any, value: Any, current: Any) -> Any:
    if isinstance(kind, dict):
        return decode_struct(value, kind, current if current is not None else {})
    if value is None:
        # Pointers and maps become nil; strings and times keep what they had.
        return None if kind in (BOOL, NUMBER, MAP) else current
    if kind == STRING and isinstance(value, str):
        return value
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind == NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise InvalidBody("number out of range")
        return float(value)
    if kind == MAP and isinstance(value, Pairs):
        merged = dict(current or {})
        merged.update((k, _plain(v)) for k, v in value)
        return merged
    if kind == TIME and isinstance(value, str):
        try:
            return as_timestamp(value)
        except Fail as exc:
            raise InvalidBody(str(exc)) from None
    raise InvalidBody(f"cannot decode {type(value).__name__} into a {kind}")


def _plain(value: Any) -> Any:
    if isinstance(value, Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- json.Marshal ---------------------------------------------------------------------------


def dumps(value: Any, *, is_map: bool = False) -> str:
    """Compact JSON as Go marshals it: HTML-safe string escaping, Go's float formatting, and
    dicts in insertion order as struct fields, except maps (``is_map``, and every ``metadata``
    value with whatever it holds), whose keys Go sorts."""
    return _go(value, sort=is_map)


def _go(value: Any, *, sort: bool) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, int):
        return _go_float(float(value))
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        keys = sorted(value) if sort else list(value)
        # Everything under "metadata" is a Go map[string]any: keys sorted at every depth.
        inner = [f"{_go_string(str(k))}:{_go(value[k], sort=sort or k == 'metadata')}" for k in keys]
        return "{" + ",".join(inner) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go(v, sort=sort) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def _go_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        out = out.replace(raw, escaped)
    return out


def _go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'f' or 'e', -1, 64) as encoding/json picks: 'e' outside
    [1e-6, 1e21), with at least two exponent digits."""
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digits, exponent = decimal.Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if exp10 < -6 or exp10 >= 21:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exponent >= 0:
        return prefix + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{prefix}{text[:point]}.{text[point:]}"
    return f"{prefix}0.{'0' * -point}{text}"
