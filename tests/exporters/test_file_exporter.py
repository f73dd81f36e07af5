"""The file exporter's rotation: by size, by age, bounded backups, optional gzip."""

from __future__ import annotations

import asyncio
import gzip
import pathlib

import orjson

from gateway.component import ComponentId, CreateSettings
from gateway.exporters.file import FileExporter, FileExporterConfig, RotationConfig
from gateway.model import Batch, Context, Kind, Record
from gateway.telemetry import Telemetry
from gateway.units import ByteSize, Duration


def generation_record(gen_id: str) -> Record:
    return Record(kind=Kind.LLM, id=gen_id, name="chat", start_ns=1, end_ns=2)


def _exporter(path: pathlib.Path, rotation: RotationConfig) -> FileExporter:
    cfg = FileExporterConfig(path=str(path), rotation=rotation)
    return FileExporter(CreateSettings(id=ComponentId("file"), telemetry=Telemetry()), cfg)


def _ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["id"] for line in lines if line]


async def _write_all(exporter: FileExporter, n: int) -> None:
    await exporter.start()
    for i in range(n):
        await exporter.consume(Batch(records=[generation_record(f"g{i:03d}")], context=Context()))
    await exporter.shutdown()


async def test_size_rotation_keeps_every_line_in_bounded_gzipped_backups(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "out" / "generations.jsonl"
    rotation = RotationConfig(max_size=ByteSize(4096), max_backups=3, compression="gzip")
    await _write_all(_exporter(path, rotation), 60)
    backups = sorted((tmp_path / "out").glob("generations-*.jsonl.gz"))
    assert len(backups) == 3  # older ones deleted
    assert path.stat().st_size <= 4096
    kept = [line for b in backups for line in gzip.decompress(b.read_bytes()).splitlines()]
    ids = _ids(kept) + _ids(path.read_bytes().splitlines())
    assert ids == [f"g{i:03d}" for i in range(60)][-len(ids) :]  # in order, nothing lost in between
    for b in backups:
        assert len(gzip.decompress(b.read_bytes())) <= 4096


async def test_age_rotation(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "g.jsonl"
    exporter = _exporter(path, RotationConfig(max_age=Duration(3600), max_backups=0))
    await exporter.start()
    await exporter.consume(Batch(records=[generation_record("a")], context=Context()))
    while exporter._opened_at is None:  # the queue's writer has written it
        await asyncio.sleep(0.01)
    exporter._opened_at -= 7200  # as if written for two hours
    await exporter.consume(Batch(records=[generation_record("g000")], context=Context()))
    await exporter.shutdown()
    (backup,) = tmp_path.glob("g-*.jsonl")
    assert _ids(backup.read_bytes().splitlines()) == ["a"]
    assert _ids(path.read_bytes().splitlines()) == ["g000"]


async def test_no_rotation_by_default(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "g.jsonl"
    await _write_all(_exporter(path, RotationConfig()), 30)
    assert [p.name for p in tmp_path.iterdir()] == ["g.jsonl"]
