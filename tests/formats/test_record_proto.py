"""The protobuf record encoding (``gateway.record.v1``) loses nothing: every field of every model
dataclass survives ``decode_batch(encode_batch(...))``, None stays None, dict order and JSON types
stay as they were, and integers past 64 bits come back."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._proto.gateway.record.v1 import record_pb2 as pb
from gateway.formats import record_proto as rp
from gateway.model import (
    Artifact,
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Rating,
    RatingValue,
    Record,
    Role,
    Score,
    Status,
    ToolDefinition,
    Usage,
)
from tests.formats import record_strategies as rs

# The fields record_strategies.records leaves at their defaults, drawn here too.
states = st.none() | st.dictionaries(rs.short_text, rs.json_values, max_size=3)
artifacts = st.lists(
    st.builds(
        Artifact,
        kind=st.integers(min_value=-(2**70), max_value=2**70),
        name=rs.short_text,
        content_type=rs.short_text,
        payload=st.binary(max_size=8),
        record_id=rs.ids,
        uri=rs.short_text,
    ),
    max_size=2,
)
full_tools = st.lists(
    st.builds(
        ToolDefinition,
        name=rs.short_text,
        description=rs.short_text,
        type=rs.short_text,
        input_schema_json=rs.json_bytes,
        deferred=st.booleans(),
    ),
    max_size=2,
)
optional_floats = st.none() | st.floats()
records = st.tuples(
    rs.records,
    st.fixed_dictionaries(
        {
            "conversation_id": rs.ids,
            "conversation_title": rs.short_text,
            "agent_version": rs.short_text,
            "response_id": rs.ids,
            "response_model": rs.short_text,
            "max_tokens": rs.counts,
            "temperature": optional_floats,
            "top_p": optional_floats,
            "tool_choice": st.none() | rs.short_text,
            "thinking_enabled": st.none() | st.booleans(),
            "tools": full_tools,
            "artifacts": artifacts,
            "parent_generation_ids": st.lists(rs.ids, max_size=2),
            "effective_version": st.none() | rs.short_text,
            "tool_name": rs.short_text,
            "tool_call_id": rs.ids,
            "tool_type": rs.short_text,
            "tool_description": rs.short_text,
            "framework": rs.short_text,
            "input_state": states,
            "output_state": states,
            "linked_generation_ids": st.lists(rs.ids, max_size=2),
            "parent_step_ids": st.lists(rs.ids, max_size=2),
            # JSON values of every type, bytes and integers past 64 bits among them.
            "extra": st.dictionaries(
                rs.short_text, rs.json_values | st.binary(max_size=4) | st.integers(min_value=2**64), max_size=3
            ),
        }
    ),
).map(lambda pair: dataclasses.replace(pair[0], **pair[1]))
scores = st.builds(
    Score,
    id=rs.ids,
    generation_id=rs.ids,
    evaluator_id=rs.short_text,
    evaluator_version=rs.short_text,
    key=rs.short_text,
    value=st.floats() | st.booleans() | rs.short_text,
    passed=st.none() | st.booleans(),
    explanation=rs.short_text,
    metadata=st.dictionaries(rs.short_text, rs.json_values, max_size=3),
    created_ns=rs.times,
    conversation_id=rs.ids,
    trace_id=rs.ids,
    span_id=rs.ids,
    rule_id=rs.ids,
    run_id=rs.ids,
    experiment_id=rs.ids,
    trial_id=rs.ids,
    test_case_id=rs.ids,
    grader_conversation_id=rs.ids,
    grader_generation_id=rs.ids,
    grader_trace_id=rs.ids,
    source_kind=rs.short_text,
    source_id=rs.ids,
)
ratings = st.builds(
    Rating,
    id=rs.ids,
    conversation_id=rs.ids,
    value=st.sampled_from(list(RatingValue)),
    comment=rs.short_text,
    metadata=st.dictionaries(rs.short_text, rs.json_values, max_size=3),
    generation_id=rs.ids,
    rater_id=rs.short_text,
    source=rs.short_text,
    created_ns=rs.times,
)


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to itself and types and dict order compared too (True is not 1,
    1 is not 1.0, {"a": 1, "b": 2} is not {"b": 2, "a": 1})."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, max_size=3), st.lists(scores, max_size=2), st.lists(ratings, max_size=2))
def test_every_item_survives_the_round_trip(
    recs: list[Record], score_items: list[Score], rating_items: list[Rating]
) -> None:
    data = rp.encode_batch(recs, score_items, rating_items)
    back = rp.decode_batch(data)
    assert same(back, (recs, score_items, rating_items))
    # Deterministic: a retried publish carries the same bytes (and so the same message id).
    assert rp.encode_batch(*back) == data


def full_record() -> Record:
    """A record with every field away from its default."""
    part = Part(
        PartKind.TOOL_RESULT,
        **{f.name: _non_default(f) for f in dataclasses.fields(Part) if f.name != "kind"},
    )
    return Record(
        kind=Kind.TOOL,
        id="g1",
        trace_id="t",
        span_id="s",
        parent_span_id="p",
        name="n",
        operation="chat",
        conversation_id="c",
        conversation_title="ct",
        session_id="se",
        user_id="u",
        trace_name="tn",
        agent_name="an",
        agent_version="av",
        workflow_name="wn",
        workflow_run_id="wr",
        customer=Customer(id="cu", name="Ada", image_url="https://x/y.png"),
        trace_metadata={"b": "1", "a": "2"},
        provider="openai",
        model="gpt-4o",
        response_id="r",
        response_model="gpt-4o-2024",
        stream=False,
        start_ns=2**70,
        end_ns=-5,
        ttft_ms=float("nan"),
        status=Status.RATE_LIMITED,
        error_message="em",
        error_type="et",
        stop_reason="sr",
        max_tokens=0,
        temperature=-0.0,
        top_p=1.0,
        tool_choice="auto",
        thinking_enabled=False,
        system_prompt="sp",
        input=[Message(Role.USER, [part], name="me")],
        output=[Message(Role.UNSPECIFIED, [Part(PartKind.MEDIA, media_url="u")])],
        tools=[ToolDefinition(name="t", description="d", type="function", input_schema_json=b"{}", deferred=True)],
        artifacts=[Artifact(kind=2, name="a", content_type="ct", payload=b"\x00", record_id="ri", uri="s3://x")],
        usage=Usage(**{name: i for i, name in enumerate(rp._USAGE_INTS)}, input_includes_cache=False),
        cost_usd=0.0,
        tags={"z": "1", "y": ""},
        metadata={"n": None, "i": 2**64, "f": 1.5, "b": True, "l": [1, "x", {"k": b"raw"}]},
        environment="e",
        sdk_version="v",
        prompt_hash="h",
        tools_used=["t"],
        eval_scores={"q": 0.5},
        parent_generation_ids=["p1"],
        effective_version="",
        tool_name="tn",
        tool_call_id="tc",
        tool_type="function",
        tool_description="td",
        tool_arguments_json=b'{"a":1}',
        tool_result_json=b"[]",
        framework="langgraph",
        input_state={},
        output_state={"s": [None]},
        linked_generation_ids=["l1"],
        parent_step_ids=["ps"],
        extra={"foglamp.chunkJitter": {"min": 0}},
    )


def _non_default(f: dataclasses.Field[Any]) -> Any:
    return {str: "x", bytes: b"x", bool: True}[type(f.default)]


def test_the_full_record_sets_every_field() -> None:
    """Guards the test below: a field added to the model fails here until it is set (and the
    proto and codec carry it)."""
    record = full_record()
    for f in dataclasses.fields(Record):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert not same(getattr(record, f.name), default), f.name
    for f in dataclasses.fields(Usage):
        assert getattr(record.usage, f.name) is not None, f.name
    for f in dataclasses.fields(Part):
        assert getattr(record.input[0].parts[0], f.name) != f.default, f.name


def test_every_field_of_the_full_record_survives() -> None:
    record = full_record()
    score = Score(**{f.name: _score_value(f) for f in dataclasses.fields(Score)})
    rating = Rating(
        id="r",
        conversation_id="c",
        value=RatingValue.BAD,
        comment="meh",
        metadata={"k": 1},
        generation_id="g",
        rater_id="u",
        source="ui",
        created_ns=2**65,
    )
    back = rp.decode_batch(rp.encode_batch([record], [score], [rating]))
    assert same(back, ([record], [score], [rating]))


def _score_value(f: dataclasses.Field[Any]) -> Any:
    special: dict[str, Any] = {"value": True, "passed": False, "metadata": {"m": [1.0]}, "created_ns": 7}
    return special.get(f.name, f"v-{f.name}")


def test_unencodable_values_name_the_field() -> None:
    with pytest.raises(rp.RecordEncodeError, match=r"metadata\.bad: a set is not a JSON value"):
        rp.encode_batch([Record(metadata={"bad": {1}})])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xff", "invalid protobuf gateway.record.v1.Batch"),
        (pb.Batch(records=[pb.Record(kind="starship")]).SerializeToString(), "'starship' is not a valid Kind"),
    ],
)
def test_bad_bytes_are_a_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(rp.RecordDecodeError, match=message):
        rp.decode_batch(data)
