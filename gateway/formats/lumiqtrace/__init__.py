"""LumiqTrace ``POST /v1/ingest`` gzip NDJSON events <-> records.

* :mod:`.schema`: the event contract as the docs give it (fields, enums, types), checked per line.
* :mod:`.decode`: events -> records (:func:`decode_ndjson`).
* :mod:`.encode`: records -> events (:func:`encode_events`), costs priced offline.
* :mod:`.scores`: ``eval_scores`` <-> evaluation scores.

``docs/mapping.md`` has the field table.
"""

from __future__ import annotations

from gateway import __version__
from gateway.formats import Format, LineStats, LineWriter
from gateway.formats.lumiqtrace.decode import decode_ndjson
from gateway.formats.lumiqtrace.encode import EVENT_ID_NAMESPACE, encode_events, event_id, map_provider
from gateway.formats.lumiqtrace.schema import (
    KNOWN_FIELDS,
    MAX_EVENTS,
    OPERATIONS,
    PROVIDERS,
    SPAN_KINDS,
    STATUSES,
    LumiqValidationError,
)
from gateway.formats.pricing import PriceTable
from gateway.formats.report import EncodeReport
from gateway.model import Record

__all__ = [
    "EVENT_ID_NAMESPACE",
    "FORMAT",
    "KNOWN_FIELDS",
    "MAX_EVENTS",
    "OPERATIONS",
    "PROVIDERS",
    "SPAN_KINDS",
    "STATUSES",
    "LumiqValidationError",
    "decode_ndjson",
    "encode_events",
    "event_id",
    "map_provider",
]


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    return decode_ndjson(line)


def _line_writer() -> LineWriter:
    prices = PriceTable()

    def write(records: list[Record], report: EncodeReport) -> list[bytes]:
        bodies, r = encode_events(records, environment_default="production", sdk_version=__version__, pricing=prices)
        report.merge(r)
        return bodies

    return write


FORMAT = Format(
    name="lumiqtrace",
    description="LumiqTrace events, one per line (an NDJSON body is already one event per line)",
    line_reader=_read_line,
    line_writer=_line_writer,
)
