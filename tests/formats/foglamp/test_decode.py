"""Foglamp ingest bodies -> records: the zod contract, the record mapping and round trips."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.formats.foglamp import FoglampValidationError, count_spans, decode_ingest, encode_batches
from gateway.formats.foglamp import schema as _foglamp_schema
from gateway.formats.foglamp.content import decode_content, encode_content
from gateway.model import (
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Role,
    Status,
    Usage,
)
from tests.formats.foglamp.wire import _DELETE, T0_MS, issues_of, load, payload, span, trace

# --------------------------------------------------------------------------------------------
# The contract

SP = ["traces", 0, "spans", 0]  # path of the first span
ENUM_SPAN_TYPE = 'Invalid option: expected one of "agent"|"llm"|"tool"|"embedding"|"other"'

CASES: list[tuple[str, object, list[tuple[str, list[Any], str]]]] = [
    ("body_not_object", [], [("invalid_type", [], "Invalid input: expected object, received array")]),
    (
        "version_wrong",
        payload(version="v2"),
        [("invalid_value", ["version"], 'Invalid input: expected "v1"')],
    ),
    (
        "version_missing",
        payload(version=_DELETE),
        [("invalid_value", ["version"], 'Invalid input: expected "v1"')],
    ),
    ("unknown_top_key", payload(foo=1), [("unrecognized_keys", [], 'Unrecognized key: "foo"')]),
    (
        "unknown_keys_in_js_order",
        payload(b=1, **{"10": 1, "2": 1}),
        [("unrecognized_keys", [], 'Unrecognized keys: "2", "10", "b"')],
    ),
    ("traces_empty", payload([]), [("too_small", ["traces"], "Too small: expected array to have >=1 items")]),
    (
        "traces_too_many",
        payload([trace() for _ in range(1001)]),
        [("too_big", ["traces"], "Too big: expected array to have <=1000 items")],
    ),
    (
        "traces_not_array",
        payload({}),
        [("invalid_type", ["traces"], "Invalid input: expected array, received object")],
    ),
    (
        "spans_empty",
        payload([trace([])]),
        [("too_small", ["traces", 0, "spans"], "Too small: expected array to have >=1 items")],
    ),
    (
        "spans_too_many",
        payload([trace([span(spanId=f"s{i}") for i in range(2001)])]),
        [("too_big", ["traces", 0, "spans"], "Too big: expected array to have <=2000 items")],
    ),
    (
        "trace_id_empty",
        payload([trace(traceId="")]),
        [("too_small", ["traces", 0, "traceId"], "Too small: expected string to have >=1 characters")],
    ),
    (
        "trace_id_too_long",
        payload([trace(traceId="x" * 129)]),
        [("too_big", ["traces", 0, "traceId"], "Too big: expected string to have <=128 characters")],
    ),
    (
        "trace_id_missing",
        payload([trace(traceId=_DELETE)]),
        [("invalid_type", ["traces", 0, "traceId"], "Invalid input: expected string, received undefined")],
    ),
    (
        "trace_name_too_long",
        payload([trace(traceName="n" * 257)]),
        [("too_big", ["traces", 0, "traceName"], "Too big: expected string to have <=256 characters")],
    ),
    (
        "no_trace_or_agent_name",
        payload([trace(traceName=_DELETE)]),
        [("custom", ["traces", 0, "traceName"], "Either traceName or agentName must be provided")],
    ),
    (
        "empty_names_are_missing",
        payload([trace(traceName="", agentName="")]),
        [("custom", ["traces", 0, "traceName"], "Either traceName or agentName must be provided")],
    ),
    (
        "workflow_name_alone",
        payload([trace(workflowName="wf")]),
        [
            (
                "custom",
                ["traces", 0, "workflowRunId"],
                "workflowName and workflowRunId must be provided together",
            )
        ],
    ),
    (
        "workflow_run_id_with_empty_name",
        payload([trace(workflowName="", workflowRunId="r1")]),
        [
            (
                "custom",
                ["traces", 0, "workflowRunId"],
                "workflowName and workflowRunId must be provided together",
            )
        ],
    ),
    (
        "both_trace_refinements_in_order",
        payload([trace(traceName=_DELETE, workflowRunId="r1")]),
        [
            ("custom", ["traces", 0, "traceName"], "Either traceName or agentName must be provided"),
            (
                "custom",
                ["traces", 0, "workflowRunId"],
                "workflowName and workflowRunId must be provided together",
            ),
        ],
    ),
    (
        "session_id_number",
        payload([trace(sessionId=7)]),
        [("invalid_type", ["traces", 0, "sessionId"], "Invalid input: expected string, received number")],
    ),
    (
        "customer_unknown_key_and_missing_id",
        payload([trace(customer={"name": "Ada", "email": "a@b"})]),
        [
            (
                "invalid_type",
                ["traces", 0, "customer", "id"],
                "Invalid input: expected string, received undefined",
            ),
            ("unrecognized_keys", ["traces", 0, "customer"], 'Unrecognized key: "email"'),
        ],
    ),
    (
        "customer_bad_url",
        payload([trace(customer={"id": "c", "imageUrl": "not a url"})]),
        [("invalid_format", ["traces", 0, "customer", "imageUrl"], "Invalid URL")],
    ),
    (
        "customer_name_too_long",
        payload([trace(customer={"id": "c", "name": "n" * 257})]),
        [("too_big", ["traces", 0, "customer", "name"], "Too big: expected string to have <=256 characters")],
    ),
    (
        "metadata_not_record",
        payload([trace(metadata=["a"])]),
        [("invalid_type", ["traces", 0, "metadata"], "Invalid input: expected record, received array")],
    ),
    (
        "metadata_value_number",
        payload([trace(metadata={"k": 1})]),
        [("invalid_type", ["traces", 0, "metadata", "k"], "Invalid input: expected string, received number")],
    ),
    (
        "metadata_key_too_long",
        payload([trace(metadata={"k" * 129: "v"})]),
        [("invalid_key", ["traces", 0, "metadata", "k" * 129], "Invalid key in record")],
    ),
    (
        "metadata_value_too_long_and_too_many_keys",
        payload([trace(metadata={"a": "v" * 1025, **{f"k{i}": "v" for i in range(64)}})]),
        [
            ("too_big", ["traces", 0, "metadata", "a"], "Too big: expected string to have <=1024 characters"),
            ("custom", ["traces", 0, "metadata"], "metadata may have at most 64 keys"),
        ],
    ),
    (
        "span_metadata_too_many_keys",
        payload([trace([span(metadata={f"k{i}": "v" for i in range(65)})])]),
        [("custom", [*SP, "metadata"], "metadata may have at most 64 keys")],
    ),
    (
        "span_type_wrong",
        payload([trace([span(spanType="chat")])]),
        [("invalid_value", [*SP, "spanType"], ENUM_SPAN_TYPE)],
    ),
    (
        "span_type_missing",
        payload([trace([span(spanType=_DELETE)])]),
        [("invalid_value", [*SP, "spanType"], ENUM_SPAN_TYPE)],
    ),
    (
        "status_wrong",
        payload([trace([span(status="done")])]),
        [("invalid_value", [*SP, "status"], 'Invalid option: expected one of "ok"|"error"|"aborted"')],
    ),
    (
        "span_id_empty_parent_empty",
        payload([trace([span(spanId="", parentSpanId="")])]),
        [
            ("too_small", [*SP, "spanId"], "Too small: expected string to have >=1 characters"),
            ("too_small", [*SP, "parentSpanId"], "Too small: expected string to have >=1 characters"),
        ],
    ),
    (
        "name_counts_utf16_units",
        payload([trace([span(name="😀" * 257)])]),
        [("too_big", [*SP, "name"], "Too big: expected string to have <=512 characters")],
    ),
    (
        "name_missing",
        payload([trace([span(name=_DELETE)])]),
        [("invalid_type", [*SP, "name"], "Invalid input: expected string, received undefined")],
    ),
    (
        "start_fractional",
        payload([trace([span(startTime=T0_MS + 0.5)])]),
        [("invalid_type", [*SP, "startTime"], "Invalid input: expected int, received number")],
    ),
    (
        "start_negative_and_end_before",
        payload([trace([span(startTime=5, endTime=-1)])]),
        [
            ("too_small", [*SP, "endTime"], "Too small: expected number to be >=0"),
            ("custom", [*SP, "endTime"], "endTime must be >= startTime"),
        ],
    ),
    (
        "start_string",
        payload([trace([span(startTime="1")])]),
        [("invalid_type", [*SP, "startTime"], "Invalid input: expected number, received string")],
    ),
    (
        "start_boolean_end_null",
        payload([trace([span(startTime=True, endTime=None)])]),
        [
            ("invalid_type", [*SP, "startTime"], "Invalid input: expected number, received boolean"),
            ("invalid_type", [*SP, "endTime"], "Invalid input: expected number, received null"),
        ],
    ),
    (
        "start_unsafe_integer",
        payload([trace([span(startTime=2**53, endTime=2**53)])]),
        [
            ("too_big", [*SP, "startTime"], "Too big: expected int to be <=9007199254740991"),
            ("too_big", [*SP, "endTime"], "Too big: expected int to be <=9007199254740991"),
        ],
    ),
    (
        "end_before_start",
        payload([trace([span(endTime=T0_MS - 1)])]),
        [("custom", [*SP, "endTime"], "endTime must be >= startTime")],
    ),
    (
        # A size issue does not abort the span, so its refinement still runs ...
        "end_before_start_with_long_name",
        payload([trace([span(name="n" * 513, endTime=T0_MS - 1)])]),
        [
            ("too_big", [*SP, "name"], "Too big: expected string to have <=512 characters"),
            ("custom", [*SP, "endTime"], "endTime must be >= startTime"),
        ],
    ),
    (
        # ... but a type issue (here an unknown key) does, and so does it the trace's refinements.
        "end_before_start_with_unknown_key",
        payload([trace([span(endTime=T0_MS - 1, cost=1)], traceName=_DELETE)]),
        [("unrecognized_keys", SP, 'Unrecognized key: "cost"')],
    ),
    (
        "ttft_negative",
        payload([trace([span(ttftMs=-0.5)])]),
        [("too_small", [*SP, "ttftMs"], "Too small: expected number to be >=0")],
    ),
    (
        "error_message_too_long",
        payload([trace([span(errorMessage="e" * 8193)])]),
        [("too_big", [*SP, "errorMessage"], "Too big: expected string to have <=8192 characters")],
    ),
    (
        "input_too_long",
        payload([trace([span(input="i" * 1_000_001)])]),
        [("too_big", [*SP, "input"], "Too big: expected string to have <=1000000 characters")],
    ),
    (
        "output_object",
        payload([trace([span(output={"text": "hi"})])]),
        [("invalid_type", [*SP, "output"], "Invalid input: expected string, received object")],
    ),
    (
        "usage_unknown_key_and_fraction",
        payload([trace([span(usage={"inputTokens": 1.5, "cost": 2})])]),
        [
            ("invalid_type", [*SP, "usage", "inputTokens"], "Invalid input: expected int, received number"),
            ("unrecognized_keys", [*SP, "usage"], 'Unrecognized key: "cost"'),
        ],
    ),
    (
        "usage_negative",
        payload([trace([span(usage={"outputTokens": -1})])]),
        [("too_small", [*SP, "usage", "outputTokens"], "Too small: expected number to be >=0")],
    ),
    (
        "chunk_jitter_incomplete",
        payload([trace([span(chunkJitter={"min": 0, "median": 1, "avg": 1, "p90": 2, "max": 3, "p99": 4})])]),
        [
            (
                "invalid_type",
                [*SP, "chunkJitter", "p10"],
                "Invalid input: expected number, received undefined",
            ),
            ("unrecognized_keys", [*SP, "chunkJitter"], 'Unrecognized key: "p99"'),
        ],
    ),
    (
        "rate_limit_unknown_key",
        payload([trace([span(rateLimit={"tokensLimit": 1, "retryAfter": 2})])]),
        [("unrecognized_keys", [*SP, "rateLimit"], 'Unrecognized key: "retryAfter"')],
    ),
    (
        "model_call_ms_fractional",
        payload([trace([span(modelCallMs=1.25)])]),
        [("invalid_type", [*SP, "modelCallMs"], "Invalid input: expected int, received number")],
    ),
    (
        "deprecated_array_too_long",
        payload([trace([span(chunkOffsets=list(range(201)))])]),
        [("too_big", [*SP, "chunkOffsets"], "Too big: expected array to have <=200 items")],
    ),
    (
        "deprecated_array_bad_element",
        payload([trace([span(reasoningChunkTokens=[1, -2])])]),
        [("too_small", [*SP, "reasoningChunkTokens", 1], "Too small: expected number to be >=0")],
    ),
    (
        "safety_metadata_too_long",
        payload([trace([span(safetyMetadata="s" * 16_385)])]),
        [("too_big", [*SP, "safetyMetadata"], "Too big: expected string to have <=16384 characters")],
    ),
    (
        "full_paths_deep_in_the_body",
        payload([trace(), trace([span(spanId=f"s{i}") for i in range(3)] + [span(spanId="s3", endTime=0)])]),
        [("custom", ["traces", 1, "spans", 3, "endTime"], "endTime must be >= startTime")],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_contract_rule(body: object, expected: list[tuple[str, list[Any], str]]) -> None:
    assert issues_of(body) == expected


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://example.com/a.png", True),
        ("https://user@example.com:8080/a?b#c", True),
        ("http://[::1]:80/", True),
        ("mailto:ada@example.com", True),
        ("data:image/png;base64,AAAA", True),
        ("example.com/a.png", False),
        ("https://", False),
        ("https://example.com:port/", False),
        ("https://exa mple.com/", False),
        # As zod (JS trim, then WHATWG new URL()) decides; these used to disagree.
        ("https://example.com:65536/", False),
        ("https://example.com:65535/", True),
        ("http://1.2.3.4.5/", False),
        ("http://256.1.1.1/", False),
        ("http://1.2.3.256/", False),
        ("http://1.2.65535/", True),  # a last part fills the remaining bytes
        ("http://0x7f.1/", True),
        ("http://xn--/", False),
        ("http://xn--nxasmq6b.com/", True),
        ("http://[1:2:3]/", False),
        ("http://[::1%25eth0]/", False),
        ("\ufeffhttps://example.com/", True),  # JS trim() removes a BOM
        ("http://%41.com/", True),  # percent-decoded host
        ("http://%zz.com/", False),
        ("http://b\u00fccher.de/", True),
    ],
)
def test_customer_image_url_must_be_a_url(url: str, valid: bool) -> None:
    body = payload([trace(customer={"id": "c", "imageUrl": url})])
    if valid:
        decode_ingest(body)
    else:
        assert issues_of(body) == [("invalid_format", ["traces", 0, "customer", "imageUrl"], "Invalid URL")]


def test_every_issue_is_reported_in_order() -> None:
    # The receiver keeps the first 20; the decoder reports all of them.
    body = payload([trace([span(spanId=f"s{i}", startTime="x") for i in range(30)])])
    issues = issues_of(body)
    assert len(issues) == 30
    assert [i[1] for i in issues] == [["traces", 0, "spans", n, "startTime"] for n in range(30)]


def test_invalid_fixture_gives_the_golden_issue_list() -> None:
    issues = issues_of(load("invalid_many_problems.json"))
    assert [list(i) for i in issues] == load("invalid_many_problems.issues.json")


def test_error_message_names_the_first_issue() -> None:
    with pytest.raises(FoglampValidationError, match=r"2 issue\(s\), first at traces.0.traceName: Either"):
        decode_ingest(payload([trace(traceName=_DELETE, workflowName="w")]))


def test_valid_edge_values_are_accepted() -> None:
    body = payload(
        [
            trace(
                [
                    span(
                        name="",
                        startTime=0,
                        endTime=0,
                        ttftMs=0,
                        chunkOffsets=list(range(200)),
                        chunkTokens=[],
                        reasoningOffsets=[1],
                        reasoningChunkTokens=[2],
                        metadata={f"k{i}": "v" * 1024 for i in range(64)},
                        input="😀" * 500_000,
                    )
                ],
                traceName=_DELETE,
                agentName="a",
                customer={"id": "c", "imageUrl": "  https://example.com/x.png  "},
            )
        ]
    )
    [record] = decode_ingest(body)
    assert record.customer == Customer(id="c", image_url="https://example.com/x.png")
    assert not any(key.startswith("foglamp.chunk") or "Offsets" in key for key in record.extra)


def test_count_spans() -> None:
    body = payload([trace([span(), span(spanId="s2")]), trace()])
    assert count_spans(body) == 3 == len(decode_ingest(body))
    assert count_spans({"traces": "x"}) == 0
    assert count_spans([]) == 0


# --------------------------------------------------------------------------------------------
# Mapping and round trips


def test_rich_payload_round_trips_exactly() -> None:
    original = load("rich_payload_every_field.json")
    bodies, report = encode_batches(decode_ingest(copy.deepcopy(original)))
    assert bodies == [original]
    assert report.lossless and report.records_out == report.records_in == 6
    assert orjson.dumps(bodies[0]) == orjson.dumps(original)  # byte-identical once compact


def test_rich_payload_maps_to_records() -> None:
    root, llm, tool, embed, other, vision = decode_ingest(load("rich_payload_every_field.json"))
    assert [r.kind for r in (root, llm, tool, embed, other, vision)] == [
        Kind.AGENT,
        Kind.LLM,
        Kind.TOOL,
        Kind.EMBEDDING,
        Kind.OTHER,
        Kind.LLM,
    ]
    # Trace-level fields are on every record of the trace.
    for rec in (root, llm, tool, embed, other):
        assert (rec.trace_id, rec.trace_name, rec.agent_name) == (
            "0192f1c0-1a2b-7c3d-8e4f-1a2b3c4d5e6f",
            "refund question",
            "support-copilot",
        )
        assert (rec.workflow_name, rec.workflow_run_id, rec.session_id) == (
            "support-inbox",
            "run_2026_04_20",
            "session_abc123",
        )
        assert rec.customer == Customer(id="cus_42", name="Ada Lovelace", image_url="https://example.com/ada.png")
        assert rec.trace_metadata == {"environment": "production", "region": "eu-west-1"}
    assert root.customer is not llm.customer  # records can be changed independently
    assert (llm.start_ns, llm.end_ns) == (1_776_679_200_010_000_000, 1_776_679_201_210_000_000)
    assert llm.parent_span_id == "call1:root" and llm.span_id == "call1:step:0"
    assert (llm.provider, llm.model, llm.ttft_ms) == ("openai", "gpt-4o", 320.5)
    assert llm.usage == Usage(
        input_tokens=1200,
        output_tokens=350,
        total_tokens=1550,
        reasoning_tokens=40,
        cache_read_input_tokens=1024,
        cache_write_input_tokens=16,
        image_count=1,
        web_search_count=2,
        request_count=1,
        input_includes_cache=True,
    )
    assert llm.metadata == {"step": "0"} and root.metadata == {"feature": "refunds"}
    assert llm.extra["foglamp.chunkJitter"] == {
        "min": 0,
        "p10": 1,
        "median": 3,
        "avg": 3.75,
        "p90": 9,
        "max": 41,
    }
    assert llm.extra["foglamp.modelCallMs"] == 1100 and llm.extra["foglamp.systemFingerprint"] == "fp_9f2c1d"
    assert llm.extra["foglamp.rateLimit"]["tokensRemaining"] == 1998450
    assert [(t.name, t.description) for t in llm.tools] == [
        ("lookup_order", "Find an order by id"),
        ("issue_refund", ""),
    ]
    assert orjson.loads(llm.tools[0].input_schema_json)["required"] == ["id"]
    assert (tool.status, tool.error_message, tool.tool_name) == (
        Status.ERROR,
        "order service timed out",
        "lookup_order",
    )
    assert other.status is Status.ABORTED and other.name == ""
    assert embed.usage.input_tokens == 12 and embed.usage.output_tokens is None


def test_rich_payload_content_is_in_messages() -> None:
    root, llm, tool, _, _, vision = decode_ingest(load("rich_payload_every_field.json"))
    system, user, assistant, tool_msg = llm.input
    assert system == Message(Role.SYSTEM, [Part(PartKind.TEXT, text="You are a support copilot. Be brief.")])
    assert user.role is Role.USER and user.parts[0].text.startswith("Where is my refund")
    thinking, call = assistant.parts
    assert thinking == Part(PartKind.THINKING, text="I should look the order up first.")
    assert (call.kind, call.tool_call_id, call.tool_name, call.tool_input_json) == (
        PartKind.TOOL_CALL,
        "call_1",
        "lookup_order",
        b'{"id":"A-17"}',
    )
    [result] = tool_msg.parts
    assert result.kind is PartKind.TOOL_RESULT and orjson.loads(result.tool_result_json)["status"] == "refunded"
    assert llm.extra["foglamp.output_form"] == "parts" and "foglamp.input_form" not in llm.extra
    assert [p.kind for p in llm.output[0].parts] == [PartKind.THINKING, PartKind.TEXT]
    # Plain text and a tool's JSON arguments are kept whole, marked raw.
    assert root.output == [
        Message(Role.ASSISTANT, [Part(PartKind.TEXT, text="Your refund of $42.50 is on its way. ✅")])
    ]
    assert root.extra["foglamp.output_form"] == "raw" and root.extra["foglamp.input_form"] == "messages:s"
    assert tool.input == [Message(Role.USER, [Part(PartKind.TEXT, text='{"id":"A-17"}')])]
    image, file = vision.input[0].parts[1:]
    assert (image.media_kind, image.media_url, image.media_mime_type) == (
        "image",
        "https://example.com/cat.png",
        "image/png",
    )
    assert (file.media_kind, file.media_mime_type, file.media_name) == (
        "file",
        "application/pdf",
        "report.pdf",
    )
    error_text, error_json, ok_text = vision.input[2].parts
    assert (error_text.is_error, error_text.tool_result_content) == (True, "page is blank")
    assert (error_json.is_error, error_json.tool_result_json) == (True, b'{"code":7}')
    assert (ok_text.is_error, ok_text.tool_result_content) == (False, "ok")
    # No content is copied into extra.
    for rec in (root, llm, tool, vision):
        assert not {"foglamp.input", "foglamp.output"} & set(rec.extra)


@pytest.mark.parametrize(
    "text",
    [
        '[{"role":"user","content":"hi","providerOptions":{"anthropic":{"cacheControl":{"type":"ephemeral"}}}}]',
        '[{"content":"hi","role":"user"}]',  # another key order
        '[ {"role":"user","content":"hi"} ]',  # another spacing
        '{"role":"user","content":"hi"}',
        "[]",
        '[{"type":"text","text":"a"},{"type":"source","url":"u"}]',
        "plain words",
        "",
    ],
)
def test_strings_not_reproducible_as_messages_stay_raw(text: str) -> None:
    messages, form = decode_content(text, output=False)
    assert form == "raw"
    assert messages == [Message(Role.USER, [Part(PartKind.TEXT, text=text)])]
    assert encode_content(messages, form, output=False) == text


def test_unparseable_tool_catalog_is_kept_raw() -> None:
    body = payload([trace([span(status="ok", toolCatalog='{"t":{"description":"d","strict":true}}')])])
    [record] = decode_ingest(body)
    assert record.tools == [] and record.extra["foglamp.toolCatalog"] == '{"t":{"description":"d","strict":true}}'
    assert encode_batches([record])[0] == [body]


def test_deprecated_arrays_are_ignored() -> None:
    body = payload([trace([span(chunkOffsets=[1, 2], chunkTokens=[3], status="ok")])])
    assert encode_batches(decode_ingest(body))[0] == [payload([trace([span(status="ok")])])]


_WIRE_KEYS = sorted(
    {"version", "traces", "spans", "id", "name", "imageUrl", "x"}
    | {name for name, _, _ in _foglamp_schema.TRACE_FIELDS}
    | {name for name, _, _ in _foglamp_schema.SPAN_FIELDS}
)
near_wire_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(["", "v1", "llm", "ok"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(_WIRE_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)


@settings(deadline=None, max_examples=300)
@given(near_wire_json)
def test_any_json_is_either_records_or_a_validation_error(body: object) -> None:
    # A receiver must answer 400, never crash, whatever the client sends.
    try:
        records = decode_ingest(body)
    except FoglampValidationError as exc:
        assert exc.issues and all(set(i) == {"code", "path", "message"} for i in exc.issues)
    else:
        assert len(records) == count_spans(body)
