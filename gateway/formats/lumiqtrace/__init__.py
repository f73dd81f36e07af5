"""LumiqTrace ``POST /v1/ingest`` gzip NDJSON events <-> records.

* :mod:`.schema`: the event contract as the docs give it (fields, enums, types), checked per line.
* :mod:`.decode`: events -> records (:func:`decode_ndjson`).
* :mod:`.encode`: records -> events (:func:`encode_events`), costs priced offline.
* :mod:`.scores`: ``eval_scores`` <-> evaluation scores.

``docs/mapping.md`` has the field table.
"""

from __future__ import annotations

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

__all__ = [
    "EVENT_ID_NAMESPACE",
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
