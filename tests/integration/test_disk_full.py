"""A persistent queue on a filesystem that fills up: clients get 503 + Retry-After (never 500),
the workers survive failed acknowledgements, and delivery resumes once space returns, with every
acknowledged generation delivered.

The test mounts a small tmpfs of its own (root only) and skips, saying why, where it cannot."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import pathlib
import sqlite3
import subprocess
from collections.abc import Iterator

import aiohttp
import grpc
import orjson
import pytest

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

FS_SIZE = "1m"
FILLER_CHUNK = 4096


@pytest.fixture
def small_fs(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: pathlib.Path) -> pathlib.Path:
    """Writes a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(b"\0" * FILLER_CHUNK)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


def _body(prefix: str, n: int) -> bytes:
    gens = [
        {
            "id": f"{prefix}-{i}",
            "model": {"provider": "openai", "name": "gpt-4o"},
            "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": "x" * 2000}]}],
        }
        for i in range(n)
    ]
    return orjson.dumps({"generations": gens})


async def _post(session: aiohttp.ClientSession, port: int, body: bytes) -> tuple[int, str | None]:
    async with session.post(f"http://127.0.0.1:{port}/api/v1/generations:export", data=body) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def test_disk_full_answers_503_and_resumes_without_loss(
    small_fs: pathlib.Path, start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    # The backend refuses at first, so batches sit in the queue and are sent (and their rows
    # deleted) only once the disk is already full.
    backend_up = asyncio.Event()
    sigil_backend.grpc_status = lambda i: None if backend_up.is_set() else grpc.StatusCode.UNAVAILABLE
    storage = small_fs / "queue"
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "0s"},
                    "sending_queue": {"num_consumers": 2, "queue_size": 10_000, "storage": str(storage)},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
    )
    port = http_port(service)
    acknowledged: list[str] = []
    refused: list[tuple[int, str | None]] = []
    n = 0
    async with aiohttp.ClientSession() as session:

        async def post(count: int) -> int:
            nonlocal n
            n += 1
            status, retry_after = await _post(session, port, _body(f"b{n}", count))
            if status == 202:
                acknowledged.extend(f"b{n}-{i}" for i in range(count))
            else:
                refused.append((status, retry_after))
            return status

        for _ in range(5):
            assert await post(3) == 202
        filler = fill(small_fs)
        # Writes fail now; SQLite may still fit a few into pages it already holds.
        for _ in range(200):
            if await post(3) != 202:
                break
        assert refused, "the full disk never refused a batch"
        backend_up.set()  # the workers send and try to acknowledge on the full disk
        await sigil_backend.wait_for(15, timeout=20)
        for _ in range(20):
            await post(3)
        registry = service.telemetry.registry
        ack_errors = registry.get_sample_value(
            "gateway_exporter_queue_errors_total", {"exporter": "sigil", "operation": "ack"}
        )
        assert ack_errors, "no acknowledgement failed on the full disk"
        assert {status for status, _ in refused} == {503}
        assert all(retry_after is not None and float(retry_after) > 0 for _, retry_after in refused)
        metrics = service.telemetry.exposition().decode()
        assert 'gateway_exporter_queue_errors_total{exporter="sigil",operation="put"}' in metrics

        filler.unlink()  # space returns: intake and delivery resume without a restart
        for _ in range(5):
            assert await post(3) == 202

    await sigil_backend.wait_for(len(acknowledged), timeout=20)
    delivered = [g.id for g in sigil_backend.generations()]
    assert set(acknowledged) <= set(delivered)
    assert len(delivered) == len(set(delivered))  # a failed acknowledgement is not a resend
    restarts = registry.get_sample_value("gateway_exporter_worker_restarts_total", {"exporter": "sigil"})
    assert restarts is None  # no worker ever failed
    # The acknowledgements that failed were written once space returned: nothing is sent twice
    # after a restart either.
    for _ in range(100):
        with contextlib.closing(sqlite3.connect(storage / "sigil.sqlite")) as db:
            if db.execute("SELECT COUNT(*) FROM queue").fetchone()[0] == 0:
                break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("acknowledged rows stayed in the queue after space returned")
