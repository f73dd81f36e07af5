"""GenAI client metrics of OTLP spans kept as they came (:mod:`.native`), without records.

An ``otlp`` exporter with metrics on counts every model and embedding call it sends
(:mod:`.encode_metrics`). For spans the pass-through takes, :func:`points` reads what a call is
counted as straight from the span's serialized attributes (the same view :mod:`.canonical`
judges them in), so the pass-through stays open with metrics on, which is the default.

The points equal what the records path counts (``MetricsAggregator.add`` of the decoded
records) because a canonical span is one the records path writes back unchanged: each attribute
read here holds what the encoder writes from the record field the aggregator reads.

* operation: ``gen_ai.operation.name`` (already normalised); the kind it implies, or
  ``gateway.record.kind``; only model and embedding calls count;
* provider, request and response model: their string attributes ("" when absent);
* ``server.address`` when a non-empty string, with ``server.port`` when an int;
* duration from the span's start and end; ``error.type`` for a span with an error status;
* ``gen_ai.usage.input_tokens`` and ``output_tokens`` when ints (the decoder keeps any other
  type aside, uncounted); ``gen_ai.response.time_to_first_chunk`` when a double, converted to
  milliseconds as the decoder does.

``tests/formats/otlp/test_native.py`` checks them against the records path wherever the survey
takes a request.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from gateway.formats.otlp import canonical
from gateway.formats.otlp.encode_metrics import Point, SeriesKey
from gateway.formats.otlp.native import OtlpTraces
from gateway.formats.otlp.semconv import DEFAULT, EXTENSIONS, SemConv
from gateway.formats.otlp.values import operation_kinds
from gateway.model import Kind

_ERROR: Final = Status.STATUS_CODE_ERROR
_REMEMBERED: Final = 4096  # series keys and values read remembered at most (then forgotten at once)
_LONG: Final = 256  # bytes: a longer value is read each time, not remembered


def points(native: OtlpTraces, semconv: SemConv = DEFAULT) -> list[Point]:
    """What the spans of ``native`` (every one canonical) count as, one point per model or
    embedding call, in span order."""
    return _reader(semconv).points(native)


@functools.lru_cache(maxsize=4)
def _reader(semconv: SemConv) -> _Reader:
    return _Reader(semconv)


class _Reader:
    """The attribute names of one convention version, and what was read before."""

    def __init__(self, semconv: SemConv) -> None:
        a = semconv.attrs
        self.series_names = (
            a.operation_name,
            EXTENSIONS.record_kind,
            a.provider_name,
            a.request_model,
            a.response_model,
            a.server_address,
            a.server_port,
        )
        self.error_type = a.error_type
        self.input_tokens = a.usage_input_tokens
        self.output_tokens = a.usage_output_tokens
        self.ttfc = a.response_time_to_first_chunk
        self.kinds = operation_kinds(semconv)
        self.defaults = {Kind.LLM: semconv.operations.chat, Kind.EMBEDDING: semconv.operations.embeddings}
        self.keys: dict[tuple[bytes | None, ...], SeriesKey | None] = {}
        self.values: dict[bytes, Any] = {}

    def points(self, native: OtlpTraces) -> list[Point]:
        out: list[Point] = []
        names, keys, value = self.series_names, self.keys, self._value
        error_type, ttfc = self.error_type, self.ttfc
        input_tokens, output_tokens = self.input_tokens, self.output_tokens
        for rs in canonical.view(native.to_bytes()).items:
            for ss in rs.items:
                for span in ss.items:
                    attributes = span.items
                    get = attributes.get
                    raw = tuple(map(get, names))
                    key = keys[raw] if raw in keys else self._key(raw)
                    if key is None:
                        continue  # not a model or embedding call
                    failure = ""
                    if span.status.code == _ERROR:
                        failure = _string(value(get(error_type)))
                    seconds = value(get(ttfc))
                    out.append(
                        (
                            key,
                            span.start,
                            span.end,
                            failure,
                            _int(value(get(input_tokens))),
                            _int(value(get(output_tokens))),
                            seconds * 1000.0 if type(seconds) is float else None,
                        )
                    )
        return out

    def _key(self, raw: tuple[bytes | None, ...]) -> SeriesKey | None:
        """The series key of a span's (operation, record kind, provider, models, server) values."""
        operation, record_kind, provider, model, response_model, address, port = map(self._value, raw)
        operation = _string(operation)
        try:
            kind = Kind(record_kind) if isinstance(record_kind, str) else self.kinds.get(operation)
        except ValueError:
            kind = None
        default = self.defaults.get(kind) if kind is not None else None
        key: SeriesKey | None = None
        if default is not None:
            where = address if isinstance(address, str) and address else None
            key = (
                operation,
                default,
                _string(provider),
                _string(model),
                _string(response_model),
                where,
                port if where is not None and type(port) is int else None,
            )
        if len(self.keys) >= _REMEMBERED:
            self.keys.clear()
        if sum(len(part) for part in raw if part is not None) <= _LONG:
            self.keys[raw] = key
        return key

    def _value(self, raw: bytes | None) -> Any:
        """A serialized ``AnyValue``'s string, int or double (None: absent or another type)."""
        if raw is None:
            return None
        found = self.values.get(raw, self)
        if found is not self:
            return found
        parsed = AnyValue.FromString(raw)
        which = parsed.WhichOneof("value")
        found = getattr(parsed, which) if which in _SCALARS else None
        if len(raw) <= _LONG:
            if len(self.values) >= _REMEMBERED:
                self.values.clear()
            self.values[raw] = found
        return found


_SCALARS: Final = frozenset({"string_value", "int_value", "double_value"})


def _string(value: Any) -> str:
    return value if type(value) is str else ""


def _int(value: Any) -> int | None:
    return value if type(value) is int else None
