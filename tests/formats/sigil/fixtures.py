"""Shared Sigil test data: a generation with every field set, and Sigil-representable records."""

from __future__ import annotations

import importlib
from typing import Any

from hypothesis import strategies as st

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil.common import json_value, project_metadata, status_from_call_error
from gateway.model import Artifact, Kind, Message, Part, PartKind, Record, Role, ToolDefinition, Usage

# The SDK's generated module has no stubs; typed as Any so mypy does not see an empty module.
sdk_pb: Any = importlib.import_module("sigil_sdk.internal.gen.sigil.v1.generation_ingest_pb2")

T0 = 1_772_355_600  # 2026-03-01T09:00:00Z
NOW_NS = 1_800_000_000_123_456_789


def rich_generation() -> pb.Generation:
    """A generation using every field of the union schema, with non-default values."""
    g = pb.Generation(
        id="gen_0123456789abcdef",
        conversation_id="conv-1",
        operation_name="streamText",
        mode=pb.GENERATION_MODE_STREAM,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        model=pb.ModelRef(provider="anthropic", name="claude-sonnet-4"),
        response_id="msg_1",
        response_model="claude-sonnet-4-20260301",
        system_prompt="Be brief.",
        input=[
            pb.Message(role=pb.MESSAGE_ROLE_USER, parts=[pb.Part(text="Weather in Paris?")]),
            pb.Message(
                role=pb.MESSAGE_ROLE_TOOL,
                name="weather",
                parts=[
                    pb.Part(
                        tool_result=pb.ToolResult(
                            tool_call_id="call_1",
                            name="weather",
                            content="sunny",
                            content_json=b'{"sky":"clear"}',
                            is_error=True,
                        )
                    )
                ],
            ),
        ],
        output=[
            pb.Message(
                role=pb.MESSAGE_ROLE_ASSISTANT,
                parts=[
                    pb.Part(metadata=pb.PartMetadata(provider_type="thinking"), thinking="Look it up."),
                    pb.Part(tool_call=pb.ToolCall(id="call_1", name="weather", input_json=b'{"city":"Paris"}')),
                    pb.Part(text=""),
                    pb.Part(
                        metadata=pb.PartMetadata(provider_type="image"),
                        media=pb.Media(kind="image", url="https://x.test/a.png", mime_type="image/png", name="a"),
                    ),
                ],
            )
        ],
        tools=[
            pb.ToolDefinition(
                name="weather",
                description="Current weather",
                type="function",
                input_schema_json=b'{"type":"object","properties":{"city":{"type":"string"}}}',
                deferred=True,
            ),
            pb.ToolDefinition(name="noop"),
        ],
        usage=pb.TokenUsage(
            input_tokens=1200,
            output_tokens=80,
            total_tokens=1280,
            cache_read_input_tokens=1000,
            cache_write_input_tokens=150,
            reasoning_tokens=30,
            input_semantics=pb.TOKEN_INPUT_SEMANTICS_INCLUSIVE,
        ),
        stop_reason="tool_use",
        tags={"env": "prod", "team": "search"},
        raw_artifacts=[
            pb.Artifact(
                kind=pb.ARTIFACT_KIND_REQUEST,
                name="request",
                content_type="application/json",
                payload=b'{"model":"x"}',
            ),
            pb.Artifact(kind=pb.ARTIFACT_KIND_PROVIDER_EVENT, record_id="rec-1", uri="s3://bucket/key"),
        ],
        call_error="rate limited (429)",
        agent_name="planner",
        agent_version="1.2.3",
        max_tokens=1024,
        temperature=0.0,
        top_p=0.9,
        tool_choice="auto",
        thinking_enabled=False,
        parent_generation_ids=["gen_parent_a", "gen_parent_b"],
        effective_version="sha256:c47f5b18b8a430e698b9fe15e51f6119984e78334bcf3f45e210d30c37ef2f9e",
    )
    g.started_at.seconds = T0
    g.started_at.nanos = 250_000_000
    g.completed_at.seconds = T0 + 2
    g.completed_at.nanos = 1
    g.metadata.update(
        {
            "sigil.sdk.name": "sdk-python",
            "sigil.user.id": "user-7",
            "sigil.conversation.title": "Paris weather",
            "nested": {"list": [1, "two", None, True, 2.5]},
        }
    )
    return g


def rich_workflow_step() -> pb.WorkflowStep:
    s = pb.WorkflowStep(
        id="wfs_1",
        conversation_id="conv-1",
        step_name="plan",
        framework="langgraph",
        error="boom",
        tags={"k": "v"},
        linked_generation_ids=["gen_1"],
        parent_step_ids=["wfs_0"],
        agent_name="planner",
        agent_version="2",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
    )
    s.started_at.seconds = T0
    s.completed_at.seconds = T0 + 1
    s.input_state.update({"question": "why?", "depth": 2})
    s.output_state.SetInParent()  # present but empty
    s.metadata.update({"sigil.framework.run_id": "run-1"})
    return s


