"""The dead-letter store: batches a backend refuses for good, or an exporter cannot write, are kept
with the reason and counted; ``gateway replay`` sends them again once the cause is fixed."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
import yaml

from gateway.exporters import _dead_letter
from gateway.exporters._dead_letter import DeadLetter, DeadLetterConfig
from gateway.model import Batch, Context, Record
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend
from tests.jsonl import wait_for_lines
from tests.process import ROOT


def _body(prefix: str, n: int) -> bytes:
    gens = [{"id": f"{prefix}-{i}", "model": {"provider": "openai", "name": "gpt-4o"}} for i in range(n)]
    return orjson.dumps({"generations": gens})


async def _post(port: int, body: bytes) -> int:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"http://127.0.0.1:{port}/api/v1/generations:export", data=body) as resp,
    ):
        await resp.read()
        return resp.status


def _config(backend: FakeSigilBackend, dead: pathlib.Path) -> dict[str, Any]:
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
        "exporters": {
            "sigil": {
                "endpoint": f"http://127.0.0.1:{backend.grpc_port}",
                "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "1s"},
                "dead_letter": {"path": str(dead)},
            }
        },
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
    }


async def _replay(config: pathlib.Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "replay",
        "--config",
        str(config),
        "--exporter",
        "sigil",
        *extra,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_refused_batches_are_dead_lettered_then_replayed(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    dead = tmp_path / "dead" / "sigil.jsonl"
    # The backend refuses the first batch for good and is down for the second past its retries.
    sigil_backend.grpc_status = lambda i: grpc.StatusCode.INVALID_ARGUMENT if i == 0 else grpc.StatusCode.UNAVAILABLE
    service = await start_gateway(_config(sigil_backend, dead))
    port = http_port(service)
    assert await _post(port, _body("bad", 3)) == 202
    first = await wait_for_lines(dead, 1)
    assert await _post(port, _body("late", 2)) == 202
    entries = await wait_for_lines(dead, 2)
    assert [(e["reason"], e["records"], e["exporter"]) for e in entries] == [
        ("permanent", 3, "sigil"),
        ("retries_exhausted", 2, "sigil"),
    ]
    assert "INVALID_ARGUMENT" in first[0]["error"]
    registry = service.telemetry.registry
    for reason, n in (("permanent", 3), ("retries_exhausted", 2)):
        labels = {"exporter": "sigil", "reason": reason}
        assert registry.get_sample_value("gateway_exporter_dead_letter_records_total", labels) == n
    assert sigil_backend.generations() == []

    # The backend is fixed: replay sends both batches and empties the store.
    sigil_backend.grpc_status = lambda i: None
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(_config(sigil_backend, dead)))
    code, out = await _replay(config)
    assert code == 0, out
    assert "replayed 2 entries (5 records): 5 sent, 0 failed again" in out
    assert sorted(g.id for g in sigil_backend.generations()) == ["bad-0", "bad-1", "bad-2", "late-0", "late-1"]
    assert not dead.exists()
    assert list(dead.parent.iterdir()) == []  # the aside copy is gone too


async def test_replay_that_fails_again_keeps_the_entries(
    sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    dead = tmp_path / "sigil.jsonl"
    batch = Batch([Record(id="g-1"), Record(id="g-2")], Context(receiver="sigil", tenant="t"))
    assert (
        DeadLetter(DeadLetterConfig(path=str(dead)), "sigil").write(
            batch, reason="permanent", error="HTTP 400", parts=1, parts_sent=0
        )
        == ""
    )
    sigil_backend.grpc_status = lambda i: grpc.StatusCode.INVALID_ARGUMENT
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(_config(sigil_backend, dead)))
    code, out = await _replay(config)
    assert code == 2, out
    assert "2 failed again (back in" in out
    [entry] = list(_dead_letter.read(str(dead)))
    assert [r.id for r in entry.batch.records] == ["g-1", "g-2"]
    assert entry.batch.context.tenant == "t"


async def test_replay_names_a_wrong_exporter(tmp_path: pathlib.Path, sigil_backend: FakeSigilBackend) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(_config(sigil_backend, tmp_path / "d.jsonl")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "replay", "--config", str(config), "--exporter", "otlp/x", cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert "no exporter 'otlp/x' in the config (exporters: sigil)" in err.decode()


def test_dead_letter_file_is_capped(tmp_path: pathlib.Path) -> None:
    batch = Batch([Record(id="x" * 300)], Context())
    probe = tmp_path / "probe.jsonl"
    DeadLetter(DeadLetterConfig(path=str(probe)), "e").write(batch, reason="permanent", error="", parts=1, parts_sent=0)
    one = probe.stat().st_size
    dead = tmp_path / "d.jsonl"
    store = DeadLetter(DeadLetterConfig(path=str(dead), max_bytes=one + one // 2), "e")
    assert store.write(batch, reason="permanent", error="", parts=1, parts_sent=0) == ""
    assert store.write(batch, reason="permanent", error="", parts=1, parts_sent=0) == "dead_letter_full"
    assert len(list(_dead_letter.read(str(dead)))) == 1


def test_bad_line_is_named(tmp_path: pathlib.Path) -> None:
    dead = tmp_path / "d.jsonl"
    dead.write_text('{"reason": "permanent"}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:1: not a dead-letter entry"):
        list(_dead_letter.read(str(dead)))
