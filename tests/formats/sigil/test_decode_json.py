"""Sigil protojson request bodies: every row of the wire sheet's section 3, and Go's error texts."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats import sigil
from gateway.formats.sigil import ItemError, SigilDecodeError
from gateway.model import PartKind, Record
from tests.formats.sigil.fixtures import NOW_NS, rich_generation

MODEL = {"provider": "openai", "name": "gpt-5"}


def decode(generation: dict[str, Any]) -> Record:
    """Decodes one generation (with a valid model unless given) and returns its record."""
    body = orjson.dumps({"generations": [{"model": MODEL, **generation}]})
    (item,) = sigil.decode_generations_json(body, now_ns=NOW_NS)
    assert isinstance(item, Record), item
    return item


def error(body: bytes | dict[str, Any]) -> str:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(SigilDecodeError) as caught:
        sigil.decode_generations_json(raw)
    message = str(caught.value)
    assert message.startswith("proto: ")
    return message


def generation_error(generation: dict[str, Any]) -> str:
    return error({"generations": [generation]})


def test_snake_and_lower_camel_keys_are_both_accepted() -> None:
    snake = json_format.MessageToJson(rich_generation(), preserving_proto_field_name=True)
    camel = json_format.MessageToJson(rich_generation())
    assert '"conversationId"' in camel and '"conversation_id"' in snake
    as_snake = sigil.decode_generations_json(b'{"generations":[%s]}' % snake.encode())
    as_camel = sigil.decode_generations_json(b'{"generations":[%s]}' % camel.encode())
    assert as_snake == as_camel == [sigil.generation_to_record(rich_generation())]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"generations":[{"conversation_id":"a","conversationId":"b"}]}',
            'duplicate field "conversationId"',
        ),
        (
            b'{"generations":[{"conversationId":"a","conversation_id":"b"}]}',
            'duplicate field "conversation_id"',
        ),
        (
            b'{"generations":[{"usage":{"inputTokens":1,"input_tokens":null}}]}',
            'duplicate field "input_tokens"',
        ),
        (b'{"generations":[],"generations":[]}', None),  # same spelling: invisible after orjson
    ],
)
def test_duplicate_fields(body: bytes, message: str | None) -> None:
    if message is None:
        assert sigil.decode_generations_json(body) == []  # known deviation from Go
    else:
        assert message in error(body)


def test_duplicate_error_has_gos_position() -> None:
    body = b'{"generations":[{"conversation_id":"a",\n "conversationId":"b"}]}'
    assert error(body) == 'proto: (line 2:2): duplicate field "conversationId"'


@pytest.mark.parametrize("mode", ["GENERATION_MODE_STREAM", 2, 2.0, 20e-1])
def test_enum_by_name_or_number(mode: Any) -> None:
    assert decode({"mode": mode}).stream is True


def test_unknown_enum_number_is_rejected_per_item() -> None:
    body = orjson.dumps({"generations": [{"id": "bad", "model": MODEL, "mode": 3}, {"id": "ok", "model": MODEL}]})
    bad, ok = sigil.decode_generations_json(body)
    assert bad == ItemError("bad", "generation.mode is invalid")
    assert isinstance(ok, Record)
    # Unknown numbers elsewhere are kept (proto3 enums are open).
    assert decode({"rawArtifacts": [{"kind": 9}]}).artifacts[0].kind == 9


@pytest.mark.parametrize("value", ["SYNC", "generation_mode_sync", "2", True, 2.5, 2**31])
def test_enum_rejects(value: Any) -> None:
    message = generation_error({"mode": value})
    assert f"invalid value for enum type: {orjson.dumps(value).decode()}" in message


def test_enum_unknown_name_message_is_exact() -> None:
    assert generation_error({"mode": "SYNC"}) == 'proto: (line 1:25): invalid value for enum type: "SYNC"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        ("12", 12),
        (1e3, 1000),
        ("1e3", 1000),
        ("1.50e1", 15),
        (1.0, 1),
        ("-0", 0),
        ("-12", -12),
        (2**63 - 1, 2**63 - 1),
        (str(-(2**63)), -(2**63)),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_int64_forms(value: Any, expected: int) -> None:
    assert decode({"usage": {"inputTokens": value}, "maxTokens": value}).max_tokens == expected


@pytest.mark.parametrize("value", ["1.5", 1.5, " 12", "12 ", "012", "0x10", "1e", "", True, [], {}, 2**63, "1e19"])
def test_int64_rejects(value: Any) -> None:
    assert "invalid value for int64 type" in generation_error({"max_tokens": value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), ("0.5", 0.5), (1, 1.0), ("Infinity", math.inf), ("-Infinity", -math.inf), ("1e2", 100.0)],
)
def test_double_forms(value: Any, expected: float) -> None:
    assert decode({"temperature": value}).temperature == expected


def test_double_nan() -> None:
    temperature = decode({"temperature": "NaN"}).temperature
    assert temperature is not None and math.isnan(temperature)


@pytest.mark.parametrize("value", ["nan", "inf", " 1", "1e400", "0x1p3", True, "", "--1"])
def test_double_rejects(value: Any) -> None:
    assert "invalid value for double type" in generation_error({"top_p": value})


def test_bool_must_be_a_json_bool() -> None:
    assert decode({"thinkingEnabled": False}).thinking_enabled is False
    message = generation_error({"thinking_enabled": "true"})
    assert message == 'proto: (line 1:37): invalid value for bool type: "true"'
    assert "invalid value for bool type: 1" in generation_error({"thinking_enabled": 1})


PAYLOAD = b'{"city":"Paris"}\xff\xfe'  # 18 bytes: base64 without padding
SHORT = b"\xfb\xff\xbf{}"  # base64 "+/+/e30=": padded, and the alphabets differ
STD = base64.b64encode(PAYLOAD).decode()


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        (base64.b64encode(SHORT).decode(), SHORT),
        (base64.b64encode(SHORT).decode().rstrip("="), SHORT),
        (base64.urlsafe_b64encode(SHORT).decode(), SHORT),
        (base64.urlsafe_b64encode(SHORT).decode().rstrip("="), SHORT),
        (STD, PAYLOAD),
        (STD[:8] + "\n" + STD[8:], PAYLOAD),  # Go ignores CR/LF
    ],
)
def test_bytes_fields_take_base64_in_either_alphabet(text: str, payload: bytes) -> None:
    record = decode(
        {
            "tools": [{"inputSchemaJson": text}],
            "rawArtifacts": [{"payload": text}],
            "output": [{"parts": [{"toolCall": {"inputJson": text}}, {"toolResult": {"contentJson": text}}]}],
        }
    )
    call, result = record.output[0].parts
    assert record.tools[0].input_schema_json == payload == record.artifacts[0].payload
    assert call.tool_input_json == payload == result.tool_result_json


@pytest.mark.parametrize(
    "text",
    ['{"city":"Paris"}', "QUJD=", "QQ=", "Q", "QU-/", "QUJD\t", "=QUJD", STD[:8] + "\n" + STD[8:-1] + "=", 7],
)
@pytest.mark.parametrize(
    "field",
    [
        lambda v: {"tools": [{"input_schema_json": v}]},
        lambda v: {"raw_artifacts": [{"payload": v}]},
        lambda v: {"output": [{"parts": [{"tool_call": {"input_json": v}}]}]},
        lambda v: {"output": [{"parts": [{"tool_result": {"content_json": v}}]}]},
    ],
)
def test_bytes_reject_anything_else(text: Any, field: Any) -> None:
    assert "invalid value for bytes type" in generation_error(field(text))


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-03-01T09:00:00Z", 1_772_355_600_000_000_000),
        ("2026-03-01T10:30:00+01:30", 1_772_355_600_000_000_000),
        ("2026-03-01T04:00:00.123456789-05:00", 1_772_355_600_123_456_789),
        ("2026-03-01T09:00:00.5Z", 1_772_355_600_500_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000_000_000),
        ("9999-12-31T23:59:59.999999999Z", 253_402_300_799_999_999_999),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
        # Go's fallback parser allows a 24-hour offset.
        ("2026-03-01T09:00:00+24:00", 1_772_269_200_000_000_000),
    ],
)
def test_timestamps_any_offset_to_utc(text: str, ns: int) -> None:
    record = decode({"startedAt": text, "completed_at": text})
    assert record.start_ns == record.end_ns == ns


INVALID = 'invalid google.protobuf.Timestamp value "{}"'
OUT_OF_RANGE = 'google.protobuf.Timestamp value out of range: "{}"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-03-01T09:00:00.1234567891Z", INVALID),
        ("2026-02-29T00:00:00Z", INVALID),
        ("2026-03-01 09:00:00Z", INVALID),
        ("2026-03-01T09:00:00", INVALID),
        ("2026-03-01T24:00:00Z", INVALID),
        ("2026-03-01T09:00:60Z", INVALID),
        ("2026-03-01T09:00:00+25:00", INVALID),
        ("2026-03-01t09:00:00z", INVALID),
        ("2026-03-01T09:00:00.Z", INVALID),
        ("0000-12-31T23:00:00Z", OUT_OF_RANGE),
        ("0001-01-01T00:00:00+00:01", OUT_OF_RANGE),
        ("9999-12-31T23:59:59-00:01", OUT_OF_RANGE),
    ],
)
def test_timestamp_rejects(text: str, message: str) -> None:
    assert generation_error({"started_at": text}).endswith(message.format(text))


def test_timestamp_must_be_a_string() -> None:
    assert generation_error({"started_at": 5}) == "proto: syntax error (line 1:31): unexpected token 5"


def test_null_means_unset() -> None:
    record = decode(
        {
            "id": None,
            "mode": None,
            "usage": None,
            "temperature": None,
            "thinking_enabled": None,
            "startedAt": None,
            "metadata": None,
            "tags": None,
            "input": None,
            "output": [{"parts": [{"text": None, "thinking": "t"}]}],
        }
    )
    assert record.id.startswith("gen-") and record.stream is False and record.temperature is None
    assert record.thinking_enabled is None and record.start_ns == NOW_NS and record.metadata == {}
    assert record.output[0].parts[0].kind is PartKind.THINKING
    (item,) = sigil.decode_generations_json(b'{"generations":[{"id":"x","model":null}]}')
    assert item == ItemError("x", "generation.model is required")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"generations": [None]}, "unexpected token null"),
        ({"generations": [{"parent_generation_ids": [None]}]}, "invalid value for string type: null"),
        ({"generations": [{"tags": {"a": None}}]}, "invalid value for string type: null"),
    ],
)
def test_null_inside_lists_and_maps_is_an_error(body: dict[str, Any], message: str) -> None:
    assert message in error(body)


def test_struct_fields_take_any_json_object() -> None:
    metadata = {"s": "x", "n": 1.5, "i": 3, "b": True, "z": None, "l": [1, {"deep": [None]}], "o": {}}
    record = decode({"metadata": metadata})
    assert record.metadata == metadata
    assert "unexpected token [" in generation_error({"metadata": [1]})
    step = orjson.dumps({"workflowSteps": [{"id": "w", "conversationId": "c", "stepName": "s", "inputState": {}}]})
    (item,) = sigil.decode_workflow_steps_json(step)
    assert isinstance(item, Record) and item.input_state == {} and item.output_state is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"foo":1}', 'proto: (line 1:2): unknown field "foo"'),
        (b'{"generations":[{"usage":{"cacheCreationInputTokens":1,"bogus":2}}]}', 'unknown field "bogus"'),
        (b'{"generations":[{"Id":"x"}]}', 'unknown field "Id"'),
    ],
)
def test_unknown_fields(body: bytes, message: str) -> None:
    assert message in error(body)


@pytest.mark.parametrize(
    "part",
    [
        {"text": "a", "thinking": "b"},
        {"toolCall": {}, "text": ""},
        {"media": {"kind": "image"}, "tool_result": {}},
    ],
)
def test_two_oneof_members(part: dict[str, Any]) -> None:
    message = generation_error({"output": [{"parts": [part]}]})
    assert "oneof sigil.v1.Part.payload is already set" in message


def test_oneof_error_text_and_position() -> None:
    body = b'{"generations":[{"output":[{"parts":[{"text":"a","thinking":"b"}]}]}]}'
    assert error(body) == ('proto: (line 1:50): error parsing "thinking", oneof sigil.v1.Part.payload is already set')


def test_empty_object_is_an_empty_request() -> None:
    assert sigil.decode_generations_json(b"{}") == []
    assert sigil.decode_generations_json(b' {"generations": []} ') == []
    assert sigil.decode_workflow_steps_json(b"{}") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "proto: syntax error (line 1:1): unexpected token"),
        (b"  \n ", "proto: syntax error (line 2:2): unexpected token"),
        (b'{"generations":[', "proto: unexpected EOF"),
        (b'{"generations":[{"id":"a"', "proto: unexpected EOF"),
        (b'{"gen', "proto: unexpected EOF"),
        (b"[]", "proto: syntax error (line 1:1): unexpected token ["),
        (b"null", "proto: syntax error (line 1:1): unexpected token null"),
        (b' "x"', 'proto: syntax error (line 1:2): unexpected token "x"'),
        (b'{"generations":{}}', "proto: syntax error (line 1:16): unexpected token {"),
        (b'{"generations":[1,]}', "proto: syntax error (line 1:19): unexpected token ]"),
        (b"{} {}", "proto: syntax error (line 1:4): unexpected token {"),
        (b'{"a":tru}', "proto: syntax error (line 1:6): invalid value tru"),
        (b'{"generations":[{"id":"\xff"}]}', "proto: syntax error (line 1:23): invalid UTF-8 in string"),
    ],
)
def test_body_level_errors(body: bytes, message: str) -> None:
    assert error(body).startswith(message)


def test_wrong_container_types() -> None:
    assert 'unexpected token "x"' in generation_error({"model": "x"})
    assert "unexpected token {" in generation_error({"input": {}})
    assert "invalid value for string type: 5" in generation_error({"id": 5})
    assert "invalid value for string type: {" in generation_error({"id": {}})


def test_workflow_steps_accept_both_spellings_and_reject_generation_keys() -> None:
    body = b'{"workflow_steps":[{"id":"w","conversation_id":"c","stepName":"s","linkedGenerationIds":["g"]}]}'
    (item,) = sigil.decode_workflow_steps_json(body)
    assert isinstance(item, Record) and item.linked_generation_ids == ["g"]
    with pytest.raises(SigilDecodeError, match='unknown field "generations"'):
        sigil.decode_workflow_steps_json(b'{"generations":[]}')


# --------------------------------------------------------------------------- robustness

field_names = st.sampled_from(
    [
        *("generations", "id", "model", "mode", "usage", "inputTokens", "output", "parts", "text"),
        *("thinking", "started_at", "metadata", "tags", "provider", "name", "role", "temperature"),
        *("bogus", "tool_call"),
    ]
)
json_trees: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(field_names, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_trees)
def test_any_json_decodes_or_raises_a_decode_error(tree: Any) -> None:
    try:
        body = orjson.dumps(tree)
    except TypeError:  # integers beyond 64 bits
        return
    try:
        items = sigil.decode_generations_json(body)
    except SigilDecodeError as exc:
        assert str(exc).startswith("proto: ")
        return
    assert all(isinstance(item, (Record, ItemError)) for item in items)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["snake", "camel"]), st.integers(min_value=0, max_value=2**62), st.text(max_size=6))
def test_json_path_matches_protobufs_own_parser(spelling: str, count: int, text: str) -> None:
    generation = rich_generation()
    generation.usage.output_tokens = count
    generation.output[0].parts[2].text = text
    request = pb.ExportGenerationsRequest(generations=[generation])
    body = json_format.MessageToJson(request, preserving_proto_field_name=spelling == "snake").encode()
    parsed = json_format.Parse(body, pb.ExportGenerationsRequest())
    assert sigil.decode_generations_json(body) == [sigil.generation_to_record(parsed.generations[0])]
