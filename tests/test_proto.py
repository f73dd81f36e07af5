"""The committed protobuf modules: fresh, numbered as the wire sheet says, and SDK-compatible."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import gateway._proto as proto_package
from gateway._proto.agento11y.v1 import generation_ingest_pb2 as agento11y_pb
from gateway._proto.agento11y.v1 import generation_ingest_pb2_grpc as agento11y_grpc
from gateway._proto.sigil.v1 import generation_ingest_pb2 as sigil_pb
from gateway._proto.sigil.v1 import generation_ingest_pb2_grpc as sigil_grpc

ROOT = Path(__file__).resolve().parent.parent
GEN_PROTO = ROOT / "scripts" / "gen_proto.py"

# Wire sheet section 2.
GENERATION_FIELDS = {
    "id": 1,
    "conversation_id": 2,
    "operation_name": 3,
    "mode": 4,
    "trace_id": 5,
    "span_id": 6,
    "model": 7,
    "response_id": 8,
    "response_model": 9,
    "system_prompt": 10,
    "input": 11,
    "output": 12,
    "tools": 13,
    "usage": 14,
    "stop_reason": 15,
    "started_at": 16,
    "completed_at": 17,
    "tags": 18,
    "metadata": 19,
    "raw_artifacts": 20,
    "call_error": 21,
    "agent_name": 22,
    "agent_version": 23,
    "max_tokens": 24,
    "temperature": 25,
    "top_p": 26,
    "tool_choice": 27,
    "thinking_enabled": 28,
    "parent_generation_ids": 29,
    "effective_version": 30,
}
GENERATION_OPTIONAL = {
    "max_tokens",
    "temperature",
    "top_p",
    "tool_choice",
    "thinking_enabled",
    "effective_version",
}
TOKEN_USAGE_FIELDS = {
    "input_tokens": 1,
    "output_tokens": 2,
    "total_tokens": 3,
    "cache_read_input_tokens": 4,
    "cache_write_input_tokens": 5,
    "reasoning_tokens": 6,
    "cache_creation_input_tokens": 7,
    "input_semantics": 8,
}
PART_FIELDS = {"metadata": 1, "text": 2, "thinking": 3, "tool_call": 4, "tool_result": 5, "media": 6}
WORKFLOW_STEP_FIELDS = {
    "id": 1,
    "conversation_id": 2,
    "step_name": 3,
    "framework": 4,
    "started_at": 5,
    "completed_at": 6,
    "input_state": 7,
    "output_state": 8,
    "error": 9,
    "tags": 10,
    "linked_generation_ids": 11,
    "parent_step_ids": 12,
    "agent_name": 13,
    "agent_version": 14,
    "trace_id": 15,
    "span_id": 16,
    "metadata": 17,
}
ENUMS = {
    "GenerationMode": {
        "GENERATION_MODE_UNSPECIFIED": 0,
        "GENERATION_MODE_SYNC": 1,
        "GENERATION_MODE_STREAM": 2,
    },
    "MessageRole": {
        "MESSAGE_ROLE_UNSPECIFIED": 0,
        "MESSAGE_ROLE_USER": 1,
        "MESSAGE_ROLE_ASSISTANT": 2,
        "MESSAGE_ROLE_TOOL": 3,
    },
    "ArtifactKind": {
        "ARTIFACT_KIND_UNSPECIFIED": 0,
        "ARTIFACT_KIND_REQUEST": 1,
        "ARTIFACT_KIND_RESPONSE": 2,
        "ARTIFACT_KIND_TOOLS": 3,
        "ARTIFACT_KIND_PROVIDER_EVENT": 4,
    },
    "TokenInputSemantics": {"TOKEN_INPUT_SEMANTICS_UNSPECIFIED": 0, "TOKEN_INPUT_SEMANTICS_INCLUSIVE": 1},
}
PACKAGES = [pytest.param(sigil_pb, id="sigil.v1"), pytest.param(agento11y_pb, id="agento11y.v1")]


def load_gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", GEN_PROTO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbers(descriptor: Descriptor) -> dict[str, int]:
    return {field.name: field.number for field in descriptor.fields}


def test_generated_modules_are_not_stale() -> None:
    result = subprocess.run(
        [sys.executable, str(GEN_PROTO), "--check"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_check_lists_changed_missing_and_unexpected_files(tmp_path: Path) -> None:
    gen_proto = load_gen_proto()
    wanted: dict[str, str] = gen_proto.generate()
    gen_proto.write(wanted, tmp_path)
    assert gen_proto.stale_files(wanted, tmp_path) == []
    (tmp_path / "sigil" / "v1" / "generation_ingest_pb2.py").write_text("# edited by hand\n")
    (tmp_path / "agento11y" / "v1" / "generation_ingest_pb2.pyi").unlink()
    (tmp_path / "stray.py").write_text("")
    assert gen_proto.stale_files(wanted, tmp_path) == [
        "agento11y/v1/generation_ingest_pb2.pyi",
        "sigil/v1/generation_ingest_pb2.py",
        "stray.py",
    ]


def test_generator_refuses_other_grpcio_tools_versions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen_proto = load_gen_proto()
    monkeypatch.setattr(gen_proto.importlib.metadata, "version", lambda name: "1.70.0")
    assert gen_proto.main(["--check"]) == 2
    assert "grpcio-tools==1.85.1 is required (found 1.70.0)" in capsys.readouterr().err


@pytest.mark.parametrize("pb", PACKAGES)
def test_field_numbers_match_the_sheet(pb: Any) -> None:
    assert numbers(pb.Generation.DESCRIPTOR) == GENERATION_FIELDS
    assert numbers(pb.TokenUsage.DESCRIPTOR) == TOKEN_USAGE_FIELDS
    assert numbers(pb.Part.DESCRIPTOR) == PART_FIELDS
    assert numbers(pb.WorkflowStep.DESCRIPTOR) == WORKFLOW_STEP_FIELDS
    assert numbers(pb.Media.DESCRIPTOR) == {"kind": 1, "url": 2, "mime_type": 3, "name": 4}
    assert numbers(pb.ToolDefinition.DESCRIPTOR) == {
        "name": 1,
        "description": 2,
        "type": 3,
        "input_schema_json": 4,
        "deferred": 5,
    }
    assert numbers(pb.ExportGenerationResult.DESCRIPTOR) == {"generation_id": 1, "accepted": 2, "error": 3}
    assert numbers(pb.ExportWorkflowStepResult.DESCRIPTOR) == {"step_id": 1, "accepted": 2, "error": 3}
    payload = pb.Part.DESCRIPTOR.oneofs_by_name["payload"]
    assert [field.name for field in payload.fields] == [
        "text",
        "thinking",
        "tool_call",
        "tool_result",
        "media",
    ]


@pytest.mark.parametrize("pb", PACKAGES)
def test_presence_types_and_enums(pb: Any) -> None:
    fields = pb.Generation.DESCRIPTOR.fields_by_name
    optional = {name for name, field in fields.items() if field.has_presence and not field.message_type}
    assert optional == GENERATION_OPTIONAL
    assert fields["temperature"].type == FieldDescriptor.TYPE_DOUBLE
    assert fields["max_tokens"].type == FieldDescriptor.TYPE_INT64
    assert fields["started_at"].message_type.full_name == "google.protobuf.Timestamp"
    assert fields["metadata"].message_type.full_name == "google.protobuf.Struct"
    assert pb.TokenUsage.DESCRIPTOR.fields_by_name["input_semantics"].enum_type.name == "TokenInputSemantics"
    for name, values in ENUMS.items():
        enum = pb.DESCRIPTOR.enum_types_by_name[name]
        assert {value.name: value.number for value in enum.values} == values


def test_packages_differ_only_in_name() -> None:
    def schema(pb: Any) -> descriptor_pb2.FileDescriptorProto:
        file = descriptor_pb2.FileDescriptorProto()
        pb.DESCRIPTOR.CopyToProto(file)
        file.name = file.package = ""
        return file

    sigil_text = str(schema(sigil_pb)).replace(".sigil.v1.", ".PKG.")
    agento11y_text = str(schema(agento11y_pb)).replace(".agento11y.v1.", ".PKG.")
    assert sigil_text == agento11y_text


def test_services_and_package_relative_grpc_imports() -> None:
    assert sigil_pb.DESCRIPTOR.package == "sigil.v1"
    assert agento11y_pb.DESCRIPTOR.package == "agento11y.v1"
    methods = {
        method.full_name
        for pb in (sigil_pb, agento11y_pb)
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert methods == {
        "sigil.v1.GenerationIngestService.ExportGenerations",
        "sigil.v1.WorkflowStepIngestService.ExportWorkflowSteps",
        "agento11y.v1.GenerationIngestService.ExportGenerations",
        "agento11y.v1.WorkflowStepIngestService.ExportWorkflowSteps",
    }
    # The gRPC modules import the messages from gateway._proto, not from a top-level `sigil`.
    assert sigil_pb in vars(sigil_grpc).values()
    assert agento11y_pb in vars(agento11y_grpc).values()
    assert sigil_pb.Generation.__module__ == "gateway._proto.sigil.v1.generation_ingest_pb2"


def test_modules_use_the_private_pool() -> None:
    assert sigil_pb.DESCRIPTOR.pool is proto_package.POOL
    assert agento11y_pb.DESCRIPTOR.pool is proto_package.POOL
    assert proto_package.POOL is not descriptor_pool.Default()


def test_sdk_and_gateway_modules_interoperate() -> None:
    # The SDK's generated module has no stubs; mypy would see a module without attributes.
    sdk_pb: Any = importlib.import_module("sigil_sdk.internal.gen.sigil.v1.generation_ingest_pb2")

    assert sdk_pb.Generation.DESCRIPTOR.file.pool is descriptor_pool.Default()
    sdk = sdk_pb.Generation(
        id="g1",
        mode=sdk_pb.GENERATION_MODE_STREAM,
        model=sdk_pb.ModelRef(provider="openai", name="gpt-5"),
        usage=sdk_pb.TokenUsage(input_tokens=3, cache_write_input_tokens=2),
        temperature=0.0,
        parent_generation_ids=["p"],
        effective_version="sha256:" + "0" * 64,
    )
    sdk.started_at.seconds = 1_772_355_600
    sdk.metadata.update({"k": "v", "n": 1})
    sdk.output.add(role=sdk_pb.MESSAGE_ROLE_ASSISTANT).parts.add(text="hi")
    ours = sigil_pb.Generation.FromString(sdk.SerializeToString())
    assert ours.model.name == "gpt-5"
    assert ours.HasField("temperature") and ours.temperature == 0.0
    assert ours.metadata["n"] == 1.0
    assert ours.output[0].parts[0].text == "hi"
    assert ours.SerializeToString(deterministic=True) == sdk.SerializeToString(deterministic=True)

    # Fields only the union schema has survive the SDK as unknown fields.
    ours.usage.input_semantics = sigil_pb.TOKEN_INPUT_SEMANTICS_INCLUSIVE
    ours.output[0].parts.add(media=sigil_pb.Media(kind="image", url="https://x/y.png"))
    back = sdk_pb.Generation.FromString(ours.SerializeToString())
    assert back.id == "g1" and back.usage.cache_write_input_tokens == 2
    again = sigil_pb.Generation.FromString(back.SerializeToString())
    assert again == ours


def test_legacy_cache_creation_field_reads_the_reserved_number() -> None:
    data = sigil_pb.TokenUsage(cache_creation_input_tokens=9).SerializeToString()
    assert data == b"\x38\x09"  # field 7, varint
    assert agento11y_pb.TokenUsage.FromString(data).cache_creation_input_tokens == 9
