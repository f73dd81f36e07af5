"""Validation at the door: what no exporter could write is refused with a 4xx before it is
acknowledged (it used to be answered 2xx, then dropped by the file exporter, or 500 by a
persistent queue after other exporters had taken the batch)."""

from __future__ import annotations

import pathlib

import aiohttp
import orjson
import pytest

from gateway.model import Record
from gateway.receivers._common import MAX_TIMESTAMP_NS, MIN_TIMESTAMP_NS, timestamp_problem
from tests.conftest import StartGateway, http_port


def _generation(gid: str, started_at: str) -> dict[str, object]:
    return {"id": gid, "model": {"provider": "openai", "name": "gpt-4o"}, "started_at": started_at}


@pytest.mark.parametrize("storage", [False, True])
async def test_timestamp_past_2262_is_refused_not_acknowledged(
    start_gateway: StartGateway, tmp_path: pathlib.Path, storage: bool
) -> None:
    out = tmp_path / "out.jsonl"
    exporter: dict[str, object] = {"path": str(out)}
    if storage:
        exporter["sending_queue"] = {"storage": str(tmp_path / "queue")}
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {"file": exporter},
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["file"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    body = orjson.dumps(
        {"generations": [_generation("ok", "2026-01-01T00:00:00Z"), _generation("far", "3000-01-01T00:00:00Z")]}
    )
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as resp:
        text = await resp.text()
        assert resp.status == 400, text
    assert "start time of 'far' is outside the range" in text
    labels = {"receiver": "sigil", "transport": "http", "reason": "bad_input"}
    assert service.telemetry.registry.get_sample_value("gateway_receiver_refused_records_total", labels) == 2
    assert not out.exists()


def test_range_edges() -> None:
    assert timestamp_problem([Record(id="a", start_ns=MIN_TIMESTAMP_NS, end_ns=MAX_TIMESTAMP_NS)], None, None) is None
    assert timestamp_problem([Record(id="a", end_ns=MAX_TIMESTAMP_NS + 1)], None, None) == (
        "end time of 'a' is outside the range the gateway can store and send "
        "(1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z)"
    )
    assert timestamp_problem([Record(start_ns=MIN_TIMESTAMP_NS - 1)], None, None) is not None
