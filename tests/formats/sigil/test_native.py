"""The Sigil pass-through decoders agree with the record decoders on every body.

The fast protojson path may decline a body (``None``: the exact decoder then decides), but
whatever it accepts must give the records, item errors and results the exact decoder gives,
and it must never accept a body the exact decoder rejects. Checked on the wire sheet's cases,
the inputs protobuf's constructor is lenient about, generated generations and mutated bodies.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.payloads import lower_camel
from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats import sigil
from gateway.formats.sigil import ItemError, SigilDecodeError
from gateway.formats.sigil import common as sigil_common
from gateway.formats.sigil import native as sn
from gateway.formats.sigil.targets import DEFAULT_SCHEMA, SCHEMAS, needs_fitting
from gateway.model import Record
from tests.formats.sigil.fixtures import NOW_NS, generation_records, rich_generation
from tests.test_fuzz import EXAMPLES, mutated

MODEL = {"provider": "openai", "name": "gpt-5"}


def _fresh_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Default ids are random (UUIDv7); a counter makes two decoders' outputs comparable.
    counter = itertools.count(1)
    monkeypatch.setattr(sigil_common, "next_generation_id", lambda: f"gen-{next(counter)}")


def accepted(items: list[pb.Generation | ItemError]) -> list[pb.Generation]:
    """The messages the receiver hands on (its item errors left out)."""
    return [it for it in items if not isinstance(it, ItemError)]


def _as_records(items: list[pb.Generation | ItemError]) -> list[Record | ItemError]:
    return [it if isinstance(it, ItemError) else sigil.generation_to_record(it) for it in items]


def _both(exact_decode: Callable[..., Any], native_decode: Callable[..., Any], data: bytes) -> tuple[Any, Any]:
    """Each decoder's result for the same body from the same id counter; None for a decode error."""
    out = []
    for decode in (exact_decode, native_decode):
        with pytest.MonkeyPatch.context() as mp:
            _fresh_ids(mp)
            try:
                out.append(decode(data, now_ns=NOW_NS))
            except SigilDecodeError:
                out.append(None)
    return out[0], out[1]


def agree(body: bytes) -> bool:
    """Asserts the fast path agrees with the exact decoder; True when it took the body."""
    exact, native = _both(sigil.decode_generations_json, sn.decode_generations_json_native, body)
    if exact is None:
        assert native is None, body
        return False
    if native is None:
        return False
    assert _as_records(native) == exact, body
    assert sigil.export_results(native) == sigil.export_results(exact)
    # What the exporter sends decodes to the same records.
    sent = sn.SigilGenerations(accepted(native)).request_bytes()
    assert sigil.decode_generations_grpc(sent) == [it for it in exact if isinstance(it, Record)]
    return True


def body_of(*generations: dict[str, Any]) -> bytes:
    return orjson.dumps({"generations": list(generations)})


def sdk_body(camel: bool = False) -> bytes:
    request = pb.ExportGenerationsRequest(generations=[rich_generation(), rich_generation()])
    request.generations[1].id = ""  # defaulted by the server rules
    request.generations[1].ClearField("started_at")
    return json_format.MessageToJson(request, preserving_proto_field_name=not camel).encode()


def test_sdk_shaped_bodies_take_the_fast_path() -> None:
    assert agree(sdk_body())
    assert agree(b"{}") and agree(b'{"generations":[]}') and agree(b'{"generations":null}')
    text = {"role": "MESSAGE_ROLE_USER", "parts": [{"text": "hi"}]}
    assert agree(body_of({"model": MODEL, "input": [text], "usage": {"input_tokens": "12"}}))


def test_lower_camel_names_take_the_fast_path_too() -> None:
    assert agree(sdk_body(camel=True))
    # Both spellings of one field: Go's duplicate-field error, from the exact decoder.
    assert not agree(body_of({"model": MODEL, "conversation_id": "a", "conversationId": "b"}))
    deep = {"model": MODEL, "output": [{"parts": [{"toolResult": {"content": "c", "isError": True}}]}]}
    assert agree(body_of({**deep, "stopReason": "x"}))
    twice = {"model": MODEL, "stopReason": "x", "usage": {"inputTokens": "1", "input_tokens": "2"}}
    assert not agree(body_of(twice))


