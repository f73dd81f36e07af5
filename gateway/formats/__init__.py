"""Wire formats: pure translation between each wire format and the canonical record, no I/O.

One package per format (``sigil/``, ``otlp/``, ``foglamp/``, ``lumiqtrace/``), each with
``decode*`` modules (wire -> record), ``encode*`` modules (record -> wire) and, where it has one,
``native.py`` (its same-format pass-through). Beside them: :mod:`.record_json` (the canonical
record as JSON lines), :mod:`.pricing` (model prices for cost) and :mod:`.report` (what an
encoder had to change).

What the generic core needs to know about a format, the format declares in its :class:`Format`
value (``FORMAT`` in its package), listed in :func:`formats` as components are listed in
:mod:`gateway.registry`: the queue looks up native decoders here, the ``content`` processor the
keys to clear, ``convert`` and the ``file`` exporter the line codecs, and exporters which records
another format reserved for itself. Nothing outside a format's package names its modules for
these; adding a format is its package plus one line in :func:`_builtin` (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from gateway.formats.report import EncodeReport
from gateway.model import Native, Rating, Record, Score


@dataclasses.dataclass(slots=True)
class LineStats:
    """What a line decoder skipped besides whole bad lines (``gateway convert`` prints it)."""

    rejected_items: int = 0  # items the decoder refused one by one (Sigil per-item errors)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)  # e.g. "non-GenAI spans"


# One request body (one line of a recording) -> records; raises ValueError/TypeError/BadInput.
LineReader = Callable[[bytes, LineStats], list[Record]]
# Records -> request bodies (one line each), adding what it changed to the report.
LineWriter = Callable[[list[Record], EncodeReport], list[bytes]]


def _never(record: Record) -> bool:
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class MessageBody:
    """One self-describing message body (a NATS message): what it holds, the bytes, how many items."""

    kind: str  # the body's kind, sent beside it (e.g. "sigil/generations"); names its decoder
    data: bytes
    count: int  # items in it (records, or scores and ratings)


@dataclasses.dataclass(slots=True)
class MessageItems:
    """What a message body held."""

    records: list[Record]
    scores: list[Score] = dataclasses.field(default_factory=list)
    ratings: list[Rating] = dataclasses.field(default_factory=list)
    rejected: int = 0  # items the format's own rules refused (Sigil per-item errors)


# Records, scores, ratings -> bodies; what the format has no place for is counted by reason.
MessageEncoder = Callable[[list[Record], list[Score], list[Rating], Counter[str]], list[MessageBody]]
MessageDecoder = Callable[[bytes], MessageItems]  # raises ValueError/TypeError/KeyError/BadInput/DecodeError


def _no_native(native: Native) -> list[MessageBody] | None:
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MessageCodec:
    """A format's message bodies for a stream (the ``nats`` components' ``encoding``)."""

    encoding: str  # what users write: `nats: {encoding: <encoding>}`
    encode: MessageEncoder
    decoders: Mapping[str, tuple[str, MessageDecoder]]  # body kind -> (Content-Type, decoder)
    # The bodies of a native batch taken as it arrived (no records built); None when it cannot.
    encode_native: Callable[[Native], list[MessageBody] | None] = _no_native
    native_kinds: frozenset[str] = frozenset()  # the native kinds encode_native takes
    # Body kind -> (native kind, decoder): the body as a native batch to hand on untranslated
    # (what a receiver of the format would hand on for the same bytes), or None for the records
    # path (which also words any error). Raises nothing.
    native_decoders: Mapping[str, tuple[str, Callable[[bytes], Native | None]]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    carries_scores: bool = False  # scores and ratings travel in its bodies (else they stay behind)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Format:
    """What one wire format declares to the generic core (see the module docstring)."""

    name: str  # the name users write: `convert --from <name>`, `file: {format: <name>}`
    description: str = ""  # one line for `gateway convert --help` and the docs
    # Offline line codecs (convert, the file exporter); None when the format has no line form.
    line_reader: LineReader | None = None
    line_writer: Callable[[], LineWriter] | None = None  # a factory: a writer may hold a cache
    # Native kinds (gateway.model.Native) this format hands on untranslated, and how a persistent
    # queue turns their stored bytes back into them.
    native_decoders: Mapping[str, Callable[[bytes], Native]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    # Content the `content` processor must clear besides the record's content fields: keys of
    # Record.extra and of Record.metadata where this format keeps prompts, outputs or titles.
    content_extra_keys: frozenset[str] = frozenset()
    content_metadata_keys: frozenset[str] = frozenset()
    # Records only this format's own exporters may send (e.g. non-GenAI spans kept for an OTLP
    # pass-through); other exporters drop them and count them under `reserved_reason`.
    reserves: Callable[[Record], bool] = _never
    reserved_reason: str = ""
    # A lossless container of records (the record JSON): its writers take reserved records too.
    carries_all: bool = False
    # The Record.metadata label in which this format's SDKs declare how much content they captured
    # ("full", "no_tool_content", "metadata_only"); the content processor raises it and encoders
    # honour it. The first format that declares one defines it for all.
    capture_mode_key: str = ""
    # Its binary bodies for a message stream (the NATS tier); None when it has none.
    message_codec: MessageCodec | None = None


_REGISTRY: dict[str, Format] = {}
# Unions over the registry that hot paths ask for per record; cleared when the registry changes.
_UNIONS: dict[str, frozenset[str]] = {}


def _builtin() -> list[Format]:
    # Imported here so that importing one format package does not import every other one.
    from gateway.formats import foglamp, lumiqtrace, otlp, record_json, sigil

    return [
        sigil.FORMAT,
        otlp.FORMAT,
        foglamp.FORMAT,
        lumiqtrace.FORMAT,
        record_json.FORMAT,
    ]


def formats() -> Mapping[str, Format]:
    """Every registered format by name: the built-in ones, then any added by :func:`register`."""
    if not _REGISTRY:
        for fmt in _builtin():
            _REGISTRY.setdefault(fmt.name, fmt)
    return MappingProxyType(_REGISTRY)


def register(fmt: Format) -> None:
    """Adds a format (tests and embedders); a name already registered is an error."""
    if fmt.name in formats():
        raise ValueError(f"format {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt
    _UNIONS.clear()
    _RESERVERS.clear()


def unregister(name: str) -> None:
    """Removes a format added by :func:`register` (tests)."""
    _REGISTRY.pop(name, None)
    _UNIONS.clear()
    _RESERVERS.clear()


def get(name: str) -> Format:
    """The format called ``name``; KeyError naming the known ones otherwise."""
    try:
        return formats()[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}: expected one of {', '.join(sorted(formats()))}") from None


def native_decoder(kind: str) -> Callable[[bytes], Native] | None:
    """How to read back a stored native of ``kind``, from whichever format declared it."""
    for fmt in formats().values():
        decoder = fmt.native_decoders.get(kind)
        if decoder is not None:
            return decoder
    return None


def content_extra_keys() -> frozenset[str]:
    """Every format's ``content_extra_keys`` (the content processor asks per record)."""
    keys = _UNIONS.get("extra")
    if keys is None:
        keys = _UNIONS["extra"] = frozenset().union(*(f.content_extra_keys for f in formats().values()))
    return keys


