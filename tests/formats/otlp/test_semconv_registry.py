"""The OTLP writer against the conventions' own attribute table.

The table is read from ``opentelemetry-semantic-conventions`` (its generated GenAI attribute
module: every name with its docstring, deprecations included), not copied here, so a deprecation
the package knows and the writer does not fails this test.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import pathlib
import re

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES, DEPRECATED_REMOVED, DEPRECATED_RENAMES
from gateway.formats.otlp.encode_metrics import MetricsAggregator
from gateway.model import Kind, Message, Part, PartKind, Record, Role, Usage
from gateway.model import Status as RecordStatus
from tests.formats.otlp.test_encode import attrs, emit, only_span

_REPLACED = re.compile(r"Deprecated: Replaced by `([^`]+)`")


def registry() -> tuple[set[str], dict[str, str], set[str]]:
    """Every attribute name; the deprecated ones with their replacement; the removed ones."""
    tree = ast.parse(pathlib.Path(gen_ai_attributes.__file__).read_text())
    names: set[str] = set()
    replaced: dict[str, str] = {}
    removed: set[str] = set()
    body = tree.body
    for node, following in itertools.pairwise(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Constant)):
            continue
        name = node.value.value
        if not isinstance(name, str):
            continue
        names.add(name)
        doc = (
            following.value.value
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            else ""
        )
        if not isinstance(doc, str):
            continue
        if (match := _REPLACED.search(doc)) is not None:
            replaced[name] = match.group(1)
        elif "Deprecated: Removed" in doc:
            removed.add(name)
    return names, replaced, removed


NAMES, REPLACED, REMOVED = registry()


def test_the_table_was_read() -> None:
    assert "gen_ai.request.model" in NAMES and REPLACED["gen_ai.system"] == "gen_ai.provider.name"
    assert {"gen_ai.prompt", "gen_ai.completion"} <= REMOVED


def test_every_deprecated_name_is_read_in_or_upgraded_out() -> None:
    for name, current in REPLACED.items():
        assert name in ATTRIBUTE_ALIASES or DEPRECATED_RENAMES.get(name) == current, name
    assert not REMOVED - DEPRECATED_REMOVED - set(ATTRIBUTE_ALIASES)


def rich_record() -> Record:
    record = Record(
        kind=Kind.LLM,
        operation="chat",
        provider="openai",
        model="gpt-4o",
        stream=False,
        stop_reason="end_turn",
        output=[Message(Role.ASSISTANT, [Part(PartKind.TEXT, text="hi")])],
        # Sigil-style: the SDK's count already holds the cached tokens; the record cannot say.
        usage=Usage(input_tokens=1000, output_tokens=50, cache_read_input_tokens=900),
        status=RecordStatus.ERROR,
        error_message="Error code: 429 - rate limit reached",
    )
    for name in (*REPLACED, *REMOVED):
        record.extra["otlp.attr." + name] = "auto" if "service_tier" in name else "x"
    record.extra["otlp.attr.gen_ai.request.top_k"] = 40.0
    record.extra["otlp.attr.server.address"] = "api.openai.com"
    record.extra["otlp.attr.server.port"] = 443
    return record


def test_written_span_has_no_deprecated_name_and_the_right_types() -> None:
    values = attrs(only_span(emit(rich_record())))
    deprecated = set(REPLACED) | REMOVED
    assert not deprecated & set(values)
    record = rich_record()
    for old, new in DEPRECATED_RENAMES.items():
        assert values[new] == record.extra["otlp.attr." + old]
    assert "gen_ai.request.stream" not in values  # set only when streaming
    assert values["gen_ai.request.top_k"] == 40 and isinstance(values["gen_ai.request.top_k"], int)
    assert values["gen_ai.response.finish_reasons"] == ["stop"]  # end_turn normalised
    assert values["gen_ai.usage.input_tokens"] == 1000  # not 1900: OpenAI counts include the cache
    assert values["error.type"] == "rate_limit"  # from the 429, not _OTHER
    assert set(values) - {"gen_ai.output.messages"} <= NAMES | {
        "error.type",
        "server.address",
        "server.port",
        *DEPRECATED_RENAMES.values(),
    } | {k for k in values if k.startswith(("gateway.", "sigil."))}


def test_old_names_on_request() -> None:
    values = attrs(only_span(emit(rich_record(), emit_deprecated=True)))
    record = rich_record()
    for old, new in DEPRECATED_RENAMES.items():
        assert values[old] == values[new] == record.extra["otlp.attr." + old]
    assert {"gen_ai.prompt", "gen_ai.completion"} <= set(values)


def test_streaming_and_unknown_finish() -> None:
    streamed = dataclasses.replace(rich_record(), stream=True, stop_reason="", status=RecordStatus.OK)
    values = attrs(only_span(emit(streamed)))
    assert values["gen_ai.request.stream"] is True
    assert "gen_ai.response.finish_reasons" not in values
    assert '"finish_reason"' not in str(values["gen_ai.output.messages"])  # not invented


@pytest.mark.parametrize(("provider", "expected"), [("openai", 1000), ("anthropic", 1900)])
def test_metrics_keep_server_address_and_count_input_once(provider: str, expected: int) -> None:
    record = dataclasses.replace(rich_record(), provider=provider, start_ns=1, end_ns=2)
    aggregator = MetricsAggregator("delta")
    aggregator.add([record])
    request = aggregator.collect(10)
    assert request is not None
    points = {m.name: list(m.histogram.data_points) for m in request.resource_metrics[0].scope_metrics[0].metrics}
    for point in points["gen_ai.client.operation.duration"] + points["gen_ai.client.token.usage"]:
        labels = {kv.key: kv.value for kv in point.attributes}
        assert labels["server.address"].string_value == "api.openai.com" and labels["server.port"].int_value == 443
    inputs = [
        p for p in points["gen_ai.client.token.usage"] if any(kv.value.string_value == "input" for kv in p.attributes)
    ]
    assert [p.sum for p in inputs] == [expected]
