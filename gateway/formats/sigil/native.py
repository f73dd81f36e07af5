"""Sigil generations kept as protobuf messages: the pass-through that skips the record.

When every consumer of a Sigil receiver is a Sigil exporter (with only processors that do not
look at records between them), converting each generation into a
:class:`~gateway.model.Record` and back is wasted work. The receiver then hands on the accepted
``Generation`` messages themselves (:class:`SigilGenerations`), with the server's defaults
applied: from gRPC requests for any Sigil exporter (``KIND``), from protojson bodies only for
exporters that send protobuf (``KIND_SENT_AS_PROTOBUF``). A gRPC exporter serializes the
messages as they are; an HTTP exporter writes the record path's protojson from them
(``sigil_json_encode.message_generation_dict``). Anything that needs records
(:meth:`SigilGenerations.materialize`) gets exactly what the record decoders produce.

gRPC requests are parsed by upb in C, as on the record path. Protojson bodies take a fast path:
orjson parses the body, a short pre-pass rewrites what protobuf's constructor cannot take from
JSON (RFC 3339 timestamps, int64 strings, base64 bytes) with the record decoder's own rules,
and the request message is built from the dicts in C. The constructor accepts a few inputs
protobuf-go rejects (``1`` for a bool, ``true`` for a double, a string for a repeated string
field, a list of pairs for a map, two members of a oneof); the pre-pass refuses those.
lowerCamel names are renamed to the proto names first (from the descriptors). Every refusal,
every constructor error and a field named in both spellings sends the body to the exact
decoder in ``sigil_json`` instead (``None`` from :func:`decode_generations_json_native`), so
errors keep protobuf-go's text and position, and the fast path only ever accepts bodies the
exact decoder accepts, with the same result (``tests/formats/sigil/test_native.py`` checks both
directions on the fixtures, fuzzed bodies and the error corpus).

The pre-pass also notes whether any generation has a field a schema target fits (media parts,
lineage, ``input_semantics``; ``targets.needs_fitting``): when none has, ``SigilGenerations``
says so (``fittable``) and exporters for older targets skip walking every part of every message.

Unlike the record path, the pass-through over gRPC forwards what the record cannot hold (the
legacy ``cache_creation_input_tokens`` field stays field 7).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.protowire import varint
from gateway.formats.sigil import common
from gateway.formats.sigil.common import ItemError
from gateway.formats.sigil.decode_proto import generation_to_record
from gateway.formats.sigil.decode_proto import parse_message as _parse
from gateway.formats.sigil.encode_json import encode_generation_messages_json
from gateway.formats.sigil.encode_proto import set_struct
from gateway.formats.sigil.protojson import Fail, as_bytes, as_int64, as_timestamp
from gateway.formats.sigil.targets import FULL, Schema, fit_message, needs_fitting
from gateway.model import Native, Record

KIND: Final = "sigil.generations"
# Declared beside KIND by consumers that send the messages as protobuf: only for them does
# building messages from a protojson body pay off (writing protojson back from messages costs
# more than from records, because every string is read out of the message again).
KIND_SENT_AS_PROTOBUF: Final = "sigil.generations+protobuf"

_NS_PER_S: Final = 1_000_000_000
_PAYLOADS: Final = ("text", "thinking", "tool_call", "tool_result", "media")
_ROOT_KEYS: Final = frozenset({"generations"})


class SigilGenerations:
    """A batch's generations as accepted ``sigil.v1.Generation`` messages (defaults applied).

    Consumers must not modify the messages: fan-out branches share them. ``fittable`` False
    promises that no message has a field a schema target fits (``targets.needs_fitting``): the
    protojson pre-pass knows that for free, and it spares every exporter with an older target a
    walk over every part of every message.
    """

    __slots__ = ("fittable", "messages")
    kind: Final = KIND

    def __init__(self, messages: list[pb.Generation], *, fittable: bool = True) -> None:
        self.messages = messages
        self.fittable = fittable

    def __len__(self) -> int:
        return len(self.messages)

    def materialize(self) -> list[Record]:
        return [generation_to_record(m) for m in self.messages]

    def join(self, others: list[Native]) -> SigilGenerations:
        messages = list(self.messages)
        fittable = self.fittable
        for other in others:
            assert isinstance(other, SigilGenerations)
            messages.extend(other.messages)
            fittable = fittable or other.fittable
        return SigilGenerations(messages, fittable=fittable)

    def chunks(self, size: int) -> list[Native]:
        m = self.messages
        return [SigilGenerations(m[i : i + size], fittable=self.fittable) for i in range(0, len(m), size)]

    def to_bytes(self) -> bytes:
        return self.request_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> SigilGenerations:
        """Inverse of :meth:`to_bytes`; raises ``google.protobuf.message.DecodeError``."""
        return cls(list(pb.ExportGenerationsRequest.FromString(data).generations))

    def request_json(self, schema: Schema = FULL) -> bytes:
        """The SDK-shaped protojson body the record path would send for these generations."""
        return encode_generation_messages_json(self.messages, schema)

    def fitted(self, schema: Schema) -> SigilGenerations:
        """These generations with only the fields ``schema`` knows (itself when nothing changes)."""
        if not self.fittable or not any(needs_fitting(m, schema) for m in self.messages):
            return self
        return SigilGenerations([fit_message(m, schema) for m in self.messages])

    def request_bytes(self) -> bytes:
        """The ``ExportGenerationsRequest`` carrying these generations, serialized.

        Framed by hand (field 1, length-delimited, per message): the same bytes as building the
        request, without copying every message into it first (twice as fast).
        """
        return frame_request([message.SerializeToString() for message in self.messages])


def frame_request(serialized: list[bytes]) -> bytes:
    """An Export*Request (repeated field 1) from its items, each already serialized: the same
    bytes as building the request, without copying every message into it first (twice as fast)."""
    out: list[bytes] = []
    append = out.append
    for data in serialized:
        append(_GENERATIONS_TAG)
        append(varint(len(data)))
        append(data)
    return b"".join(out)


_GENERATIONS_TAG: Final = b"\n"  # field 1, wire type 2


def finish_message(g: pb.Generation, now: int) -> ItemError | None:
    """The server's defaults and checks (``sigil_common.finish_generation``) on a message.

    Sets what the record path sets: the id, the mode (unspecified becomes SYNC, as the record
    path sends it), the operation and missing timestamps; returns the rejection, if any.
    """
    if not g.id:
        g.id = common.next_generation_id()
    mode: int = g.mode
    if mode == common.MODE_UNSPECIFIED:
        mode = common.MODE_SYNC
        g.mode = pb.GENERATION_MODE_SYNC
    if not g.operation_name:
        g.operation_name = common.default_operation(mode)
    if not g.HasField("started_at"):
        g.started_at.FromNanoseconds(now)
    if not g.HasField("completed_at"):
        g.completed_at.FromNanoseconds(now)
    has_model = g.HasField("model")
    model = g.model
    problem = common.generation_problem(has_model, model.provider, model.name, mode)
    return ItemError(g.id, problem) if problem else None


def native_from_request(
    request: pb.ExportGenerationsRequest, *, now_ns: int | None = None
) -> list[pb.Generation | ItemError]:
    """Per item, in order: the defaulted message, or why the server would reject it."""
    now = common.now_ns() if now_ns is None else now_ns
    out: list[pb.Generation | ItemError] = []
    for g in request.generations[:]:  # a slice: upb iterates repeated fields slowly
        error = finish_message(g, now)
        out.append(g if error is None else error)
    return out


def decode_generations_grpc_native(data: bytes, *, now_ns: int | None = None) -> list[pb.Generation | ItemError]:
    """``decode_generations_grpc`` without the records; raises SigilDecodeError the same way."""
    request = pb.ExportGenerationsRequest()
    _parse(request, data)
    return native_from_request(request, now_ns=now_ns)


class NativeItems(list[pb.Generation | ItemError]):
    """Decoded items, with what the protojson pre-pass saw: whether any item has a field a schema
    target fits (``SigilGenerations.fittable``)."""

    __slots__ = ("fittable",)

    def __init__(self, items: list[pb.Generation | ItemError], *, fittable: bool) -> None:
        super().__init__(items)
        self.fittable = fittable


def decode_generations_json_native(body: bytes, *, now_ns: int | None = None) -> NativeItems | None:
    """The fast path for a protojson body, or ``None``: then ``decode_generations_json`` decides
    (it words every error as protobuf-go does)."""
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(root) is not dict or not root.keys() <= _ROOT_KEYS:
        return None
    generations = root.get("generations")
    if generations is None:
        generations = []
    elif type(generations) is not list:
        return None
    # Maps and Structs are set after the constructor, which takes them through protobuf's Python
    # helpers (``MutableMapping.update``, ``Struct.update``): twice the cost for the usual tags
    # and metadata (a few string labels).
    labels: list[tuple[int, Any, Any]] = []
    fittable = False
    try:
        for i, g in enumerate(generations):
            if type(g) is not dict:
                return None
            if not g.keys() <= _GENERATION_NAMES:
                renamed = _proto_names(g, _GENERATION_SPELLINGS)
                if renamed is None:
                    return None
                generations[i] = g = renamed
            prepared = _prepare(g)
            if prepared is None:
                return None
            fittable = fittable or prepared
            tags = g.pop("tags", None)
            metadata = g.pop("metadata", None)
            if tags is not None or metadata is not None:
                labels.append((i, tags, metadata))
        request = pb.ExportGenerationsRequest(generations=generations)
        messages = request.generations
        for i, tags, metadata in labels:
            message = messages[i]
            if tags:  # a dict (_prepare checked)
                field = message.tags
                for key, value in tags.items():
                    field[key] = value
            if metadata is not None:
                set_struct(message.metadata, metadata)
    except (Fail, TypeError, ValueError, AttributeError, OverflowError):
        return None
    return NativeItems(native_from_request(request, now_ns=now_ns), fittable=fittable)


# --------------------------------------------------------------------------- lowerCamel names

# Per message: lowerCamel JSON name -> proto name (only where they differ), and the messages
# below it by proto name. Read from the descriptors; Struct, Timestamp and map fields hold the
# user's keys (or none to rename) and are not descended into.
_Spellings = tuple[dict[str, str], dict[str, "_Spellings"]]


def _spellings(descriptor: Any) -> _Spellings:
    renames = {f.json_name: f.name for f in descriptor.fields if f.json_name != f.name}
    children = {
        f.name: _spellings(f.message_type)
        for f in descriptor.fields
        if f.message_type is not None
        and not f.message_type.GetOptions().map_entry
        and not f.message_type.full_name.startswith("google.protobuf.")
    }
    return renames, children


_GENERATION_SPELLINGS: Final = _spellings(pb.Generation.DESCRIPTOR)
_GENERATION_NAMES: Final = frozenset(f.name for f in pb.Generation.DESCRIPTOR.fields)


def _proto_names(message: dict[str, Any], spellings: _Spellings) -> dict[str, Any] | None:
    """The message with every lowerCamel key under its proto name, all the way down; None when
    a field is named in both spellings (Go's ``duplicate field``, worded by the exact decoder).
    Objects without a lowerCamel key are kept as they are."""
    renames, children = spellings
    out = message
    if not renames.keys().isdisjoint(message):
        out = {}
        for key, value in message.items():
            name = renames.get(key, key)
            if name in out:
                return None
            out[name] = value
    for name in children.keys() & out.keys():
        child, value = children[name], out[name]
        if type(value) is dict:
            renamed = _proto_names(value, child)
            if renamed is None:
                return None
            out[name] = renamed
        elif type(value) is list:
            for i, item in enumerate(value):
                if type(item) is dict:
                    renamed = _proto_names(item, child)
                    if renamed is None:
                        return None
                    value[i] = renamed
    return out


# --------------------------------------------------------------------------- the pre-pass


def _timestamp(value: Any) -> dict[str, int]:
    seconds, nanos = divmod(as_timestamp(value), _NS_PER_S)
    return {"seconds": seconds, "nanos": nanos}


def _prepare(g: dict[str, Any]) -> bool | None:
    """Rewrites one generation in place for the constructor; None when it must go the exact way,
    else whether it may have a field a schema target fits (``needs_fitting``; conservative: the
    key being there is enough).

    Only values that are present and not null are looked at: the constructor reads None as
    unset, as protojson reads null. Type errors the constructor raises itself (a number for a
    string, a float for an int64, an unknown field or enum name) are left to it.
    """
    get = g.get
    fittable = not _FITTED_KEYS.isdisjoint(g)
    for key in ("started_at", "completed_at"):
        value = get(key)
        if value is not None:
            g[key] = _timestamp(value)
    usage = get("usage")
    if usage is not None:
        if type(usage) is not dict:
            return None
        for key, value in usage.items():
            if key == "input_semantics":
                fittable = True
            elif type(value) is str:
                usage[key] = as_int64(value)
    value = get("max_tokens")
    if type(value) is str:
        g["max_tokens"] = as_int64(value)
    for key in ("temperature", "top_p"):
        if type(get(key)) is bool:  # the constructor takes a bool as 1.0
            return None
    for key, kind in _EXACT_TYPES:
        value = get(key)
        if value is not None and type(value) is not kind:
            return None
    for key, prepare in _LISTS:
        items = get(key)
        if items is not None:
            if type(items) is not list:
                return None
            for item in items:  # a non-dict item fails in the constructor
                if type(item) is dict:
                    found = prepare(item)
                    if found is None:
                        return None
                    fittable = fittable or found
    return fittable


# The preparers of list items return what _prepare does: None to go the exact way, else whether
# the item has a field a schema target fits.


def _prepare_message(message: dict[str, Any]) -> bool | None:
    parts = message.get("parts")
    if parts is None:
        return False
    if type(parts) is not list:
        return None
    media = False
    for part in parts:
        if type(part) is not dict or (len(part) == 1 and "text" in part):
            continue  # the common case; a non-dict fails in the constructor
        if sum(part.get(key) is not None for key in _PAYLOADS) > 1:
            return None  # the constructor keeps the last oneof member; Go rejects the body
        media = media or "media" in part
        for key, bytes_key, flag_key in (("tool_call", "input_json", ""), ("tool_result", "content_json", "is_error")):
            member = part.get(key)
            if member is not None and (type(member) is not dict or not _bytes_and_flag(member, bytes_key, flag_key)):
                return None
    return media


def _bytes_and_flag(message: dict[str, Any], bytes_key: str, flag_key: str) -> bool:
    """Decodes the base64 of a bytes field in place; False when the bool field is not a bool."""
    payload = message.get(bytes_key)
    if payload is not None:
        message[bytes_key] = as_bytes(payload)
    flag = message.get(flag_key) if flag_key else None
    return flag is None or type(flag) is bool


def _prepare_tool(tool: dict[str, Any]) -> bool | None:
    return False if _bytes_and_flag(tool, "input_schema_json", "deferred") else None


def _prepare_artifact(artifact: dict[str, Any]) -> bool | None:
    return False if _bytes_and_flag(artifact, "payload", "") else None


_FITTED_KEYS: Final = frozenset({"parent_generation_ids", "effective_version"})
# Fields whose JSON type must be exactly this where the constructor would convert: 1 for a bool
# is read as true, a string for a repeated string as its characters, a list of pairs as a map.
_EXACT_TYPES: Final = (("thinking_enabled", bool), ("parent_generation_ids", list), ("tags", dict))
_LISTS: Final = (
    ("input", _prepare_message),
    ("output", _prepare_message),
    ("tools", _prepare_tool),
    ("raw_artifacts", _prepare_artifact),
)
