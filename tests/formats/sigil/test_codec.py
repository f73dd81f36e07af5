"""Sigil generations and workflow steps: server rules, Record <-> proto, SDK interop, responses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from sigil_sdk import models as sdk
from sigil_sdk.proto_mapping import generation_to_proto, workflow_step_to_proto

from gateway._proto.agento11y.v1 import generation_ingest_pb2 as agento11y_pb
from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats import sigil
from gateway.formats.sigil import ExportResult, ItemError, SigilDecodeError
from gateway.formats.sigil.common import outgoing_id
from gateway.model import Kind, Message, Part, PartKind, Record, Role, Status
from tests.formats import record_strategies
from tests.formats.sigil.fixtures import (
    NOW_NS,
    T0,
    generation_records,
    rich_generation,
    rich_workflow_step,
    sdk_pb,
    workflow_step_records,
)

Decode = Callable[[pb.ExportGenerationsRequest], list[Record | ItemError]]


def via_grpc(request: pb.ExportGenerationsRequest) -> list[Record | ItemError]:
    return sigil.decode_generations_grpc(request.SerializeToString(), now_ns=NOW_NS)


def via_json(request: pb.ExportGenerationsRequest) -> list[Record | ItemError]:
    body = json_format.MessageToJson(request).encode()  # lowerCamel keys
    return sigil.decode_generations_json(body, now_ns=NOW_NS)


TRANSPORTS = [pytest.param(via_grpc, id="grpc"), pytest.param(via_json, id="json")]


def one(decode: Decode, generation: pb.Generation) -> Record | ItemError:
    (item,) = decode(pb.ExportGenerationsRequest(generations=[generation]))
    return item


def unknown_enum(number: int) -> Any:
    # proto3 enums are open: any number goes on the wire, though the stubs only admit known ones.
    return number


def valid(**fields: Any) -> pb.Generation:
    return pb.Generation(model=pb.ModelRef(provider="openai", name="gpt-5"), **fields)


# --------------------------------------------------------------------------- server rules


@pytest.mark.parametrize("decode", TRANSPORTS)
def test_defaults(decode: Decode) -> None:
    first, second, streamed = decode(
        pb.ExportGenerationsRequest(generations=[valid(), valid(), valid(mode=pb.GENERATION_MODE_STREAM)])
    )
    assert isinstance(first, Record) and isinstance(second, Record) and isinstance(streamed, Record)
    ids = [uuid.UUID(r.id.removeprefix("gen-")) for r in (first, second, streamed)]
    assert len(set(ids)) == 3 and all(u.version == 7 for u in ids)
    assert (first.stream, first.operation) == (False, "generateText")
    assert (streamed.stream, streamed.operation) == (True, "streamText")
    assert (first.start_ns, first.end_ns) == (NOW_NS, NOW_NS)


@pytest.mark.parametrize("decode", TRANSPORTS)
def test_values_that_need_no_default_are_kept(decode: Decode) -> None:
    generation = valid(id="g1", operation_name="chat", mode=pb.GENERATION_MODE_SYNC)
    generation.started_at.seconds = T0
    generation.completed_at.seconds = T0 + 1
    record = one(decode, generation)
    assert isinstance(record, Record)
    assert (record.id, record.operation, record.stream) == ("g1", "chat", False)
    assert (record.start_ns, record.end_ns) == (T0 * 10**9, (T0 + 1) * 10**9)


@pytest.mark.parametrize("decode", TRANSPORTS)
@pytest.mark.parametrize(
    ("generation", "error"),
    [
        (pb.Generation(id="g", mode=unknown_enum(5)), "generation.model is required"),
        (pb.Generation(id="g", model=pb.ModelRef(name="x")), "generation.model.provider is required"),
        (pb.Generation(id="g", model=pb.ModelRef()), "generation.model.provider is required"),
        (pb.Generation(id="g", model=pb.ModelRef(provider="p")), "generation.model.name is required"),
        (
            pb.Generation(id="g", model=pb.ModelRef(provider="p", name="n"), mode=unknown_enum(3)),
            "generation.mode is invalid",
        ),
    ],
)
def test_validation(decode: Decode, generation: pb.Generation, error: str) -> None:
    assert one(decode, generation) == ItemError("g", error)


@pytest.mark.parametrize("decode", TRANSPORTS)
def test_validation_does_not_trim_and_rejected_items_keep_their_defaulted_id(decode: Decode) -> None:
    blank = one(decode, pb.Generation(model=pb.ModelRef(provider=" ", name="\t")))
    assert isinstance(blank, Record) and blank.provider == " "
    rejected = one(decode, pb.Generation(model=pb.ModelRef(provider="p")))
    assert isinstance(rejected, ItemError) and rejected.id.startswith("gen-")


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (pb.WorkflowStep(conversation_id="c", step_name="s"), "id is required"),
        (pb.WorkflowStep(id=" ", conversation_id="c", step_name="s"), "id is required"),
        (pb.WorkflowStep(id="w", conversation_id="\n", step_name="s"), "conversation_id is required"),
        (pb.WorkflowStep(id="w", conversation_id="c"), "step_name is required"),
    ],
)
def test_workflow_step_validation(step: pb.WorkflowStep, error: str) -> None:
    request = pb.ExportWorkflowStepsRequest(workflow_steps=[step])
    assert sigil.decode_workflow_steps_grpc(request.SerializeToString())[0] == ItemError(step.id, error)
    body = json_format.MessageToJson(request).encode()
    assert sigil.decode_workflow_steps_json(body)[0] == ItemError(step.id, error)


def test_workflow_step_times_must_not_run_backwards() -> None:
    step = pb.WorkflowStep(id="w", conversation_id="c", step_name="s")
    step.started_at.seconds = T0
    step.completed_at.seconds = T0 - 1
    request = pb.ExportWorkflowStepsRequest(workflow_steps=[step])
    (item,) = sigil.decode_workflow_steps_grpc(request.SerializeToString())
    assert item == ItemError("w", "completed_at must not be earlier than started_at")


def test_export_results_and_response_bodies() -> None:
    record = Record(id="g1")
    results = sigil.export_results([record, ItemError("g2", "generation.model.provider is required")])
    assert results == [
        ExportResult("g1", True),
        ExportResult("g2", False, "generation.model.provider is required"),
    ]
    body = sigil.encode_generations_response_json(results)
    assert orjson.loads(body) == {
        "results": [
            {"generation_id": "g1", "accepted": True},
            {"generation_id": "g2", "error": "generation.model.provider is required"},
        ]
    }
    assert sigil.encode_generations_response_json([]) == b"{}"
    steps = orjson.loads(sigil.encode_workflow_steps_response_json([ExportResult("w", True)]))
    assert steps == {"results": [{"step_id": "w", "accepted": True}]}
    assert sigil.decode_generations_response_json(body) == results
    message = sigil.generations_response(results)
    assert pb.ExportGenerationsResponse.FromString(message.SerializeToString()) == message
    assert sigil.results_from_generations_response(message) == results
    assert sigil.results_from_workflow_steps_response(sigil.workflow_steps_response(results)) == results


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{}", []),
        (
            b'{"results":[{"generationId":"a","accepted":true,"status":"accepted"}]}',
            [ExportResult("a", True)],
        ),
        (b'{"results":[{"generation_id":"b","error":"no"}]}', [ExportResult("b", False, "no")]),
        (b'{"results":[{}]}', [ExportResult("", False)]),
    ],
)
def test_decode_response_is_lenient_like_the_sdk(body: bytes, expected: list[ExportResult]) -> None:
    assert sigil.decode_generations_response_json(body) == expected


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"results":{}}', b'{"results":[1]}'])
def test_decode_response_rejects_what_the_sdk_retries(body: bytes) -> None:
    with pytest.raises(SigilDecodeError, match=r"^proto: "):
        sigil.decode_generations_response_json(body)


def test_workflow_step_response_spellings() -> None:
    body = b'{"results":[{"stepId":"w1","accepted":true},{"step_id":"w2","error":"x"}]}'
    assert sigil.decode_workflow_steps_response_json(body) == [
        ExportResult("w1", True),
        ExportResult("w2", False, "x"),
    ]


# --------------------------------------------------------------------------- Record <-> proto


def test_rich_generation_maps_every_field() -> None:
    record = sigil.generation_to_record(rich_generation())
    assert (record.kind, record.id, record.operation, record.stream) == (
        Kind.LLM,
        "gen_0123456789abcdef",
        "streamText",
        True,
    )
    assert (record.provider, record.model) == ("anthropic", "claude-sonnet-4")
    assert (record.start_ns, record.end_ns) == (T0 * 10**9 + 250_000_000, (T0 + 2) * 10**9 + 1)
    assert (record.status, record.error_message) == (Status.ERROR, "rate limited (429)")
    assert (record.user_id, record.conversation_title) == ("user-7", "Paris weather")
    assert record.metadata["nested"] == {"list": [1, "two", None, True, 2.5]}
    assert (record.temperature, record.max_tokens, record.thinking_enabled) == (0.0, 1024, False)
    assert record.usage.cache_write_input_tokens == 150 and record.usage.input_includes_cache is True
    thinking, call, empty_text, media = record.output[0].parts
    assert (thinking.kind, thinking.text, thinking.provider_type) == (
        PartKind.THINKING,
        "Look it up.",
        "thinking",
    )
    assert (call.kind, call.tool_input_json) == (PartKind.TOOL_CALL, b'{"city":"Paris"}')
    assert (empty_text.kind, empty_text.text) == (PartKind.TEXT, "")
    assert (media.kind, media.media_url, media.media_mime_type) == (
        PartKind.MEDIA,
        "https://x.test/a.png",
        "image/png",
    )
    result = record.input[1].parts[0]
    assert (result.kind, result.tool_result_json, result.is_error) == (
        PartKind.TOOL_RESULT,
        b'{"sky":"clear"}',
        True,
    )
    assert record.tools[0].deferred and record.tools[1].input_schema_json == b""
    assert [a.kind for a in record.artifacts] == [1, 4]
    assert record.parent_generation_ids == ["gen_parent_a", "gen_parent_b"]
    assert record.effective_version is not None and record.effective_version.startswith("sha256:")


def test_rich_generation_round_trips_losslessly() -> None:
    generation = rich_generation()
    back = sigil.record_to_generation(sigil.generation_to_record(generation))
    assert back == generation
    assert back.SerializeToString(deterministic=True) == generation.SerializeToString(deterministic=True)


def test_unset_and_zero_values() -> None:
    record = sigil.generation_to_record(valid(usage=pb.TokenUsage(output_tokens=4)))
    assert record.usage.input_tokens is None and record.usage.output_tokens == 4
    assert record.temperature is None and record.max_tokens is None and record.effective_version is None
    assert record.stream is None and record.start_ns is None
    out = sigil.record_to_generation(record)
    assert not out.HasField("temperature") and not out.HasField("started_at")
    assert out.usage.input_tokens == 0 and out.usage.output_tokens == 4
    zero_time = Record(start_ns=0, temperature=0.0, max_tokens=0)
    out = sigil.record_to_generation(zero_time)
    assert out.HasField("started_at") and out.HasField("temperature") and out.HasField("max_tokens")


def test_legacy_cache_creation_tokens_fold_into_cache_write() -> None:
    legacy = sigil.generation_to_record(valid(usage=pb.TokenUsage(cache_creation_input_tokens=7)))
    assert legacy.usage.cache_write_input_tokens == 7
    both = sigil.generation_to_record(
        valid(usage=pb.TokenUsage(cache_write_input_tokens=5, cache_creation_input_tokens=7))
    )
    assert both.usage.cache_write_input_tokens == 5
    assert sigil.record_to_generation(legacy).usage.cache_creation_input_tokens == 0


def test_call_error_and_status() -> None:
    assert sigil.generation_to_record(valid(call_error="  ")).status is Status.OK
    assert sigil.record_to_generation(Record(status=Status.TIMEOUT)).call_error == "timeout"
    assert sigil.record_to_generation(Record(status=Status.ERROR, error_type="rate_limit")).call_error == "rate_limit"
    assert sigil.record_to_generation(Record(status=Status.OK)).call_error == ""


def test_metadata_projection() -> None:
    generation = valid()
    generation.metadata.update({"user.id": "u", "conversation_title": "t", "sigil.user.id": ""})
    record = sigil.generation_to_record(generation)
    assert (record.user_id, record.conversation_title) == ("u", "t")
    assert sigil.record_to_generation(record).metadata == generation.metadata  # nothing added
    out = sigil.record_to_generation(Record(user_id="u2", conversation_title="t2", metadata={"k": 1}))
    assert dict(out.metadata) == {"k": 1.0, "sigil.user.id": "u2", "sigil.conversation.title": "t2"}


def test_system_messages_become_the_system_prompt() -> None:
    system = Message(Role.SYSTEM, [Part(PartKind.TEXT, text="a"), Part(PartKind.TEXT, text="b")])
    user = Message(Role.USER, [Part(PartKind.TEXT, text="hi")])
    out = sigil.record_to_generation(Record(input=[system, user]))
    assert out.system_prompt == "a\n\nb" and [m.role for m in out.input] == [pb.MESSAGE_ROLE_USER]
    kept = sigil.record_to_generation(Record(system_prompt="own", input=[system]))
    assert kept.system_prompt == "own" and kept.input[0].role == pb.MESSAGE_ROLE_UNSPECIFIED


def test_workflow_step_round_trip() -> None:
    step = rich_workflow_step()
    record = sigil.workflow_step_to_record(step)
    assert (record.kind, record.name, record.status, record.error_message) == (
        Kind.WORKFLOW_STEP,
        "plan",
        Status.ERROR,
        "boom",
    )
    assert record.input_state == {"question": "why?", "depth": 2} and record.output_state == {}
    assert sigil.record_to_workflow_step(record) == step
    body = sigil.encode_workflow_steps_json([record])
    assert sigil.decode_workflow_steps_json(body) == [record]
    assert sigil.workflow_steps_request([record]).workflow_steps[0] == step


def test_agento11y_bytes_decode_with_the_same_schema() -> None:
    generation = agento11y_pb.Generation(
        id="g",
        model=agento11y_pb.ModelRef(provider="p", name="n"),
        usage=agento11y_pb.TokenUsage(input_tokens=10, input_semantics=agento11y_pb.TOKEN_INPUT_SEMANTICS_INCLUSIVE),
        output=[agento11y_pb.Message(parts=[agento11y_pb.Part(media=agento11y_pb.Media(kind="audio"))])],
    )
    data = agento11y_pb.ExportGenerationsRequest(generations=[generation]).SerializeToString()
    (record,) = sigil.decode_generations_grpc(data)
    assert isinstance(record, Record)
    assert record.usage.input_includes_cache is True
    assert record.output[0].parts[0].media_kind == "audio"


@pytest.mark.parametrize("data", [b"\xff\xff", b"\x0a\x05\x0a\x03\xff\xfe\xfd"])
def test_undecodable_grpc_bytes(data: bytes) -> None:
    with pytest.raises(SigilDecodeError, match=r"^proto: "):
        sigil.decode_generations_grpc(data)


# --------------------------------------------------------------------------- JSON encoding


def test_json_encoding_is_shaped_like_the_sdk() -> None:
    record = sigil.generation_to_record(rich_generation())
    body = sigil.encode_generations_json([record])
    (item,) = orjson.loads(body)["generations"]
    expected = json_format.MessageToDict(rich_generation(), preserving_proto_field_name=True)
    assert item == expected
    assert item["usage"]["input_tokens"] == "1200" and item["temperature"] == 0.0
    assert item["started_at"] == "2026-03-01T09:00:00.250Z" and item["completed_at"] == "2026-03-01T09:00:02.000000001Z"
    assert item["output"][0]["parts"][2] == {"text": ""}
    assert sigil.encode_generations_json([]) == b"{}"


def test_json_round_trip_of_the_rich_generation() -> None:
    record = sigil.generation_to_record(rich_generation())
    assert sigil.decode_generations_json(sigil.encode_generations_json([record])) == [record]


def test_non_finite_doubles_use_protojson_strings() -> None:
    item = orjson.loads(sigil.encode_generations_json([Record(temperature=float("nan"), top_p=float("-inf"))]))
    assert (item["generations"][0]["temperature"], item["generations"][0]["top_p"]) == ("NaN", "-Infinity")


def test_non_finite_struct_numbers() -> None:
    # protojson cannot write them (Go refuses to marshal); the proto path keeps them, JSON sends null.
    record = Record(metadata={"a": float("inf")})
    assert dict(sigil.record_to_generation(record).metadata) == {"a": float("inf")}
    assert orjson.loads(sigil.encode_generations_json([record]))["generations"][0]["metadata"] == {"a": None}


# --------------------------------------------------------------------------- the real SDK


def sdk_generation() -> sdk.Generation:
    started = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    return sdk.Generation(
        id="gen_00000000000000aa",
        conversation_id="conv",
        agent_name="agent",
        agent_version="v1",
        mode=sdk.GenerationMode.SYNC,
        operation_name="generateText",
        model=sdk.ModelRef(provider="openai", name="gpt-5"),
        response_id="resp",
        response_model="gpt-5-2026",
        system_prompt="sys",
        max_tokens=256,
        temperature=0.0,
        thinking_enabled=True,
        input=[sdk.Message(role=sdk.MessageRole.USER, parts=[sdk.Part(kind=sdk.PartKind.TEXT, text="q")])],
        output=[
            sdk.Message(
                role=sdk.MessageRole.ASSISTANT,
                parts=[
                    sdk.Part(kind=sdk.PartKind.THINKING, thinking="t", metadata=sdk.PartMetadata(provider_type="r")),
                    sdk.Part(
                        kind=sdk.PartKind.TOOL_CALL,
                        tool_call=sdk.ToolCall(name="f", id="c", input_json=b'{"a":1}'),
                    ),
                ],
            ),
            sdk.Message(
                role=sdk.MessageRole.TOOL,
                parts=[
                    sdk.Part(
                        kind=sdk.PartKind.TOOL_RESULT,
                        tool_result=sdk.ToolResult(tool_call_id="c", name="f", content_json=b"[1]"),
                    )
                ],
            ),
        ],
        tools=[sdk.ToolDefinition(name="f", type="function", input_schema_json=b"{}", deferred=True)],
        usage=sdk.TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15, reasoning_tokens=2),
        stop_reason="stop",
        started_at=started,
        completed_at=started + timedelta(milliseconds=1250),
        tags={"t": "v"},
        metadata={"sigil.sdk.name": "sdk-python", "sigil.user.id": "u", "count": 3},
        artifacts=[sdk.Artifact(kind=sdk.ArtifactKind.REQUEST, payload=b"{}")],
        call_error="",
        parent_generation_ids=["p"],
        effective_version="1.2.3",
    )


def test_sdk_json_decodes_and_reencodes_to_the_same_proto() -> None:
    sdk_proto = generation_to_proto(sdk_generation())
    item = json_format.MessageToDict(sdk_proto, preserving_proto_field_name=True)
    body = json.dumps({"generations": [item]}).encode()  # the SDK's own separators
    (record,) = sigil.decode_generations_json(body)
    assert isinstance(record, Record)
    assert record.user_id == "u" and record.metadata["count"] == 3
    ours = sigil.record_to_generation(record)
    assert ours == pb.Generation.FromString(sdk_proto.SerializeToString())
    assert ours.SerializeToString(deterministic=True) == sdk_proto.SerializeToString(deterministic=True)
    reencoded = orjson.loads(sigil.encode_generations_json([record]))["generations"][0]
    assert reencoded == item


def test_sdk_grpc_bytes_decode_like_its_json() -> None:
    sdk_proto = generation_to_proto(sdk_generation())
    data = sdk_pb.ExportGenerationsRequest(generations=[sdk_proto]).SerializeToString()
    body = json.dumps({"generations": [json_format.MessageToDict(sdk_proto, preserving_proto_field_name=True)]})
    assert sigil.decode_generations_grpc(data) == sigil.decode_generations_json(body.encode())


def test_sdk_workflow_step_json() -> None:
    step = sdk.WorkflowStep(
        id="wfs_1",
        conversation_id="c",
        step_name="s",
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        input_state={"a": [1, 2]},
        linked_generation_ids=["g"],
    )
    sdk_proto = workflow_step_to_proto(step)
    body = json.dumps(
        {"workflow_steps": [json_format.MessageToDict(sdk_proto, preserving_proto_field_name=True)]}
    ).encode()
    (record,) = sigil.decode_workflow_steps_json(body)
    assert isinstance(record, Record)
    assert sigil.record_to_workflow_step(record) == pb.WorkflowStep.FromString(sdk_proto.SerializeToString())


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(generation_records)
def test_generation_records_survive_proto_and_json(record: Record) -> None:
    record.id = outgoing_id(record, "gen_")  # an id-less record is sent with a derived id
    assert sigil.generation_to_record(sigil.record_to_generation(record)) == record
    data = sigil.generations_request([record]).SerializeToString()
    assert sigil.generation_to_record(pb.ExportGenerationsRequest.FromString(data).generations[0]) == record
    (item,) = orjson.loads(sigil.encode_generations_json([record]))["generations"]
    walked = sigil.decode_generations_json(orjson.dumps({"generations": [item]}), now_ns=NOW_NS)
    reference = sigil.decode_generations_grpc(data, now_ns=NOW_NS)
    if not record.id:  # each decode drew its own gen-<n>
        for item_or_record in (*walked, *reference):
            object.__setattr__(item_or_record, "id", "")
    assert walked == reference  # the JSON and gRPC paths agree, defaults and rejections included


@settings(max_examples=100, deadline=None)
@given(workflow_step_records)
def test_workflow_step_records_survive_proto_and_json(record: Record) -> None:
    record.id = outgoing_id(record, "wfs_")
    assert sigil.workflow_step_to_record(sigil.record_to_workflow_step(record)) == record
    body = sigil.encode_workflow_steps_json([record])
    grpc_items = sigil.decode_workflow_steps_grpc(sigil.workflow_steps_request([record]).SerializeToString())
    assert sigil.decode_workflow_steps_json(body) == grpc_items


@settings(max_examples=100, deadline=None)
@given(record_strategies.records)
def test_any_record_encodes_to_something_sigil_can_decode(record: Record) -> None:
    original = copy.deepcopy(record)
    body = sigil.encode_generations_json([record])
    assert len(sigil.decode_generations_json(body)) == 1
    assert len(sigil.decode_generations_grpc(sigil.generations_request([record]).SerializeToString())) == 1
    assert len(sigil.decode_workflow_steps_json(sigil.encode_workflow_steps_json([record]))) == 1
    assert record == original  # encoders never mutate the record


def test_records_without_an_id_get_a_deterministic_one() -> None:
    from gateway.model import Record

    r = Record(trace_id="t1", span_id="s1", start_ns=5, provider="openai", model="gpt-4o")
    a = sigil.record_to_generation(r).id
    assert (
        a
        == sigil.record_to_generation(
            Record(trace_id="t1", span_id="s1", start_ns=5, provider="openai", model="gpt-4o")
        ).id
    )
    assert a.startswith("gen_") and len(a) == 20
    assert orjson.loads(sigil.encode_generations_json([r]))["generations"][0]["id"] == a
    assert sigil.record_to_generation(Record(span_id="s2")).id != a


def test_default_ids_are_unique_across_processes() -> None:
    # Two gateway processes (or one restarted) must not give two generations the same id.
    code = "from gateway.formats.sigil.common import next_generation_id; print(next_generation_id())"
    ids = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    }
    assert len(ids) == 2 and all(i.startswith("gen-") for i in ids)
