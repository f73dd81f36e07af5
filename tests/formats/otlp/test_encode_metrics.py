"""The GenAI client-metrics aggregator: bucket arithmetic, temporality, and the cardinality cap."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, HistogramDataPoint, Metric

from gateway.formats.otlp.encode_metrics import MetricsAggregator
from gateway.formats.otlp.semconv import DEFAULT
from gateway.formats.otlp.values import attributes_to_dict
from gateway.model import Kind, Record, Status, Usage
from tests.formats.record_strategies import records as any_records

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000  # ns per second
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"


def llm(seconds: float, **fields: Any) -> Record:
    fields.setdefault("model", "gpt-4o")
    fields.setdefault("provider", "openai")
    return Record(kind=Kind.LLM, start_ns=T0, end_ns=T0 + round(seconds * S), **fields)


def metrics(request: ExportMetricsServiceRequest | None) -> dict[str, Metric]:
    assert request is not None
    (rm,) = request.resource_metrics
    (sm,) = rm.scope_metrics
    return {m.name: m for m in sm.metrics}


def points(metric: Metric) -> list[tuple[dict[str, Any], HistogramDataPoint]]:
    return [(attributes_to_dict(p.attributes), p) for p in metric.histogram.data_points]


def test_duration_buckets_sum_min_max() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    # Bounds are upper-inclusive: 0.01 counts in the first bucket, just over it in the second.
    agg.add([llm(0.01), llm(0.0100001), llm(1.0), llm(100.0)])
    metric = metrics(agg.collect(T0 + 60 * S))[DURATION]
    assert (metric.unit, metric.description) == ("s", "GenAI operation duration.")
    ((labels, point),) = points(metric)
    assert labels == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
    }
    assert list(point.explicit_bounds) == list(DEFAULT.metrics.operation_duration.buckets)
    assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
    expected = [0] * 15
    expected[0] = 1  # 0.01
    expected[1] = 1  # (0.01, 0.02]
    expected[7] = 1  # 1.0 in (0.64, 1.28]
    expected[14] = 1  # 100 s is past the last bound (81.92)
    assert list(point.bucket_counts) == expected
    assert point.count == 4
    assert point.sum == pytest.approx(101.0200001)
    assert point.min == pytest.approx(0.01)
    assert point.max == 100.0
    assert (point.start_time_unix_nano, point.time_unix_nano) == (T0, T0 + 60 * S)


def test_token_usage_input_and_output_only() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    usage = Usage(
        input_tokens=100,
        output_tokens=4,
        cache_read_input_tokens=20,
        cache_write_input_tokens=6,
        reasoning_tokens=2,
        input_includes_cache=False,
    )
    agg.add([llm(1.0, usage=usage)])
    metric = metrics(agg.collect(T0 + S))[TOKENS]
    assert metric.unit == "{token}"
    by_type = {labels["gen_ai.token.type"]: point for labels, point in points(metric)}
    assert set(by_type) == {"input", "output"}  # cache and reasoning are not token types in 1.41.1
    assert by_type["input"].sum == 126  # cached tokens are part of input, as on spans
    assert by_type["output"].sum == 4
    assert list(by_type["output"].explicit_bounds) == list(DEFAULT.metrics.token_usage.buckets)
    # 4 is a bound: it falls in (1, 4]; 126 in (64, 256].
    assert list(by_type["output"].bucket_counts)[:3] == [0, 1, 0]
    assert list(by_type["input"].bucket_counts).index(1) == 4
    assert "error.type" not in {k for labels, _ in points(metric) for k in labels}


def test_time_to_first_chunk_only_when_known() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    agg.add([llm(2.0, ttft_ms=300.0), llm(2.0)])
    collected = metrics(agg.collect(T0 + S))
    ((_, point),) = points(collected[TTFC])
    assert point.count == 1
    assert point.sum == pytest.approx(0.3)
    assert collected[TTFC].unit == "s"
    assert points(collected[DURATION])[0][1].count == 2


def test_attributes_are_bounded() -> None:
    agg = MetricsAggregator("delta", 100, max_value_length=8, start_time_ns=T0)
    record = llm(
        1.0,
        operation="streamText",
        provider="gemini",
        model="a-very-long-model-name",
        response_model="resp-model-2024",
        status=Status.RATE_LIMITED,
        conversation_id="conv-1",  # high cardinality: never an attribute
        user_id="u-1",
        usage=Usage(output_tokens=3),
    )
    agg.add([record])
    collected = metrics(agg.collect(T0 + S))
    ((duration_labels, _),) = points(collected[DURATION])
    assert duration_labels == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gcp.gemi",
        "gen_ai.request.model": "a-very-l",
        "gen_ai.response.model": "resp-mod",
        "error.type": "rate_lim",
    }
    ((token_labels, _),) = points(collected[TOKENS])
    assert set(token_labels) == {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.token.type",
    }


def test_only_model_and_embedding_calls_are_measured() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    agg.add(
        [
            Record(kind=Kind.TOOL, start_ns=T0, end_ns=T0 + S),
            Record(kind=Kind.AGENT, start_ns=T0, end_ns=T0 + S),
            Record(kind=Kind.EMBEDDING, operation="embed", start_ns=T0, end_ns=T0 + S),
        ]
    )
    ((labels, point),) = points(metrics(agg.collect(T0 + S))[DURATION])
    assert labels == {"gen_ai.operation.name": "embeddings"}
    assert point.count == 1


def test_records_without_times_or_with_negative_durations_are_skipped() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    agg.add([Record(kind=Kind.LLM), Record(kind=Kind.LLM, start_ns=T0, end_ns=T0 - 1)])
    assert agg.collect(T0 + S) is None


def test_delta_resets_after_collect() -> None:
    agg = MetricsAggregator("delta", 100, start_time_ns=T0)
    agg.add([llm(1.0)])
    first = points(metrics(agg.collect(T0 + 10 * S))[DURATION])[0][1]
    assert (first.count, first.start_time_unix_nano, first.time_unix_nano) == (1, T0, T0 + 10 * S)
    assert agg.collect(T0 + 20 * S) is None  # nothing new
    agg.add([llm(2.0), llm(3.0)])
    collected = metrics(agg.collect(T0 + 30 * S))[DURATION]
    assert collected.histogram.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    third = points(collected)[0][1]
    # The interval starts where the previous collect ended, even an empty one.
    assert (third.count, third.sum, third.start_time_unix_nano) == (2, 5.0, T0 + 20 * S)
    assert (third.min, third.max) == (2.0, 3.0)


def test_cumulative_keeps_counting_from_its_start() -> None:
    agg = MetricsAggregator("cumulative", 100, start_time_ns=T0)
    assert agg.collect(T0 + S) is None
    agg.add([llm(1.0)])
    first = points(metrics(agg.collect(T0 + 10 * S))[DURATION])[0][1]
    agg.add([llm(2.0)])
    collected = metrics(agg.collect(T0 + 20 * S))[DURATION]
    assert collected.histogram.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    second = points(collected)[0][1]
    assert (first.count, second.count, second.sum) == (1, 2, 3.0)
    assert (second.start_time_unix_nano, second.time_unix_nano) == (T0, T0 + 20 * S)
    assert (second.min, second.max) == (1.0, 2.0)
    third = points(metrics(agg.collect(T0 + 30 * S))[DURATION])[0][1]
    assert third.count == 2  # no new data: the same totals again


def test_cardinality_cap_folds_new_series_into_overflow() -> None:
    agg = MetricsAggregator("cumulative", 2, start_time_ns=T0)
    agg.add([llm(1.0, model=f"model-{i}") for i in range(5)])
    agg.add([llm(1.0, model="model-0")])  # an existing series still counts as itself
    series = points(metrics(agg.collect(T0 + S))[DURATION])
    assert [(labels.get("gen_ai.request.model"), p.count) for labels, p in series] == [
        ("model-0", 2),
        ("model-1", 1),
        (None, 3),
    ]
    assert series[2][0] == {"otel.metric.overflow": True}
    assert sum(p.count for _, p in series) == 6


def test_resource_and_scope() -> None:
    agg = MetricsAggregator("delta", 10, resource_attributes={"host.name": "gw-1"}, start_time_ns=T0)
    agg.add([llm(1.0)])
    request = agg.collect(T0 + S)
    assert request is not None
    (rm,) = request.resource_metrics
    assert attributes_to_dict(rm.resource.attributes) == {
        "service.name": "llm-telemetry-gateway",
        "host.name": "gw-1",
    }
    assert rm.scope_metrics[0].scope.name == "llm-telemetry-gateway"
    assert rm.scope_metrics[0].schema_url == "https://opentelemetry.io/schemas/1.41.1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("monthly", 10), "temporality must be one of delta, cumulative, got 'monthly'"),
        (("delta", 0), "max_series must be at least 1, got 0"),
    ],
)
def test_invalid_arguments(args: tuple[Any, int], message: str) -> None:
    with pytest.raises(ValueError) as info:
        MetricsAggregator(*args)
    assert str(info.value) == message


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(any_records, max_size=5), limit=st.integers(min_value=1, max_value=4))
def test_any_records_give_consistent_histograms(batch: list[Record], limit: int) -> None:
    agg = MetricsAggregator("delta", limit, start_time_ns=T0)
    agg.add(batch)
    request = agg.collect(T0 + S)
    if request is None:
        return
    for metric in metrics(request).values():
        regular = [
            p
            for p in metric.histogram.data_points
            if len(p.attributes) != 1 or p.attributes[0].key != "otel.metric.overflow"
        ]
        assert len(regular) <= limit
        for point in metric.histogram.data_points:
            assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
            assert sum(point.bucket_counts) == point.count > 0
            assert point.min <= point.max
