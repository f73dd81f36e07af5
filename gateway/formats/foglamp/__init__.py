"""Foglamp ``POST /ingest`` bodies <-> records.

* :mod:`.schema`: Foglamp's strict v1 contract, checked exactly as the server's zod schema does.
* :mod:`.decode`: ingest bodies -> records (:func:`decode_ingest`).
* :mod:`.encode`: records -> ingest bodies (:func:`encode_batches`), never failing: what does
  not fit the contract is derived, cut or dropped and counted in an ``EncodeReport``.
* :mod:`.content`: the ``input``/``output``/``toolCatalog`` strings <-> messages and tools.

``docs/mapping.md`` has the field table.
"""

from __future__ import annotations

from collections import Counter

import orjson

from gateway.formats import Format, LineStats, MessageBody, MessageCodec, MessageItems
from gateway.formats.foglamp.decode import FoglampValidationError, count_spans, decode_ingest
from gateway.formats.foglamp.encode import encode_batches
from gateway.formats.report import EncodeReport
from gateway.model import Rating, Record, Score

__all__ = ["FORMAT", "FoglampValidationError", "count_spans", "decode_ingest", "encode_batches"]


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    return decode_ingest(orjson.loads(line))


def _write_lines(records: list[Record], report: EncodeReport) -> list[bytes]:
    bodies, r = encode_batches(records)
    report.merge(r)
    return [orjson.dumps(b) for b in bodies]


INGEST_BODY = "foglamp/ingest"  # the message body kind (the NATS Gateway-Encoding header)


def _messages(
    records: list[Record], scores: list[Score], ratings: list[Rating], dropped: Counter[str]
) -> list[MessageBody]:
    bodies, report = encode_batches(records)
    dropped.update(report.dropped)
    return [MessageBody(INGEST_BODY, orjson.dumps(b), sum(len(t["spans"]) for t in b["traces"])) for b in bodies]


MESSAGES = MessageCodec(
    encoding="foglamp_json",
    encode=_messages,
    decoders={INGEST_BODY: ("application/json", lambda data: MessageItems(decode_ingest(orjson.loads(data))))},
)


FORMAT = Format(
    name="foglamp",
    description="Foglamp POST /ingest bodies, one per line",
    line_reader=_read_line,
    line_writer=lambda: _write_lines,
    # Span fields with content that have no record field of their own (kept in Record.extra).
    content_extra_keys=frozenset({"foglamp.sources", "foglamp.safetyMetadata"}),
    message_codec=MESSAGES,
)