# --------------------------------------------------------------------------- hypothesis

# proto3 strings must be valid UTF-8, so no lone surrogates.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
counts = st.none() | st.integers(min_value=1, max_value=2**63 - 1) | st.integers(min_value=-5, max_value=-1)
times = st.none() | st.integers(min_value=-62135596800 * 10**9, max_value=253402300799 * 10**9 + 999_999_999)
doubles = st.none() | st.floats(allow_nan=False)
# No infinities: JSON has no spelling for them in a Struct (see test_non_finite_struct_numbers).
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
).map(json_value)
struct = st.dictionaries(text, json_values, max_size=4).map(json_value)
parts = st.one_of(
    st.builds(Part, kind=st.just(PartKind.TEXT), text=text, provider_type=text),
    st.builds(Part, kind=st.just(PartKind.THINKING), text=text, provider_type=text),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_CALL),
        provider_type=text,
        tool_call_id=text,
        tool_name=text,
        tool_input_json=st.binary(max_size=8),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_RESULT),
        provider_type=text,
        tool_call_id=text,
        tool_name=text,
        tool_result_content=text,
        tool_result_json=st.binary(max_size=8),
        is_error=st.booleans(),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.MEDIA),
        provider_type=text,
        media_kind=text,
        media_url=text,
        media_mime_type=text,
        media_name=text,
    ),
)
messages = st.lists(
    st.builds(
        Message,
        role=st.sampled_from([Role.USER, Role.ASSISTANT, Role.TOOL, Role.UNSPECIFIED]),
        parts=st.lists(parts, max_size=3),
        name=text,
    ),
    max_size=2,
)


def _sigil_record(record: Record) -> Record:
    # What a Sigil record always looks like: status follows call_error, projections follow metadata.
    record.status = status_from_call_error(record.error_message)
    record.user_id = record.conversation_title = ""
    project_metadata(record)
    return record


generation_records = st.builds(
    Record,
    kind=st.just(Kind.LLM),
    id=text,
    trace_id=text,
    span_id=text,
    operation=text,
    conversation_id=text,
    agent_name=text,
    agent_version=text,
    provider=text,
    model=text,
    response_id=text,
    response_model=text,
    stream=st.none() | st.booleans(),
    start_ns=times,
    end_ns=times,
    error_message=text | st.just("  "),
    stop_reason=text,
    max_tokens=st.none() | int64,
    temperature=doubles,
    top_p=doubles,
    tool_choice=st.none() | text,
    thinking_enabled=st.none() | st.booleans(),
    system_prompt=text,
    input=messages,
    output=messages,
    tools=st.lists(
        st.builds(
            ToolDefinition,
            name=text,
            description=text,
            type=text,
            input_schema_json=st.binary(max_size=8),
            deferred=st.booleans(),
        ),
        max_size=2,
    ),
    artifacts=st.lists(
        st.builds(
            Artifact,
            kind=st.integers(min_value=0, max_value=2**31 - 1),
            name=text,
            content_type=text,
            payload=st.binary(max_size=8),
            record_id=text,
            uri=text,
        ),
        max_size=2,
    ),
    usage=st.builds(
        Usage,
        input_tokens=counts,
        output_tokens=counts,
        total_tokens=counts,
        cache_read_input_tokens=counts,
        cache_write_input_tokens=counts,
        reasoning_tokens=counts,
        input_includes_cache=st.sampled_from([None, True]),
    ),
    tags=st.dictionaries(text, text, max_size=3),
    metadata=struct
    | st.fixed_dictionaries({}, optional={"user.id": text, "sigil.conversation.title": text, "x": json_values}),
    parent_generation_ids=st.lists(text, max_size=2),
    effective_version=st.none() | text,
).map(_sigil_record)


def _sigil_step(record: Record) -> Record:
    record.status = status_from_call_error(record.error_message)
    return record


workflow_step_records = st.builds(
    Record,
    kind=st.just(Kind.WORKFLOW_STEP),
    id=text,
    conversation_id=text,
    name=text,
    framework=text,
    start_ns=times,
    end_ns=times,
    input_state=st.none() | struct,
    output_state=st.none() | struct,
    error_message=text,
    tags=st.dictionaries(text, text, max_size=3),
    linked_generation_ids=st.lists(text, max_size=2),
    parent_step_ids=st.lists(text, max_size=2),
    agent_name=text,
    agent_version=text,
    trace_id=text,
    span_id=text,
    metadata=struct,
).map(_sigil_step)
