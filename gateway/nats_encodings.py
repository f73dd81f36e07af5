"""What a NATS message body holds: the ``encoding`` of the nats exporter and receiver.

The exporter writes a batch with one encoding (``record``, lossless, by default, or a wire format
the gateway speaks, so that other consumers can read the stream); every message says what it
holds in the ``Gateway-Encoding`` header, and the receiver decodes any of them by that header,
whatever its own exporter side is set to. The encodings are the formats' message codecs
(:class:`gateway.formats.MessageCodec`): ``docs/mapping.md`` lists the built-in ones, their
headers and what each keeps.

Wire encodings carry only what their format carries (``docs/mapping.md``): records of a kind the
format has no place for, and records another format reserved for its own exporters, are dropped
and counted; scores and ratings travel only with an encoding that carries them (``record``).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Final

from google.protobuf.message import DecodeError

from gateway import formats
from gateway.errors import BadInput
from gateway.formats import MessageBody, MessageItems
from gateway.model import Batch, Native, Rating, Record, Score

HEADER: Final = "Gateway-Encoding"
DEFAULT_ENCODING: Final = "record"


class UndecodableBody(ValueError):
    """A message whose body does not decode as its ``Gateway-Encoding`` says (or says nothing
    known): redelivering it cannot help."""


@dataclasses.dataclass(slots=True)
class Encoded:
    bodies: list[MessageBody]
    dropped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


def encoding_problem(name: str) -> str:
    """Why ``name`` is not an encoding ("" when it is one)."""
    known = formats.message_encodings()
    return "" if name in known else f"must be one of {', '.join(known)}"


def takes_scores(name: str) -> bool:
    """Scores and ratings travel only with an encoding that carries them."""
    return formats.message_codec(name)[1].carries_scores


def native_kinds(name: str) -> frozenset[str]:
    """The native batches (gateway.model.Native) this encoding publishes as they arrived."""
    return formats.message_codec(name)[1].native_kinds


def content_type(kind: str) -> str:
    found = formats.message_decoder(kind)
    return found[0] if found is not None else "application/octet-stream"


def encode(
    name: str,
    records: list[Record],
    scores: list[Score] | None = None,
    ratings: list[Rating] | None = None,
) -> Encoded:
    """The bodies for these items (scores and ratings only where the encoding carries them)."""
    fmt, codec = formats.message_codec(name)
    kept, dropped = formats.sendable(records, fmt.name)
    if not codec.carries_scores:
        scores, ratings = [], []
    bodies = codec.encode(kept, scores or [], ratings or [], dropped)
    return Encoded(bodies, dropped)


def encode_native(name: str, batch: Batch) -> Encoded | None:
    """The bodies of a native batch taken as it arrived (no records built), when the encoding is
    its own format's codec and takes it; else None."""
    if batch.native is None:
        return None
    bodies = formats.message_codec(name)[1].encode_native(batch.native)
    return Encoded(bodies) if bodies is not None else None


def decode_native(kind: str, data: bytes, accepted: frozenset[str]) -> Native | None:
    """The body as a native batch of one of the ``accepted`` kinds (what every consumer takes),
    when its format hands such a body on untranslated; else None (decode it into records)."""
    found = formats.message_native_decoder(kind)
    if found is None or found[0] not in accepted:
        return None
    return found[1](data)


def decode(kind: str, data: bytes) -> MessageItems:
    """The items of a body whose ``Gateway-Encoding`` is ``kind``; raises :class:`UndecodableBody`."""
    found = formats.message_decoder(kind)
    if found is None:
        known = ", ".join(k for f in formats.formats().values() if f.message_codec for k in f.message_codec.decoders)
        raise UndecodableBody(f"unknown {HEADER} {kind!r} (known: {known})")
    try:
        return found[1](data)
    except (ValueError, DecodeError, KeyError, TypeError, BadInput) as exc:  # every codec's bad-input errors
        raise UndecodableBody(f"{kind} body does not decode: {exc}") from None