def content_metadata_keys() -> frozenset[str]:
    """Every format's ``content_metadata_keys``."""
    keys = _UNIONS.get("metadata")
    if keys is None:
        keys = _UNIONS["metadata"] = frozenset().union(*(f.content_metadata_keys for f in formats().values()))
    return keys


_RESERVERS: dict[str, tuple[Format, ...]] = {}  # per exporter format: the others that reserve records


def capture_mode_key() -> str:
    """The capture-mode label (see :attr:`Format.capture_mode_key`); "" when no format has one."""
    return next((f.capture_mode_key for f in formats().values() if f.capture_mode_key), "")


def sendable(records: Iterable[Record], by: str) -> tuple[list[Record], Counter[str]]:
    """The records an exporter of format ``by`` may send, and the others counted by reason (the
    ones another format reserved for its own exporters)."""
    others = _RESERVERS.get(by)
    if others is None:
        registered = formats()
        carries_all = by in registered and registered[by].carries_all
        others = _RESERVERS[by] = (
            () if carries_all else tuple(f for f in registered.values() if f.name != by and f.reserves is not _never)
        )
    if not others:
        return list(records), Counter()
    kept: list[Record] = []
    held: Counter[str] = Counter()
    for record in records:
        for owner in others:
            if owner.reserves(record):
                held[owner.reserved_reason or f"{owner.name}_only"] += 1
                break
        else:
            kept.append(record)
    return kept, held


def message_codec(encoding: str) -> tuple[Format, MessageCodec]:
    """The codec users name with ``encoding``, and its format; KeyError naming the known ones otherwise."""
    for fmt in formats().values():
        if fmt.message_codec is not None and fmt.message_codec.encoding == encoding:
            return fmt, fmt.message_codec
    raise KeyError(f"unknown encoding {encoding!r}: expected one of {', '.join(message_encodings())}")


def message_encodings() -> list[str]:
    """Every registered message encoding, in registry order."""
    return [f.message_codec.encoding for f in formats().values() if f.message_codec is not None]


def message_native_decoder(kind: str) -> tuple[str, Callable[[bytes], Native | None]] | None:
    """(native kind, decoder) of a body kind, from whichever codec declared one."""
    for fmt in formats().values():
        if fmt.message_codec is not None and kind in fmt.message_codec.native_decoders:
            return fmt.message_codec.native_decoders[kind]
    return None


def message_decoder(kind: str) -> tuple[str, MessageDecoder] | None:
    """(Content-Type, decoder) of a body kind, from whichever codec declared it."""
    for fmt in formats().values():
        if fmt.message_codec is not None and kind in fmt.message_codec.decoders:
            return fmt.message_codec.decoders[kind]
    return None