def test_per_item_rules_and_defaults_match() -> None:
    items: list[dict[str, Any]] = [
        {"id": "a", "model": MODEL},
        {"model": MODEL, "mode": "GENERATION_MODE_STREAM"},
        {"id": "b"},
        {"id": "c", "model": {"provider": "p"}},
        {"id": "d", "model": {"name": "n"}},
        {"id": "e", "model": {}},
        {"id": "f", "model": MODEL, "mode": 7},
        {"id": "g", "model": MODEL, "operation_name": "custom", "started_at": "2026-01-01T00:00:00Z"},
        {"id": "h", "model": None},
    ]
    assert agree(body_of(*items))


# Values protobuf's constructor would take where protobuf-go refuses the body (or reads it
# otherwise): the fast path must decline every one of them.
LENIENT = [
    {"thinking_enabled": 1},
    {"thinking_enabled": 0},
    {"temperature": True},
    {"top_p": False},
    {"parent_generation_ids": "abc"},
    {"parent_generation_ids": {"a": 1}},
    {"tags": [["a", "b"]]},
    {"tags": ["ab"]},
    {"output": [{"parts": [{"text": "a", "thinking": "b"}]}]},
    {"output": [{"parts": [{"tool_call": {}, "text": ""}]}]},
    {"output": [{"parts": [{"tool_result": {"is_error": 1}}]}]},
    {"tools": [{"name": "t", "deferred": 1}]},
    {"input": "x"},
    {"usage": [1]},
]


@pytest.mark.parametrize("fields", LENIENT)
def test_constructor_leniencies_are_declined(fields: dict[str, Any]) -> None:
    body = body_of({"model": MODEL, **fields})
    assert sn.decode_generations_json_native(body) is None
    with pytest.raises(SigilDecodeError):
        sigil.decode_generations_json(body)


# The wire sheet's value forms (see test_sigil_json), valid and invalid, field by field.
VARIANTS: dict[str, list[Any]] = {
    "max_tokens": [12, "12", 1e3, "1e3", "1.50e1", 1.0, "-0", "-12", 2**63 - 1, str(-(2**63)), "1.5", " 12", "012"],
    "usage": [
        {"input_tokens": "12", "output_tokens": 3, "cache_creation_input_tokens": "4"},
        {"input_tokens": 2**63},
        {"input_tokens": True},
        {"input_semantics": "TOKEN_INPUT_SEMANTICS_INCLUSIVE", "total_tokens": "0x10"},
        {"input_semantics": 1, "reasoning_tokens": None},
        {"inputTokens": "1"},
        {"bogus": 1},
        {},
    ],
    "mode": ["GENERATION_MODE_STREAM", 2, 2.0, "SYNC", "2", True, 2.5, 2**31, 0, None],
    "temperature": [0.5, 1, "0.5", "NaN", "Infinity", "nan", "1e400", 1e300, None],
    "started_at": [
        "2026-11-23T09:00:00Z",
        "2026-11-23T09:00:00.123456789+05:30",
        "2026-11-23T09:00:00-24:00",
        "0001-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-23 09:00:00Z",
        "2026-11-23T09:00:00.1234567890Z",
        1700000000,
        None,
    ],
    "metadata": [{"s": "x", "n": 1.5, "i": 3, "b": True, "z": None, "l": [1, {"d": [None]}]}, {"big": 2**60}, [1], "x"],
    "tags": [{"a": "b"}, {"a": None}, {"a": 1}, {}, None],
    "output": [
        [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": "x"}, {"thinking": "t"}]}],
        [{"parts": [{"tool_call": {"id": "c", "name": "n", "input_json": "eyJhIjoxfQ=="}}]}],
        [{"parts": [{"tool_call": {"input_json": "eyJhIjoxfQ"}}]}],
        [{"parts": [{"tool_call": {"input_json": "-_-_"}}]}],
        [{"parts": [{"tool_call": {"input_json": "not base64!"}}]}],
        [{"parts": [{"tool_result": {"content_json": "e30=", "is_error": True, "content": "c"}}]}],
        [{"parts": [{"text": None, "thinking": "t"}]}],
        [{"parts": [{"metadata": {"provider_type": "x"}, "text": "y"}]}],
        [{"parts": [{"media": {"kind": "image", "url": "u"}}]}],
        [{"parts": [None]}],
        [{"parts": [{}]}],
        [{"role": "MESSAGE_ROLE_NOPE"}],
        [None],
        {},
    ],
    "tools": [[{"name": "t", "input_schema_json": "e30=", "deferred": True}], [{"input_schema_json": "%%"}]],
    "raw_artifacts": [[{"kind": "ARTIFACT_KIND_REQUEST", "payload": "e30="}], [{"kind": 9, "payload": 5}]],
    "parent_generation_ids": [["a", "b"], [None], [], None],
    "thinking_enabled": [True, False, None, "true"],
    "id": ["x", "", 5, None, {}],
    "model": [MODEL, "x", [], None],
}


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in VARIANTS.items() for v in values])
def test_every_value_form_agrees(field: str, value: Any) -> None:
    agree(body_of({"model": MODEL, field: value}))


