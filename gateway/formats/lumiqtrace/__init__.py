"""LumiqTrace ``POST /v1/ingest`` gzip NDJSON events <-> records.

* :mod:`.schema`: the event contract as the docs give it (fields, enums, types), checked per line.
* :mod:`.decode`: events -> records (:func:`decode_ndjson`).
* :mod:`.encode`: records -> events (:func:`encode_events`), costs priced offline.
* :mod:`.scores`: ``eval_scores`` <-> evaluation scores.

``docs/mapping.md`` has the field table.
"""

from __future__ import annotations

import functools
from collections import Counter

from gateway import __version__
from gateway.formats import Format, LineStats, LineWriter, MessageBody, MessageCodec, MessageItems
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
from gateway.model import Rating, Record, Score

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


ENVIRONMENT_DEFAULT = "production"  # for records without one, as the lumiqtrace exporter's default
EVENTS_BODY = "lumiqtrace/events"  # the message body kind (the NATS Gateway-Encoding header)


def _line_writer() -> LineWriter:
    prices = PriceTable()

    def write(records: list[Record], report: EncodeReport) -> list[bytes]:
        bodies, r = encode_events(
            records, environment_default=ENVIRONMENT_DEFAULT, sdk_version=__version__, pricing=prices
        )
        report.merge(r)
        return bodies

    return write


@functools.cache
def _message_writer() -> LineWriter:
    return _line_writer()


def _messages(
    records: list[Record], scores: list[Score], ratings: list[Rating], dropped: Counter[str]
) -> list[MessageBody]:
    report = EncodeReport()
    bodies = _message_writer()(records, report)
    dropped.update(report.dropped)
    return [MessageBody(EVENTS_BODY, body, body.count(b"\n") + 1) for body in bodies]


MESSAGES = MessageCodec(
    encoding="lumiqtrace_ndjson",
    encode=_messages,
    decoders={EVENTS_BODY: ("application/x-ndjson", lambda data: MessageItems(decode_ndjson(data)))},
)


FORMAT = Format(
    name="lumiqtrace",
    description="LumiqTrace events, one per line (an NDJSON body is already one event per line)",
    line_reader=_read_line,
    line_writer=_line_writer,
    message_codec=MESSAGES,
)
