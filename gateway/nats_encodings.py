"""What a NATS message body holds: the ``encoding`` table of the nats exporter and receiver.

The exporter writes a batch with one encoding (``record``, lossless, by default, or a wire format
the gateway speaks, so that other consumers can read the stream); every message says what it
holds in the ``Gateway-Encoding`` header (``record/v1``, ``sigil/generations``, ...), and the
receiver decodes any of them by that header, whatever its own exporter side is set to.

=====================  ===========================  ============================================
encoding               ``Gateway-Encoding``         body
=====================  ===========================  ============================================
``record``             ``record/v1``                ``gateway.record.v1.Batch`` (records, scores,
                                                    ratings; ``proto/gateway/record/v1``)
``sigil_proto``        ``sigil/generations``,       ``sigil.v1.ExportGenerationsRequest`` /
                       ``sigil/workflow_steps``     ``ExportWorkflowStepsRequest``
``otlp_proto``         ``otlp/traces``              OTLP ``ExportTraceServiceRequest``
``foglamp_json``       ``foglamp/ingest``           a Foglamp ``POST /ingest`` body
``lumiqtrace_ndjson``  ``lumiqtrace/events``        LumiqTrace NDJSON events (not gzipped)
=====================  ===========================  ============================================

Wire encodings carry only what their format carries (``docs/mapping.md``): records of a kind the
format has no place for are dropped and counted, and scores and ratings travel only with
``record``. Only public codec functions of :mod:`gateway.formats` are used here, so this table
can later be read from the format registry.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable
from typing import Final, Literal

import orjson
from google.protobuf.message import DecodeError

from gateway import __version__
from gateway.errors import BadInput
from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf
from gateway.formats import otlp as of
from gateway.formats import record_proto as rp
from gateway.formats import sigil as sf
from gateway.formats.pricing import PriceTable
from gateway.formats.sigil import native as sn
from gateway.model import Batch, Kind, Rating, Record, Score

EncodingName = Literal["record", "sigil_proto", "otlp_proto", "foglamp_json", "lumiqtrace_ndjson"]
HEADER: Final = "Gateway-Encoding"
LUMIQTRACE_ENVIRONMENT: Final = "production"  # for records without one (as the lumiqtrace exporter)

RECORD: Final = "record/v1"
SIGIL_GENERATIONS: Final = "sigil/generations"
SIGIL_WORKFLOW_STEPS: Final = "sigil/workflow_steps"
OTLP_TRACES: Final = "otlp/traces"
FOGLAMP_INGEST: Final = "foglamp/ingest"
LUMIQTRACE_EVENTS: Final = "lumiqtrace/events"

CONTENT_TYPES: Final = {
    RECORD: "application/x-protobuf; proto=gateway.record.v1.Batch",
    SIGIL_GENERATIONS: "application/x-protobuf; proto=sigil.v1.ExportGenerationsRequest",
    SIGIL_WORKFLOW_STEPS: "application/x-protobuf; proto=sigil.v1.ExportWorkflowStepsRequest",
    OTLP_TRACES: "application/x-protobuf; proto=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    FOGLAMP_INGEST: "application/json",
    LUMIQTRACE_EVENTS: "application/x-ndjson",
}


class UndecodableBody(ValueError):
    """A message whose body does not decode as its ``Gateway-Encoding`` says (or says nothing
    known): redelivering it cannot help."""


@dataclasses.dataclass(frozen=True, slots=True)
class Body:
    """One message body: what it holds (the header value), the bytes, and how many items."""

    kind: str
    data: bytes
    count: int


@dataclasses.dataclass(slots=True)
class Encoded:
    bodies: list[Body]
    dropped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass(slots=True)
class Decoded:
    records: list[Record]
    scores: list[Score] = dataclasses.field(default_factory=list)
    ratings: list[Rating] = dataclasses.field(default_factory=list)
    rejected: int = 0  # items the format's own rules refused (Sigil per-item errors)


def takes_scores(name: EncodingName) -> bool:
    """Scores and ratings travel only with the record encoding."""
    return name == "record"


def encode(
    name: EncodingName,
    records: list[Record],
    scores: list[Score] | None = None,
    ratings: list[Rating] | None = None,
) -> Encoded:
    """The bodies for these items (scores and ratings only with ``record``)."""
    if name == "record":
        scores, ratings = scores or [], ratings or []
        data = rp.encode_batch(records, scores, ratings)
        return Encoded([Body(RECORD, data, len(records) + len(scores) + len(ratings))])
    return _WIRE_ENCODERS[name](records)


def encode_native(name: EncodingName, batch: Batch) -> Encoded | None:
    """The bodies of a pass-through batch taken as it arrived, when ``name`` is its own format
    (a Sigil batch published as ``sigil_proto`` builds no records); else None."""
    if name == "sigil_proto" and isinstance(batch.native, sn.SigilGenerations):
        return Encoded([Body(SIGIL_GENERATIONS, batch.native.request_bytes(), len(batch.native))])
    return None


def _sigil(records: list[Record]) -> Encoded:
    out = Encoded([])
    generations = [r for r in records if r.kind == Kind.LLM]
    steps = [r for r in records if r.kind == Kind.WORKFLOW_STEP]
    if generations:
        out.bodies.append(
            Body(SIGIL_GENERATIONS, sf.generations_request(generations).SerializeToString(), len(generations))
        )
    if steps:
        out.bodies.append(Body(SIGIL_WORKFLOW_STEPS, sf.workflow_steps_request(steps).SerializeToString(), len(steps)))
    if len(records) > len(generations) + len(steps):
        out.dropped["unsupported_kind"] += len(records) - len(generations) - len(steps)
    return out


def _otlp(records: list[Record]) -> Encoded:
    request = of.records_to_traces_bytes(records, resource_attributes={}, include_content=True)
    return Encoded([Body(OTLP_TRACES, request, len(records))])


def _foglamp(records: list[Record]) -> Encoded:
    kept = [r for r in records if not of.is_passthrough(r)]
    bodies, report = ff.encode_batches(kept)
    out = Encoded(
        [Body(FOGLAMP_INGEST, orjson.dumps(b), sum(len(t["spans"]) for t in b["traces"])) for b in bodies],
        collections.Counter(report.dropped),
    )
    if len(kept) < len(records):
        out.dropped["otlp_passthrough"] += len(records) - len(kept)
    return out


@functools.cache
def _prices() -> PriceTable:
    return PriceTable()


def _lumiqtrace(records: list[Record]) -> Encoded:
    kept = [r for r in records if not of.is_passthrough(r)]
    bodies, report = lf.encode_events(
        kept, environment_default=LUMIQTRACE_ENVIRONMENT, sdk_version=__version__, pricing=_prices()
    )
    out = Encoded(
        [Body(LUMIQTRACE_EVENTS, body, body.count(b"\n") + 1) for body in bodies], collections.Counter(report.dropped)
    )
    if len(kept) < len(records):
        out.dropped["otlp_passthrough"] += len(records) - len(kept)
    return out


_WIRE_ENCODERS: Final[dict[str, Callable[[list[Record]], Encoded]]] = {
    "sigil_proto": _sigil,
    "otlp_proto": _otlp,
    "foglamp_json": _foglamp,
    "lumiqtrace_ndjson": _lumiqtrace,
}


# --- decoding ------------------------------------------------------------------------------------


def _decode_record(data: bytes) -> Decoded:
    records, scores, ratings = rp.decode_batch(data)
    return Decoded(records, scores, ratings)


def _sigil_items(items: list[Record | sf.ItemError]) -> Decoded:
    records = [r for r in items if isinstance(r, Record)]
    return Decoded(records, rejected=len(items) - len(records))


def _decode_otlp(data: bytes) -> Decoded:
    records, _ = of.traces_to_records(of.decode_traces_protobuf(data), passthrough=True)
    return Decoded(records)


DECODERS: Final[dict[str, Callable[[bytes], Decoded]]] = {
    RECORD: _decode_record,
    SIGIL_GENERATIONS: lambda data: _sigil_items(sf.decode_generations_grpc(data)),
    SIGIL_WORKFLOW_STEPS: lambda data: _sigil_items(sf.decode_workflow_steps_grpc(data)),
    OTLP_TRACES: _decode_otlp,
    FOGLAMP_INGEST: lambda data: Decoded(ff.decode_ingest(orjson.loads(data))),
    LUMIQTRACE_EVENTS: lambda data: Decoded(lf.decode_ndjson(data)),
}


def decode(kind: str, data: bytes) -> Decoded:
    """The items of a body whose ``Gateway-Encoding`` is ``kind``; raises :class:`UndecodableBody`."""
    decoder = DECODERS.get(kind)
    if decoder is None:
        known = ", ".join(DECODERS)
        raise UndecodableBody(f"unknown {HEADER} {kind!r} (known: {known})")
    try:
        return decoder(data)
    except (ValueError, DecodeError, KeyError, TypeError, BadInput) as exc:  # every codec's bad-input errors
        raise UndecodableBody(f"{kind} body does not decode: {exc}") from None