def test_body_level_errors_go_the_exact_way() -> None:
    for body in (b"", b"[]", b"null", b'{"generations":{}}', b'{"foo":1}', b'{"generations":[1]}', b"{} {}"):
        assert not agree(body)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in VARIANTS.items()}))
def test_generated_generations_agree(generation: dict[str, Any]) -> None:
    agree(body_of(generation, {"id": "fixed", "model": MODEL}))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in VARIANTS.items()}))
def test_generated_lower_camel_generations_agree(generation: dict[str, Any]) -> None:
    # Metadata and tags keys are the user's: renaming them too only makes other keys.
    agree(body_of(lower_camel(generation), {"id": "fixed", "model": MODEL}))


@settings(max_examples=EXAMPLES, deadline=None)
@given(mutated(sdk_body()))
def test_mutated_bodies_agree(body: bytes) -> None:
    agree(body)


# --------------------------------------------------------------------------- gRPC


def _grpc_agree(data: bytes) -> None:
    exact, native = _both(sigil.decode_generations_grpc, sn.decode_generations_grpc_native, data)
    assert (exact is None) == (native is None)
    if exact is not None:
        assert _as_records(native) == exact


def test_grpc_pass_through_agrees() -> None:
    generations = [rich_generation() for _ in range(6)]
    generations[1].id = ""
    generations[2].mode = pb.GENERATION_MODE_UNSPECIFIED
    generations[2].operation_name = ""
    generations[3].ClearField("started_at")
    generations[3].ClearField("completed_at")
    generations[4].ClearField("model")
    generations[5].mode = 9  # type: ignore[assignment]
    _grpc_agree(pb.ExportGenerationsRequest(generations=generations).SerializeToString())


@settings(max_examples=EXAMPLES, deadline=None)
@given(mutated(sdk_body(camel=True)))
def test_mutated_lower_camel_bodies_agree(body: bytes) -> None:
    agree(body)


@settings(max_examples=EXAMPLES, deadline=None)
@given(mutated(pb.ExportGenerationsRequest(generations=[rich_generation()]).SerializeToString()))
def test_mutated_grpc_bodies_agree(data: bytes) -> None:
    _grpc_agree(data)


# --------------------------------------------------------------------------- sending


@pytest.mark.parametrize("text_size", [0, 50, 200, 20_000, 3_000_000])
def test_request_bytes_are_the_request_message(text_size: int) -> None:
    messages = [rich_generation(), pb.Generation(id="x", system_prompt="s" * text_size)]
    sent = sn.SigilGenerations(messages).request_bytes()
    # Map entries (tags, metadata) have no fixed order on the wire: compare the messages.
    assert pb.ExportGenerationsRequest.FromString(sent) == pb.ExportGenerationsRequest(generations=messages)
    assert sent.endswith(messages[1].SerializeToString())


def test_the_legacy_cache_field_passes_through_unchanged() -> None:
    body = body_of({"id": "a", "model": MODEL, "usage": {"cache_creation_input_tokens": "7"}})
    items = sn.decode_generations_json_native(body)
    assert items is not None
    sent = pb.ExportGenerationsRequest.FromString(sn.SigilGenerations(accepted(items)).request_bytes())
    usage = sent.generations[0].usage
    assert usage.cache_creation_input_tokens == 7 and usage.cache_write_input_tokens == 0
    # The record path moves it to field 5; both read back as the same record.
    (record,) = sn.SigilGenerations(accepted(items)).materialize()
    assert record.usage.cache_write_input_tokens == 7


# --------------------------------------------------------------------------- sending as protojson


