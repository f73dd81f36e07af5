"""Hypothesis strategies for arbitrary canonical records, as any receiver might produce them.

They deliberately include values no wire allows (ids over 128 characters, negative or huge times
and counts, NaN, metadata of any JSON type, junk in ``extra``) so that encoders are shown to
cope with everything, not only with records that came from their own format.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from gateway.model import (
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    Status,
    ToolDefinition,
    Usage,
)

short_text = st.text(max_size=10)
# Around the 128/256/512 limits, and astral characters that count twice in JavaScript.
long_text = st.one_of(
    short_text,
    st.text(alphabet="ab", min_size=120, max_size=140),
    st.text(alphabet="😀x", min_size=60, max_size=300),
)
ids = st.one_of(st.just(""), st.text(min_size=1, max_size=8), st.text(alphabet="ab", min_size=126, max_size=131))
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(short_text, children, max_size=3),
    max_leaves=6,
)
json_bytes = st.one_of(st.just(b""), json_values.map(orjson.dumps), st.binary(max_size=6))
times = st.one_of(st.none(), st.integers(min_value=-(10**15), max_value=10**23))
counts = st.one_of(st.none(), st.integers(min_value=-3, max_value=10**17))

parts = st.one_of(
    st.builds(Part, kind=st.just(PartKind.TEXT), text=long_text),
    st.builds(Part, kind=st.just(PartKind.THINKING), text=short_text),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_CALL),
        tool_call_id=ids,
        tool_name=short_text,
        tool_input_json=json_bytes,
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_RESULT),
        tool_call_id=ids,
        tool_name=short_text,
        tool_result_content=short_text,
        tool_result_json=json_bytes,
        is_error=st.booleans(),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.MEDIA),
        media_kind=st.sampled_from(["image", "file", "audio", ""]),
        media_url=short_text,
        media_mime_type=short_text,
        media_name=short_text,
    ),
)
messages = st.lists(
    st.builds(Message, role=st.sampled_from(list(Role)), parts=st.lists(parts, max_size=3), name=short_text),
    max_size=3,
)
metadata_keys = st.one_of(short_text, st.text(alphabet="k", min_size=127, max_size=130))
any_metadata = st.dictionaries(metadata_keys, json_values, max_size=4) | st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=4), short_text, min_size=60, max_size=70
)
string_metadata = st.dictionaries(
    metadata_keys, st.one_of(short_text, st.text(alphabet="v", min_size=1020, max_size=1030)), max_size=4
)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    total_tokens=counts,
    cache_read_input_tokens=counts,
    cache_write_input_tokens=counts,
    reasoning_tokens=counts,
    image_count=counts,
    web_search_count=counts,
    request_count=counts,
    input_includes_cache=st.sampled_from([None, True, False]),
)
customers = st.none() | st.builds(
    Customer,
    id=ids,
    name=st.none() | long_text,
    image_url=st.none()
    | st.sampled_from(["https://example.com/a.png", " https://example.com/b ", "not a url", "http://", "mailto:a@b"]),
)
extras = st.fixed_dictionaries(
    {},
    optional={
        "foglamp.modelCallMs": json_values,
        "foglamp.outputTps": json_values,
        "foglamp.chunkJitter": json_values | st.just({"min": 0, "p10": 1, "median": 2, "avg": 2.5, "p90": 3, "max": 4}),
        "foglamp.rateLimit": json_values | st.just({"tokensLimit": 5}),
        "foglamp.systemFingerprint": json_values,
        "foglamp.input_form": st.sampled_from(["raw", "parts", "messages:sp", "junk", 5]),
        "foglamp.output_form": st.sampled_from(["raw", "parts", "messages:ps"]),
        "foglamp.toolCatalog": json_values,
        "lumiqtrace.span_kind": json_values | st.sampled_from(["llm", "tool", "general"]),
        "lumiqtrace.unknown.region": json_values,
    },
)
tools = st.lists(
    st.builds(ToolDefinition, name=short_text, description=short_text, input_schema_json=json_bytes),
    max_size=3,
)

records = st.builds(
    Record,
    kind=st.sampled_from(list(Kind)),
    id=st.one_of(ids, st.uuids().map(str)),
    trace_id=st.one_of(ids, st.sampled_from(["t1", "t2"])),
    span_id=ids,
    parent_span_id=ids,
    name=long_text,
    operation=st.one_of(short_text, st.sampled_from(["chat", "embed", "image", "tool", "agent", "custom"])),
    session_id=long_text,
    user_id=short_text,
    trace_name=long_text,
    agent_name=short_text,
    workflow_name=short_text,
    workflow_run_id=short_text,
    customer=customers,
    trace_metadata=string_metadata,
    provider=st.one_of(short_text, st.sampled_from(["openai", "anthropic", "gcp.vertex_ai", "azure", "mistral_ai"])),
    model=st.one_of(short_text, st.sampled_from(["gpt-4o", "claude-sonnet-4", "text-embedding-3-small"])),
    stream=st.none() | st.booleans(),
    start_ns=times,
    end_ns=times,
    ttft_ms=st.none() | st.floats(),
    status=st.sampled_from(list(Status)),
    error_message=long_text,
    error_type=short_text,
    stop_reason=short_text,
    system_prompt=short_text,
    input=messages,
    output=messages,
    tools=tools,
    usage=usages,
    cost_usd=st.none() | st.floats(),
    tags=st.dictionaries(short_text, short_text, max_size=3),
    metadata=any_metadata,
    environment=short_text,
    sdk_version=short_text,
    prompt_hash=short_text,
    tools_used=st.lists(short_text, max_size=3),
    eval_scores=st.dictionaries(short_text, st.floats(), max_size=3),
    tool_arguments_json=json_bytes,
    tool_result_json=json_bytes,
    extra=extras,
)
