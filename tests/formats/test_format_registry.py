"""A fifth format is its own package plus one registration: a tiny test-only format, registered
from the test, is picked up by every place the core looks formats up (convert, the file
exporter, the persistent queue's native decoders, the content processor, exporters' reserved
records) without any change outside it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import formats
from gateway.config import load
from gateway.convert import convert, convertible
from gateway.errors import BadInput, ConfigError
from gateway.exporters._queue import decode_batch, encode_batch
from gateway.formats import Format, LineStats
from gateway.formats.report import EncodeReport
from gateway.model import Batch, Context, Native, Record, Usage
from gateway.processors.content import apply
from gateway.service import Service

NAME = "tinycsv"
ROWS = "tinycsv.rows"


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    """``trace_id,model,input_tokens``; a fourth column ``secret`` is content kept in extra."""
    cols = line.decode().split(",")
    if len(cols) not in (3, 4):
        raise BadInput(f"expected 3 or 4 columns, got {len(cols)}")
    if not cols[2].isdigit():
        stats.skipped["rows without tokens"] += 1
        return []
    record = Record(trace_id=cols[0], model=cols[1], usage=Usage(input_tokens=int(cols[2])))
    if len(cols) == 4:
        record.extra[f"{NAME}.secret"] = cols[3]
    return [record]


def _write_lines(records: list[Record], report: EncodeReport) -> list[bytes]:
    report.records_in += len(records)
    report.records_out += len(records)
    return [f"{r.trace_id},{r.model},{r.usage.input_tokens or 0}".encode() for r in records]


class Rows:
    """A native: the rows as they arrived."""

    kind = ROWS

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def materialize(self) -> list[Record]:
        return [r for line in self.lines for r in _read_line(line, LineStats())]

    def join(self, others: list[Native]) -> Native:
        return Rows(self.lines + [line for o in others if isinstance(o, Rows) for line in o.lines])

    def chunks(self, size: int) -> list[Native]:
        return [Rows(self.lines[i : i + size]) for i in range(0, len(self.lines), size)]

    def to_bytes(self) -> bytes:
        return b"\n".join(self.lines)

    @classmethod
    def from_bytes(cls, data: bytes) -> Rows:
        return cls(data.split(b"\n"))


TINY = Format(
    name=NAME,
    description="test-only: trace_id,model,input_tokens",
    line_reader=_read_line,
    line_writer=lambda: _write_lines,
    native_decoders={ROWS: Rows.from_bytes},
    content_extra_keys=frozenset({f"{NAME}.secret"}),
    reserves=lambda r: r.extra.get(f"{NAME}.only") is True,
    reserved_reason="tinycsv_only",
)


@pytest.fixture(autouse=True)
def tiny() -> Iterator[Format]:
    formats.register(TINY)
    yield TINY
    formats.unregister(NAME)


def test_registered_format_is_listed_and_duplicates_are_refused() -> None:
    assert formats.get(NAME) is TINY
    readable, writable = convertible()
    assert NAME in readable and NAME in writable
    with pytest.raises(ValueError, match="already registered"):
        formats.register(TINY)
    with pytest.raises(KeyError, match="unknown format 'nope'"):
        formats.get("nope")


def test_convert_reads_and_writes_it(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"t1,gpt-4o,12\nt2,claude,x\nbad\nt3,gemini,7,hush\n")
    mid, out = tmp_path / "mid.jsonl", tmp_path / "out.csv"
    summary = convert(NAME, "record", str(src), str(mid))
    assert (summary.records_in, summary.records_out, summary.stats.skipped["rows without tokens"]) == (2, 2, 1)
    assert [n for _, n, _ in summary.bad_lines] == [3]
    convert("record", NAME, str(mid), str(out))
    assert out.read_bytes() == b"t1,gpt-4o,12\nt3,gemini,7\n"


def test_queue_stores_and_reads_back_its_natives() -> None:
    batch = Batch(None, Context(receiver="r"), native=Rows([b"t1,m,1", b"t2,m,2"]))
    back = decode_batch(encode_batch(batch))
    assert isinstance(back.native, Rows) and back.native.lines == [b"t1,m,1", b"t2,m,2"]
    assert [r.trace_id for r in back.records] == ["t1", "t2"]


def test_content_processor_clears_its_declared_content() -> None:
    (record,) = _read_line(b"t,m,1,secret-text", LineStats())
    apply(record, "metadata_only", 0)
    assert f"{NAME}.secret" not in record.extra


def test_other_exporters_never_send_its_reserved_records() -> None:
    mine = Record(id="a", extra={f"{NAME}.only": True})
    shared = Record(id="b")
    kept, held = formats.sendable([mine, shared], "foglamp")
    assert ([r.id for r in kept], dict(held)) == (["b"], {"tinycsv_only": 1})
    assert formats.sendable([mine, shared], NAME)[0] == [mine, shared]
    assert formats.sendable([mine], "record")[0] == [mine]  # the lossless record form keeps all


async def test_file_exporter_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    cfg = load(
        {
            "receivers": {"foglamp": {"endpoint": "127.0.0.1:0"}},
            "exporters": {"file": {"path": str(out), "format": NAME, "sending_queue": {"enabled": False}}},
            "service": {"pipelines": {"p": {"receivers": ["foglamp"], "exporters": ["file"]}}},
        }
    )
    service = Service(cfg)
    await service.start()
    try:
        (exporter,) = service.graph.exporters.values()
        await exporter.consume(Batch([Record(trace_id="t9", model="m", usage=Usage(input_tokens=3))], Context()))
        await asyncio.sleep(0)
    finally:
        await service.shutdown()
    assert out.read_bytes() == b"t9,m,3\n"


def test_nats_encodings_take_its_message_codec() -> None:
    """With a message codec the format is a `nats` encoding: the exporter config accepts it, its
    bodies decode by their header, and the records reserved by other formats stay behind."""
    from collections import Counter

    from gateway import nats_encodings
    from gateway.formats import MessageBody, MessageCodec, MessageItems

    def encode(records: list[Record], scores: object, ratings: object, dropped: Counter[str]) -> list[MessageBody]:
        return [MessageBody("tinycsv/rows", b"\n".join(_write_lines(records, EncodeReport())), len(records))]

    codec = MessageCodec(
        encoding="tinycsv_rows",
        encode=encode,
        decoders={"tinycsv/rows": ("text/csv", lambda data: MessageItems(Rows.from_bytes(data).materialize()))},
    )
    formats.unregister(NAME)
    formats.register(dataclasses.replace(TINY, message_codec=codec))
    assert "tinycsv_rows" in formats.message_encodings()
    load(_nats_config("tinycsv_rows"), environ={})
    passthrough = Record(trace_id="t2", model="m")
    passthrough.extra["otlp.passthrough"] = True  # OTLP keeps these for its own exporters
    encoded = nats_encodings.encode("tinycsv_rows", [Record(trace_id="t1", model="m1"), passthrough])
    assert [(b.kind, b.data, b.count) for b in encoded.bodies] == [("tinycsv/rows", b"t1,m1,0", 1)]
    assert encoded.dropped == Counter({"otlp_passthrough": 1})
    assert nats_encodings.content_type("tinycsv/rows") == "text/csv"
    decoded = nats_encodings.decode("tinycsv/rows", encoded.bodies[0].data)
    assert [(r.trace_id, r.model) for r in decoded.records] == [("t1", "m1")]
    with pytest.raises(nats_encodings.UndecodableBody, match="tinycsv/rows body does not decode"):
        nats_encodings.decode("tinycsv/rows", b"only,two")


def test_an_unknown_nats_encoding_is_a_config_problem() -> None:
    with pytest.raises(ConfigError, match=r"encoding: must be one of sigil_proto, otlp_proto, .*record"):
        load(_nats_config("nope"), environ={})


def _nats_config(encoding: str) -> dict[str, object]:
    return {
        "receivers": {"otlp": {"grpc": {"endpoint": "127.0.0.1:0"}}},
        "exporters": {"nats": {"encoding": encoding}},
        "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["nats"]}}},
    }