def _json_agrees(message: pb.Generation) -> None:
    record_path = sigil.encode_generations_json([sigil.generation_to_record(message)])
    assert sn.SigilGenerations([message]).request_json() == record_path


@settings(max_examples=EXAMPLES, deadline=None)
@given(generation_records)
def test_json_from_messages_is_the_record_paths_json(record: Record) -> None:
    _json_agrees(sigil.record_to_generation(record))


@settings(max_examples=EXAMPLES, deadline=None)
@given(mutated(pb.ExportGenerationsRequest(generations=[rich_generation()]).SerializeToString()))
def test_json_from_mutated_messages_is_the_record_paths_json(data: bytes) -> None:
    try:
        request = pb.ExportGenerationsRequest.FromString(data)
    except Exception:
        return
    for message in request.generations:
        _json_agrees(message)


def test_json_from_messages_edge_cases() -> None:
    g = rich_generation()
    g.id = ""  # a derived id, as the record path derives it
    g.mode = 9  # type: ignore[assignment]
    g.input.add(role=7).parts.add()  # an unknown role, a part without payload
    g.usage.cache_write_input_tokens = 0
    g.usage.cache_creation_input_tokens = 11  # the legacy field becomes field 5
    g.started_at.seconds, g.started_at.nanos = -62135596801, 0  # outside protojson's range
    g.temperature = float("nan")
    _json_agrees(g)
    _json_agrees(pb.Generation())
    for item in sn.decode_generations_json_native(sdk_body()) or []:
        assert isinstance(item, pb.Generation)
        _json_agrees(item)


# --------------------------------------------------------------------------- fitting hint


def _keeps_the_fitting_promise(body: bytes) -> None:
    """Generations the pre-pass calls not fittable need fitting for no schema target."""
    items = sn.decode_generations_json_native(body, now_ns=NOW_NS)
    if items is None or items.fittable:
        return
    for schema in SCHEMAS.values():
        assert not any(needs_fitting(g, schema) for g in accepted(items)), body


@pytest.mark.parametrize(
    ("fields", "fittable"),
    [
        ({}, False),
        ({"parent_generation_ids": ["p"]}, True),
        ({"parentGenerationIds": ["p"]}, True),
        ({"effective_version": "v2"}, True),
        ({"usage": {"input_tokens": "3", "input_semantics": "TOKEN_INPUT_SEMANTICS_INCLUSIVE"}}, True),
        ({"stopReason": "s", "usage": {"inputSemantics": "TOKEN_INPUT_SEMANTICS_INCLUSIVE"}}, True),
        ({"input": [{"parts": [{"text": "a"}, {"media": {"kind": "image", "url": "u"}}]}]}, True),
        ({"output": [{"parts": [{"media": {"kind": "image"}}]}]}, True),
        ({"output": [{"parts": [{"tool_call": {"name": "f"}}, {"thinking": "t"}]}]}, False),
    ],
)
def test_the_pre_pass_tells_which_bodies_need_fitting(fields: dict[str, Any], fittable: bool) -> None:
    body = body_of({"model": MODEL, **fields})
    items = sn.decode_generations_json_native(body, now_ns=NOW_NS)
    assert items is not None and items.fittable is fittable
    native = sn.SigilGenerations(accepted(items), fittable=items.fittable)
    fitted = native.fitted(SCHEMAS[DEFAULT_SCHEMA])
    assert (fitted is native) is (not fittable)
    # Joined with a batch that may need fitting, the hint is dropped.
    joined = sn.SigilGenerations(accepted(items), fittable=False).join([native])
    chunks = joined.chunks(1)
    assert joined.fittable is fittable
    assert all(isinstance(c, sn.SigilGenerations) and c.fittable is fittable for c in chunks)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in VARIANTS.items()}))
def test_generated_generations_keep_the_fitting_promise(generation: dict[str, Any]) -> None:
    _keeps_the_fitting_promise(body_of(generation, {"id": "fixed", "model": MODEL}))
    _keeps_the_fitting_promise(body_of(lower_camel(generation), {"id": "fixed", "model": MODEL}))


@settings(max_examples=EXAMPLES, deadline=None)
@given(mutated(sdk_body()))
def test_mutated_bodies_keep_the_fitting_promise(body: bytes) -> None:
    _keeps_the_fitting_promise(body)
