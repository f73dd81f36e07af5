"""Sigil schema targets: each writes only the fields its server knows, and inclusive usage is
converted to the exclusive form for targets without input_semantics."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats import sigil as sf
from gateway.formats.sigil.native import SigilGenerations, frame_request
from gateway.formats.sigil.targets import DEFAULT_SCHEMA, SCHEMAS, fit_message
from gateway.model import Message, Part, PartKind, Record, Role, Usage
from tests.formats.sigil.fixtures import generation_records

# sigil.v1 Generation fields 1-28 (the March 2026 server) and what later targets add.
MARCH_FIELDS = {
    "id", "conversation_id", "operation_name", "mode", "trace_id", "span_id", "model", "response_id",
    "response_model", "system_prompt", "input", "output", "tools", "usage", "stop_reason", "started_at",
    "completed_at", "tags", "metadata", "raw_artifacts", "call_error", "agent_name", "agent_version",
    "max_tokens", "temperature", "top_p", "tool_choice", "thinking_enabled",
}  # fmt: skip
LINEAGE = {"parent_generation_ids", "effective_version"}
MARCH_USAGE = {
    "input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
    "reasoning_tokens",
}  # fmt: skip


def _record() -> Record:
    # What an OTLP source gives: inclusive usage (gen_ai.usage.input_tokens counts cached tokens).
    return Record(
        id="g1",
        provider="openai",
        model="gpt-4o",
        input=[
            Message(
                Role.USER,
                [
                    Part(PartKind.TEXT, text="look"),
                    Part(PartKind.MEDIA, media_kind="image", media_url="https://x/i.png"),
                ],
            )
        ],
        usage=Usage(
            input_tokens=100,
            output_tokens=50,
            total_tokens=150,
            cache_read_input_tokens=30,
            cache_write_input_tokens=10,
            reasoning_tokens=20,
            input_includes_cache=True,
        ),
        parent_generation_ids=["g0"],
        effective_version="sha256:abc",
    )


def _generation(schema: str) -> dict[str, Any]:
    body = orjson.loads(sf.encode_generations_json([_record()], SCHEMAS[schema]))
    [generation] = body["generations"]
    assert isinstance(generation, dict)
    return generation


def test_default_is_the_march_server() -> None:
    assert DEFAULT_SCHEMA == "sigil-2026-03"


def test_march_target_writes_only_march_fields_and_exclusive_usage() -> None:
    g = _generation("sigil-2026-03")
    assert set(g) <= MARCH_FIELDS
    assert set(g["usage"]) <= MARCH_USAGE  # no input_semantics: the March server refuses it
    assert g["usage"] == {
        "input_tokens": "60",  # 100 - 30 read - 10 written
        "output_tokens": "30",  # 50 - 20 reasoning
        "total_tokens": "150",
        "cache_read_input_tokens": "30",
        "cache_write_input_tokens": "10",
        "reasoning_tokens": "20",
    }
    assert [list(p) for p in g["input"][0]["parts"]] == [["text"]]  # no media part


def test_sdk_target_keeps_lineage_but_not_input_semantics() -> None:
    g = _generation("sdk-0.9")
    assert set(g) <= MARCH_FIELDS | LINEAGE and set(g) >= LINEAGE
    assert "input_semantics" not in g["usage"] and g["usage"]["input_tokens"] == "60"


def test_agento11y_target_keeps_everything() -> None:
    g = _generation("agento11y-2026-08")
    assert set(g) >= LINEAGE
    assert g["usage"]["input_semantics"] == "TOKEN_INPUT_SEMANTICS_INCLUSIVE"
    assert g["usage"]["input_tokens"] == "100"


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_grpc_request_matches_the_json_body(schema: str) -> None:
    [message] = sf.generations_request([_record()], SCHEMAS[schema]).generations
    as_json = orjson.loads(sf.encode_generations_json([_record()], SCHEMAS[schema]))["generations"][0]
    assert message.usage.input_tokens == int(as_json["usage"]["input_tokens"])
    assert bool(message.parent_generation_ids) == ("parent_generation_ids" in as_json)
    assert message.HasField("effective_version") == ("effective_version" in as_json)


def test_pass_through_messages_are_fitted_on_a_copy() -> None:
    [original] = sf.generations_request([_record()]).generations
    native = SigilGenerations([original])
    fitted = native.fitted(SCHEMAS["sigil-2026-03"])
    [message] = fitted.messages
    assert not message.parent_generation_ids and not message.HasField("effective_version")
    assert message.usage.input_tokens == 60 and message.usage.input_semantics == 0
    assert len(message.input[0].parts) == 1
    # The shared message (other fan-out branches hold it) is untouched.
    assert original.usage.input_tokens == 100 and list(original.parent_generation_ids) == ["g0"]
    assert len(original.input[0].parts) == 2
    body = orjson.loads(fitted.request_json(SCHEMAS["sigil-2026-03"]))
    assert set(body["generations"][0]) <= MARCH_FIELDS


def test_nothing_to_fit_is_not_copied() -> None:
    g = pb.Generation(id="x", usage=pb.TokenUsage(input_tokens=3))
    assert fit_message(g, SCHEMAS["sigil-2026-03"]) is g
    native = SigilGenerations([g])
    assert native.fitted(SCHEMAS["sigil-2026-03"]) is native


def test_no_usage_stays_no_usage() -> None:
    # A generation sent without usage used to gain an empty one on the record (fan-out) path,
    # which a server reads as counts of zero.
    record = Record(id="g", provider="openai", model="gpt-4o")
    body = orjson.loads(sf.encode_generations_json([record]))
    assert "usage" not in body["generations"][0]
    [message] = sf.generations_request([record]).generations
    assert not message.HasField("usage")
    native = SigilGenerations([pb.Generation(id="g", model=pb.ModelRef(provider="openai", name="gpt-4o"))])
    assert "usage" not in orjson.loads(native.request_json())["generations"][0]


def test_agento11y_user_and_title_keys_are_read_and_stripped_by_metadata_only() -> None:
    from gateway.formats.sigil import decode_generations_json
    from gateway.processors.content import apply

    metadata = {"agento11y.conversation.title": "secret title", "agento11y.user.id": "u1"}
    body = orjson.dumps({"generations": [{"id": "g", "model": {"provider": "p", "name": "m"}, "metadata": metadata}]})
    [record] = decode_generations_json(body)
    assert isinstance(record, Record)
    assert (record.user_id, record.conversation_title) == ("u1", "secret title")
    apply(record, "metadata_only", 0)
    assert record.conversation_title == "" and "agento11y.conversation.title" not in record.metadata
    assert b"secret title" not in sf.encode_generations_json([record])


@settings(max_examples=25, deadline=None)
@given(st.lists(generation_records, max_size=4), st.sampled_from(sorted(SCHEMAS)))
def test_generation_items_frame_into_the_request(generated: list[Record], schema: str) -> None:
    records = [_record(), *generated]
    items = sf.generation_items(records, SCHEMAS[schema])
    assert len(items) == len(records)
    # Equal as messages: map entries may serialize in another order.
    sent = pb.ExportGenerationsRequest.FromString(frame_request(items))
    assert sent == sf.generations_request(records, SCHEMAS[schema])
