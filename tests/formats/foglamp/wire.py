"""Builders of Foglamp ingest bodies shared by the decode and encode tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.formats.foglamp import FoglampValidationError, decode_ingest

TESTDATA = Path(__file__).parent.parent.parent / "testdata" / "foglamp"
T0_MS = 1_776_679_200_000  # 2026-04-20T10:00:00Z
_DELETE = object()


def load(name: str) -> Any:
    return orjson.loads((TESTDATA / name).read_bytes())


def span(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spanId": "s1",
        "spanType": "llm",
        "name": "step",
        "startTime": T0_MS,
        "endTime": T0_MS + 5,
    }
    return _apply(out, changes)


def trace(spans: list[dict[str, Any]] | None = None, /, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": "t1",
        "traceName": "demo",
        "spans": spans if spans is not None else [span()],
    }
    return _apply(out, changes)


def payload(traces: Any = None, /, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"version": "v1", "traces": traces if traces is not None else [trace()]}
    return _apply(out, changes)


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if value is _DELETE:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def issues_of(body: object) -> list[tuple[str, list[Any], str]]:
    with pytest.raises(FoglampValidationError) as info:
        decode_ingest(body)
    return [(i["code"], i["path"], i["message"]) for i in info.value.issues]


def via_wire(body: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(body))
