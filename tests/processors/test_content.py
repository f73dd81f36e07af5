"""content processor: Sigil capture-mode semantics on records of every format."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import (
    Artifact,
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
from gateway.processors.content import MODE_KEY, apply, error_category


def _rich(secret: str) -> Record:
    return Record(
        id="gen_1",
        conversation_id="conv-1",
        conversation_title=f"title {secret}",
        provider="openai",
        model="gpt-4o",
        system_prompt=f"system {secret}",
        input=[Message(Role.USER, [Part(PartKind.TEXT, text=f"user {secret}")])],
        output=[
            Message(
                Role.ASSISTANT,
                [
                    Part(PartKind.THINKING, text=f"think {secret}"),
                    Part(
                        PartKind.TOOL_CALL,
                        tool_call_id="c1",
                        tool_name="weather",
                        tool_input_json=secret.encode(),
                    ),
                    Part(PartKind.TEXT, text=f"answer {secret}"),
                ],
                name="bot",
            ),
            Message(
                Role.TOOL,
                [
                    Part(
                        PartKind.TOOL_RESULT,
                        tool_call_id="c1",
                        tool_name="weather",
                        tool_result_content=secret,
                        tool_result_json=secret.encode(),
                        is_error=True,
                    )
                ],
            ),
        ],
        tools=[ToolDefinition("weather", description=secret, type="function", input_schema_json=secret.encode())],
        artifacts=[Artifact(kind=1, payload=secret.encode())],
        usage=Usage(input_tokens=10, output_tokens=5),
        status=Status.ERROR,
        error_message=f"HTTP 429 from provider: {secret}",
        metadata={"sigil.conversation.title": f"title {secret}", "call_error": secret, "team": "a"},
        tags={"env": "prod"},
        temperature=0.0,
        extra={"foglamp.sources": secret, "foglamp.modelCallMs": 12},
    )


def test_metadata_only_clears_content_and_keeps_structure() -> None:
    r = _rich("SECRET")
    apply(r, "metadata_only", 0)
    assert r.system_prompt == "" and r.artifacts == [] and r.conversation_title == ""
    assert r.error_message == "rate_limit"
    assert "call_error" not in r.metadata and "sigil.conversation.title" not in r.metadata
    assert r.metadata["team"] == "a" and r.tags == {"env": "prod"}
    assert r.metadata[MODE_KEY] == "metadata_only"
    # Structure stays: roles, names, part kinds, tool ids and names, is_error.
    assert [m.role for m in r.output] == [Role.ASSISTANT, Role.TOOL]
    assert r.output[0].name == "bot"
    assert [p.kind for p in r.output[0].parts] == [PartKind.THINKING, PartKind.TOOL_CALL, PartKind.TEXT]
    call = r.output[0].parts[1]
    assert (call.tool_call_id, call.tool_name, call.tool_input_json) == ("c1", "weather", b"")
    result = r.output[1].parts[0]
    assert (result.tool_call_id, result.tool_result_content, result.tool_result_json, result.is_error) == (
        "c1",
        "",
        b"",
        True,
    )
    assert (r.tools[0].name, r.tools[0].type, r.tools[0].description, r.tools[0].input_schema_json) == (
        "weather",
        "function",
        "",
        b"",
    )
    assert r.usage.input_tokens == 10 and r.temperature == 0.0 and r.model == "gpt-4o"
    assert "foglamp.sources" not in r.extra and r.extra["foglamp.modelCallMs"] == 12


def test_no_tool_content_keeps_generations_and_strips_tool_spans() -> None:
    gen = _rich("S")
    apply(gen, "no_tool_content", 0)
    assert gen.output[0].parts[1].tool_input_json == b"S"
    tool = Record(kind=Kind.TOOL, tool_name="weather", tool_arguments_json=b"{}", tool_result_json=b"1")
    apply(tool, "no_tool_content", 0)
    assert (tool.tool_arguments_json, tool.tool_result_json) == (b"", b"")
    assert tool.metadata[MODE_KEY] == "no_tool_content"


def test_full_changes_nothing() -> None:
    r = _rich("S")
    apply(r, "full", 0)
    assert r == _rich("S")


def test_mode_marker_never_weakens_a_stricter_declared_mode() -> None:
    r = _rich("S")
    r.metadata[MODE_KEY] = "metadata_only"
    apply(r, "no_tool_content", 0)
    assert r.metadata[MODE_KEY] == "metadata_only"


def test_truncation_marks_and_keeps_utf8_and_json_valid() -> None:
    r = _rich("é" * 100)
    apply(r, "full", 20)
    text = r.output[0].parts[2].text
    assert text.startswith("answer ") and text.endswith("bytes]")
    assert "…[truncated" in text
    assert r.output[0].parts[1].tool_input_json == b'"[truncated 200 bytes]"'


def test_error_categories() -> None:
    assert error_category("request timeout") == "timeout"
    assert error_category("status 401 unauthorized") == "auth_error"
    assert error_category("HTTP 503") == "server_error"
    assert error_category("400 bad request") == "client_error"
    assert error_category("408") == "timeout"
    assert error_category("boom") == "sdk_error"


_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " é漢", min_size=12, max_size=40)


@settings(max_examples=200)
@given(secret=_TEXT, marker=st.sampled_from(["", "x"]))
def test_metadata_only_output_never_contains_input_text(secret: str, marker: str) -> None:
    secret = f"ZQ{secret}{marker}QZ"  # cannot be a substring of the kept identifiers
    r = _rich(secret)
    apply(r, "metadata_only", 0)
    from gateway.formats import record_json

    dumped = record_json.dumps(r).decode("utf-8")
    assert secret not in dumped
    assert secret.encode().hex() not in record_json.dumps(r).hex()


def _part(kind: PartKind, text: str) -> Part:
    data = text.encode()
    return Part(
        kind,
        text=text if kind in (PartKind.TEXT, PartKind.THINKING) else "",
        tool_call_id="c1",
        tool_name="t",
        tool_input_json=data if kind == PartKind.TOOL_CALL else b"",
        tool_result_content=text if kind == PartKind.TOOL_RESULT else "",
        tool_result_json=data if kind == PartKind.TOOL_RESULT else b"",
    )


_parts = st.builds(_part, st.sampled_from(list(PartKind)), _TEXT.map(lambda t: f"ZQ{t}QZ"))
_messages = st.lists(st.builds(Message, st.sampled_from(list(Role)), st.lists(_parts, max_size=4)), max_size=4)


@settings(max_examples=200)
@given(
    inputs=_messages,
    outputs=_messages,
    system=_TEXT,
    tool_desc=_TEXT,
    error=_TEXT,
    kind=st.sampled_from(list(Kind)),
)
def test_metadata_only_strips_every_content_field_of_any_record(
    inputs: list[Message], outputs: list[Message], system: str, tool_desc: str, error: str, kind: Kind
) -> None:
    r = Record(
        kind=kind,
        system_prompt=f"ZQ{system}QZ",
        input=inputs,
        output=outputs,
        tools=[ToolDefinition("t", description=f"ZQ{tool_desc}QZ", input_schema_json=b"ZQ{}QZ")],
        error_message=f"ZQ{error}QZ",
        tool_arguments_json=b"ZQ1QZ",
        tool_result_json=b"ZQ2QZ",
        tool_description="ZQ3QZ",
        input_state={"k": "ZQ4QZ"},
        output_state={"k": "ZQ5QZ"},
    )
    apply(r, "metadata_only", 0)
    from gateway.formats import record_json

    as_json = record_json.to_dict(r)
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
            import base64
            import binascii

            try:
                texts.append(base64.b64decode(value, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                pass
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(as_json)
    assert not [t for t in texts if "ZQ" in t]


def test_metadata_only_drops_otlp_content_kept_raw_in_extra() -> None:
    """Content an OTLP span carried in a shape the record fields cannot hold stays in extra; it is
    content all the same."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from gateway.formats.otlp import CONTENT_EXTRA_KEYS, traces_to_records
    from gateway.formats.otlp.values import set_any

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="chat gpt-4o")
    for key, value in {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": "SECRET not JSON",
        "gen_ai.output.messages": "[{SECRET",
        "gen_ai.system_instructions": 42,  # not a shape the parser takes
        "gen_ai.tool.definitions": "{SECRET",
        "gen_ai.prompt": "SECRET old prompt",
        "gen_ai.completion": "SECRET old completion",
        "server.address": "api.openai.com",
    }.items():
        set_any(span.attributes.add(key=key).value, value)
    (r,), _ = traces_to_records(request)
    kept = {k for k in r.extra if k in CONTENT_EXTRA_KEYS}
    assert kept == {
        "otlp.attr.gen_ai.input.messages",
        "otlp.attr.gen_ai.output.messages",
        "otlp.attr.gen_ai.system_instructions",
        "otlp.attr.gen_ai.tool.definitions",
        "otlp.attr.gen_ai.prompt",
        "otlp.attr.gen_ai.completion",
    }
    apply(r, "metadata_only", 0)
    assert not {k for k in r.extra if k in CONTENT_EXTRA_KEYS}
    assert r.extra["otlp.attr.server.address"] == "api.openai.com"  # not content: kept
    from gateway.formats import record_json

    assert b"SECRET" not in record_json.dumps(r)


