"""GenAI client metrics from records: a pure aggregator that an OTLP exporter collects from.

For each model or embedding record (tool, agent and workflow records are not client operations
in semconv 1.41.1), :meth:`MetricsAggregator.add` records:

* ``gen_ai.client.operation.duration`` (s): end - start, when both are known;
* ``gen_ai.client.token.usage`` ({token}): one point for ``gen_ai.token.type=input`` (cached
  tokens included, as on spans) and one for ``output``, each when known;
* ``gen_ai.client.operation.time_to_first_chunk`` (s): when the record has a TTFT.

Attributes are bounded on purpose (they make the series): operation name, provider, request
model, response model, and ``error.type`` on duration only; values are cut to
``max_value_length`` characters. Each metric keeps at most ``max_series`` attribute sets; later new
sets go to one overflow series with ``otel.metric.overflow=true``, as the OpenTelemetry SDK does
with its cardinality limit (the overflow series comes on top of the limit).

Temporality: ``delta`` forgets everything at each :meth:`~MetricsAggregator.collect` and starts
the next interval there; ``cumulative`` keeps counting from the aggregator's start time.
Not thread-safe: the owner (an exporter task) serialises ``add`` and ``collect``.

:func:`.wire.encode_metrics_json` writes a collected request as OTLP/JSON (``http/json`` exporters).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from gateway.formats.otlp.semconv import DEFAULT, MetricSpec, SemConv, normalize_operation, normalize_provider
from gateway.formats.otlp.values import EXTRA_ATTR, add_attribute, error_type, inclusive_input_tokens
from gateway.model import Kind, Record

DEFAULT_MAX_SERIES = 2000  # the OpenTelemetry SDK's default cardinality limit
DEFAULT_MAX_VALUE_LENGTH = 256  # characters per attribute value
DEFAULT_SERVICE_NAME = "llm-telemetry-gateway"
SCOPE_NAME = "llm-telemetry-gateway"

Temporality = Literal["delta", "cumulative"]
_Attributes = tuple[tuple[str, str | int], ...]  # sorted by name: the series identity


@dataclass(slots=True)
class _Series:
    attributes: _Attributes
    bucket_counts: list[int]
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = -math.inf


@dataclass(slots=True)
class _Histogram:
    spec: MetricSpec
    series: dict[_Attributes, _Series] = field(default_factory=dict)
    overflow: _Series | None = None

    def record(self, value: float, attributes: _Attributes, max_series: int, overflow_key: str) -> None:
        series = self.series.get(attributes)
        if series is None:
            if len(self.series) < max_series:
                series = self.series[attributes] = self._new(attributes)
            else:
                if self.overflow is None:
                    self.overflow = self._new(((overflow_key, "true"),))
                series = self.overflow
        # Explicit buckets are (previous bound, bound]: a value equal to a bound counts below it.
        series.bucket_counts[bisect.bisect_left(self.spec.buckets, value)] += 1
        series.count += 1
        series.total += value
        series.min = min(series.min, value)
        series.max = max(series.max, value)

    def _new(self, attributes: _Attributes) -> _Series:
        return _Series(attributes=attributes, bucket_counts=[0] * (len(self.spec.buckets) + 1))

    def all_series(self) -> list[_Series]:
        return [*self.series.values(), *([self.overflow] if self.overflow is not None else [])]

    def reset(self) -> None:
        self.series.clear()
        self.overflow = None


# operation (as the source spelled it), the kind's default operation, provider, request and
# response model, server address and port: what a record's series are worked out from.
SeriesKey = tuple[str, str, str, str, str, str | None, int | None]


# What one model or embedding call adds to the metrics: its series key; the duration's start and
# end (both, or neither); error.type ("" when the call succeeded); input tokens as
# gen_ai.usage.input_tokens counts them (cached ones included); output tokens; time to first
# chunk in ms. A plain tuple: one is made per record.
Point = tuple[SeriesKey, int | None, int | None, str, int | None, int | None, float | None]

_SETS_CACHED = 4096  # distinct record keys remembered by MetricsAggregator; it starts over when full


@dataclass(slots=True)
class _SeriesAttributes:
    """The attribute sets one kind of record is counted under."""

    base: dict[str, str | int]  # operation, provider, models, server
    base_attributes: _Attributes  # time to first chunk
    input_tokens: _Attributes
    output_tokens: _Attributes
    duration: dict[str, _Attributes] = field(default_factory=dict)  # by error.type ("" for success)


class MetricsAggregator:
    """Aggregates records into GenAI client histograms (see the module docstring)."""

    def __init__(
        self,
        temporality: Temporality,
        max_series: int = DEFAULT_MAX_SERIES,
        *,
        semconv: SemConv = DEFAULT,
        resource_attributes: Mapping[str, str] | None = None,
        max_value_length: int = DEFAULT_MAX_VALUE_LENGTH,
        start_time_ns: int | None = None,
    ) -> None:
        if temporality not in ("delta", "cumulative"):
            raise ValueError(f"temporality must be one of delta, cumulative, got {temporality!r}")
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, got {max_series}")
        if max_value_length < 1:
            raise ValueError(f"max_value_length must be at least 1, got {max_value_length}")
        self._semconv = semconv
        self._delta = temporality == "delta"
        self._max_series = max_series
        self._max_value_length = max_value_length
        self._resource = {semconv.attrs.service_name: DEFAULT_SERVICE_NAME, **(resource_attributes or {})}
        # Cumulative points keep this start; delta points start where the last collect ended.
        self._start_ns = time.time_ns() if start_time_ns is None else start_time_ns
        self._interval_start_ns = self._start_ns
        m = semconv.metrics
        self._duration = _Histogram(m.operation_duration)
        self._tokens = _Histogram(m.token_usage)
        self._ttfc = _Histogram(m.time_to_first_chunk)
        self._kind_operations = {
            Kind.LLM: semconv.operations.chat,
            Kind.EMBEDDING: semconv.operations.embeddings,
        }
        # What a record's points are keyed by, per distinct (operation, provider, models, server):
        # working them out (normalising, sorting, cutting) once, not per record.
        self._sets: dict[SeriesKey, _SeriesAttributes] = {}
        self._address_key = EXTRA_ATTR + semconv.attrs.server_address
        self._port_key = EXTRA_ATTR + semconv.attrs.server_port

    def add(self, records: Iterable[Record]) -> None:
        self.add_points([point for point in map(self._point, records) if point is not None])

    def _point(self, record: Record) -> Point | None:
        """What ``record`` is counted as (None: a record these metrics do not count)."""
        default_operation = self._kind_operations.get(record.kind)
        if default_operation is None:
            return None
        # server.address / server.port (recommended on both metrics) as the source's span had them.
        address: str | None = None
        port: int | None = None
        extra = record.extra
        if extra:
            found = extra.get(self._address_key)
            if isinstance(found, str) and found:
                address = found
                found = extra.get(self._port_key)
                port = found if isinstance(found, int) and not isinstance(found, bool) else None
        start, end = record.start_ns, record.end_ns
        timed = start is not None and end is not None and end >= start
        return (
            (
                record.operation,
                default_operation,
                record.provider,
                record.model,
                record.response_model,
                address,
                port,
            ),
            start if timed else None,
            end if timed else None,
            error_type(record, self._semconv.error_type_other) if timed else "",
            inclusive_input_tokens(record.usage, record.provider),
            record.usage.output_tokens,
            record.ttft_ms,
        )

    def add_points(self, points: Iterable[Point]) -> None:
        """Counts what records (:meth:`add`) or spans (``native_metrics``) were counted as."""
        a, sc = self._semconv.attrs, self._semconv
        limit, overflow = self._max_series, sc.metrics.overflow_attribute
        for key, start, end, failure, input_tokens, output_tokens, ttft_ms in points:
            sets = self._sets.get(key)
            if sets is None:
                sets = self._series_attributes(key)
            if start is not None and end is not None and end >= start:
                attrs = sets.duration.get(failure)
                if attrs is None:
                    attrs = sets.duration[failure] = self._attributes({**sets.base, a.error_type: failure})
                self._duration.record((end - start) / 1e9, attrs, limit, overflow)
            if input_tokens is not None and input_tokens >= 0:
                self._tokens.record(float(input_tokens), sets.input_tokens, limit, overflow)
            if output_tokens is not None and output_tokens >= 0:
                self._tokens.record(float(output_tokens), sets.output_tokens, limit, overflow)
            if ttft_ms is not None and ttft_ms >= 0 and math.isfinite(ttft_ms):
                self._ttfc.record(ttft_ms / 1000.0, sets.base_attributes, limit, overflow)

    def _series_attributes(self, key: SeriesKey) -> _SeriesAttributes:
        """The attribute sets of a record's points, made once per distinct key (see add)."""
        operation, default_operation, provider, model, response_model, address, port = key
        a, sc = self._semconv.attrs, self._semconv
        base: dict[str, str | int] = {
            a.operation_name: normalize_operation(operation, default_operation, sc),
            a.provider_name: normalize_provider(provider, sc) if provider else "",
            a.request_model: model,
            a.response_model: response_model,
        }
        if address is not None:
            base[a.server_address] = address
            if port is not None:
                base[a.server_port] = port
        if len(self._sets) >= _SETS_CACHED:
            self._sets.clear()
        sets = self._sets[key] = _SeriesAttributes(
            base=base,
            base_attributes=self._attributes(base),
            input_tokens=self._attributes({**base, a.token_type: sc.token_type_input}),
            output_tokens=self._attributes({**base, a.token_type: sc.token_type_output}),
        )
        return sets

    def collect(self, now_ns: int) -> ExportMetricsServiceRequest | None:
        """The points since the last collect (delta) or since the start (cumulative); ``None``
        when there is nothing to send."""
        histograms = [h for h in (self._duration, self._tokens, self._ttfc) if h.series or h.overflow]
        start_ns = self._interval_start_ns if self._delta else self._start_ns
        if self._delta:
            self._interval_start_ns = now_ns
        if not histograms:
            return None
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        for key, value in self._resource.items():
            add_attribute(rm.resource.attributes, key, value)
        sm = rm.scope_metrics.add(schema_url=self._semconv.schema_url)
        sm.scope.name = SCOPE_NAME
        temporality = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
            if self._delta
            else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        for histogram in histograms:
            metric = sm.metrics.add(
                name=histogram.spec.name, unit=histogram.spec.unit, description=histogram.spec.description
            )
            metric.histogram.aggregation_temporality = temporality
            bounds = histogram.spec.buckets
            for series in histogram.all_series():
                point = metric.histogram.data_points.add(
                    start_time_unix_nano=start_ns,
                    time_unix_nano=now_ns,
                    count=series.count,
                    sum=series.total,
                    min=series.min,
                    max=series.max,
                    bucket_counts=series.bucket_counts,
                    explicit_bounds=bounds,
                )
                for key, attribute in series.attributes:
                    # The overflow marker is a boolean attribute in the SDK; keep that type.
                    add_attribute(point.attributes, key, True if key == self._overflow_key else attribute)
            if self._delta:
                histogram.reset()
        return request

    @property
    def _overflow_key(self) -> str:
        return self._semconv.metrics.overflow_attribute

    def _attributes(self, values: Mapping[str, str | int]) -> _Attributes:
        cut = self._max_value_length
        return tuple(sorted((k, val[:cut] if isinstance(val, str) else val) for k, val in values.items() if val))
