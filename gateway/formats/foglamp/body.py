"""Reading an ingest body as Foglamp does: ``JSON.parse`` of the body decoded by ``TextDecoder``.

That is more lenient than a strict UTF-8 JSON parser in two ways a real client relies on: the
Foglamp SDK cuts long strings by UTF-16 length, so a cut inside an emoji leaves a lone surrogate
escape (``"\\ud83d"``), which ``JSON.parse`` accepts; and bytes that are not UTF-8 become U+FFFD.
Refusing such a body (400) loses the whole batch, since the SDK does not retry a 400. Lone
surrogates become U+FFFD here, as they do when Foglamp encodes the string to store it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_BOM = "\ufeff"


def loads(body: bytes) -> Any:
    """The parsed body; raises ValueError where ``JSON.parse`` would throw."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the slow path: only bodies the strict parser refuses
    text = body.decode("utf-8", "replace").removeprefix(_BOM)  # TextDecoder drops a leading BOM
    obj = json.loads(text, parse_constant=_no_constant)
    return _scrub(obj)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse has no NaN or Infinity


def _scrub_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {_scrub_text(k): _scrub(v) for k, v in value.items()}
    return value