def test_metadata_only_drops_every_otlp_content_key() -> None:
    from gateway.formats.otlp import CONTENT_EXTRA_KEYS

    # Every content attribute of the semconv table, plus the old names.
    assert {
        "otlp.attr.gen_ai.tool.call.arguments",
        "otlp.attr.gen_ai.tool.call.result",
        "otlp.attr.gen_ai.prompt",
        "otlp.attr.gen_ai.completion",
    } <= CONTENT_EXTRA_KEYS
    r = Record(extra={key: "SECRET" for key in CONTENT_EXTRA_KEYS} | {"otlp.attr.http.route": "/x"})
    apply(r, "metadata_only", 0)
    assert r.extra == {"otlp.attr.http.route": "/x"}
    r = Record(kind=Kind.TOOL, extra={key: "SECRET" for key in CONTENT_EXTRA_KEYS})
    apply(r, "full", 0)
    assert set(r.extra) == CONTENT_EXTRA_KEYS  # only metadata_only strips


def test_no_tool_content_strips_foglamp_tool_span_input_and_output() -> None:
    # Foglamp tool spans carry the tool's arguments and result as the span's input and output.
    from gateway.formats import foglamp as ff

    body = {
        "version": "v1",
        "traces": [
            {
                "traceId": "t",
                "traceName": "demo",
                "spans": [
                    {
                        "spanId": "s",
                        "spanType": "tool",
                        "name": "weather",
                        "startTime": 1_776_679_200_000,
                        "endTime": 1_776_679_200_005,
                        "input": '{"city":"Paris secret"}',
                        "output": "sunny secret",
                    }
                ],
            }
        ],
    }
    [tool] = ff.decode_ingest(body)
    apply(tool, "no_tool_content", 0)
    [wire], _ = ff.encode_batches([tool])
    assert b"secret" not in repr(wire).encode()
