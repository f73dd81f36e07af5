"""OTLP spans kept as protobuf messages: the OTLP → OTLP pass-through that skips the record.

Translating a span into a :class:`~gateway.model.Record` and back costs far more than parsing
and serializing it, and for a span already written the way the conventions (and this gateway's
own encoder) write it, the round trip gives the same span back. The ``otlp`` receiver therefore
hands on the parsed request (:class:`OtlpTraces`, kind :data:`KIND`) instead of records when
every consumer downstream is an ``otlp`` exporter that declared the kind, and
:func:`survey` says that the records path would not change a single span of it. Anything that
asks for records (:meth:`OtlpTraces.materialize`) gets exactly what the receiver's decoder gives.

**The rule** (:func:`survey`, checked in :mod:`.canonical`; one pass over the request, no JSON
parsing but for the content attributes): a request is taken as it is only when every span is a
*canonical* GenAI span, one that decoding into a record and encoding back with the default
``otlp`` exporter settings gives back unchanged. Otherwise the whole request takes the records
path. A span is canonical when:

* its ids are valid (16 and 8 bytes, not all zero, the parent empty or valid), ``0 < start <=
  end < 2**63``, its status is UNSET or OK without a message, or ERROR with an ``error.type``
  attribute (which only an ERROR span may carry), and its events and links are ones the record
  keeps whole (no pre-1.28 content event, no dropped-attribute count, valid link ids);
* no attribute key repeats, and every key is either a current name of the conventions
  (semantic conventions :data:`~.semconv.DEFAULT`) or a gateway extension name whose value, where
  another type would come back changed, has the type the record field holds (strings not empty,
  ``temperature`` a double, ``max_tokens`` an int, ``gen_ai.request.stream`` true, id lists not
  empty, ...), or a name the decoder keeps as it is (any other key). Deprecated, vendor and OpenLLMetry
  indexed names, OpenInference spans, an int evaluation score and the Sigil
  ``metadata_only`` capture label all disqualify the span (the records path rewrites them);
* ``gen_ai.operation.name`` is present and already normalised, it implies the record kind (or
  ``gateway.record.kind`` names another, not ``other``), ``gateway.operation.original`` (if any)
  normalises to it, the span name is the conventions' ``{operation} {subject}`` (a different
  source name travels in ``gateway.record.name``), the provider and finish reasons are already
  normalised, and the id attribute is the one the kind uses;
* each content attribute is a string that the record path writes back byte for byte (checked
  with the encoder's own functions, :mod:`.content`), or one the decoder cannot read (kept as is).

When the receiver passes spans without GenAI attributes on (``passthrough_non_genai``), such a
span (no ``gen_ai.*`` key, no record marker, no OpenInference kind) is taken when the records
path gives it back as it came: the ids, times, status, events and links rules above, no key
twice, a name, and each value the decoder reads into a record field (``user.id``,
``error.type``, ...) of the field's type (:meth:`.canonical.Rules.other_span`).

Each resource has ``service.name`` (the encoder would add its default), no renamed environment
name and nothing but attributes; each scope has a name (not the gateway's own without a schema
URL) and nothing but a name and version. Exporter settings are the exporter's business: it takes
natives only with settings under which this rule holds (see ``gateway.exporters.otlp``).

Differences from the records path, all of form: natives keep the request's grouping into
resources and scopes (the encoder merges equal ones), the attributes' order (the encoder writes
fields first), an unset status as unset (the encoder writes an empty one), and fields newer than
the generated protobuf classes (the records path drops them). Inputs the protocol forbids go as
they came where the records path keeps one value: a key twice inside a key-value list value, a
key-value pair or value encoded with its value field twice (judged by the last).
``tests/formats/otlp/test_native.py`` checks the rule against the records path on the bench
payloads and generated spans (and shows each rule needed), ``tests/integration/test_otlp_native.py``
on real instrumentations' spans and over loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from gateway.formats.otlp import canonical
from gateway.formats.otlp.decode import traces_to_records
from gateway.formats.otlp.semconv import DEFAULT
from gateway.model import Native, Record

KIND: Final = "otlp.traces"


class OtlpTraces:
    """A batch's spans as parsed ``ResourceSpans`` (every span canonical, see the module
    docstring), ``count`` spans in all. Consumers must not modify them: fan-out branches share
    them."""

    __slots__ = ("_body", "_request", "count", "resource_spans")
    kind: Final = KIND

    def __init__(
        self,
        resource_spans: list[ResourceSpans],
        count: int,
        request: ExportTraceServiceRequest | None = None,
        body: bytes | None = None,
    ) -> None:
        self.resource_spans = resource_spans
        self.count = count
        self._request = request  # the request they all came in, when it is exactly them
        self._body = body  # and its protobuf bytes as received, when at hand

    @classmethod
    def of(cls, request: ExportTraceServiceRequest, count: int, body: bytes | None = None) -> OtlpTraces:
        """The spans of a whole request (parsed from ``body``, when given)."""
        return cls(list(request.resource_spans), count, request, body)

    def __len__(self) -> int:
        return self.count

    def request(self) -> ExportTraceServiceRequest:
        """The ``ExportTraceServiceRequest`` of these spans (the received one when unchanged)."""
        if self._request is None:
            self._request = ExportTraceServiceRequest(resource_spans=self.resource_spans)
        return self._request

    def materialize(self) -> list[Record]:
        # Spans without GenAI attributes are here only when the receiver passes them through.
        return traces_to_records(self.request(), passthrough=True)[0]

    def join(self, others: list[Native]) -> OtlpTraces:
        resource_spans, count = list(self.resource_spans), self.count
        for other in others:
            assert isinstance(other, OtlpTraces)
            resource_spans.extend(other.resource_spans)
            count += other.count
        return OtlpTraces(resource_spans, count)

    def chunks(self, size: int) -> list[Native]:
        if self.count <= size:
            return [self]
        out: list[Native] = []
        current: list[ResourceSpans] = []
        room = size
        for rs in self.resource_spans:
            n = sum(len(ss.spans) for ss in rs.scope_spans)
            if n <= room:  # the common case: whole resources, nothing copied
                current.append(rs)
                room -= n
            else:
                for ss in rs.scope_spans:
                    spans = list(ss.spans)
                    while spans:
                        if room == 0:
                            out.append(OtlpTraces(current, size))
                            current, room = [], size
                        take, spans = spans[:room], spans[room:]
                        part = ResourceSpans(resource=rs.resource, schema_url=rs.schema_url)
                        part.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url).spans.extend(take)
                        current.append(part)
                        room -= len(take)
            if room == 0:
                out.append(OtlpTraces(current, size))
                current, room = [], size
        if current:
            out.append(OtlpTraces(current, size - room))
        return out

    def halves(self) -> tuple[OtlpTraces, OtlpTraces]:
        """The first ``len // 2`` spans and the rest (how the exporter splits a large request)."""
        first, *rest = self.chunks(self.count // 2)
        assert isinstance(first, OtlpTraces)
        return first, OtlpTraces([], 0).join(rest)

    def to_bytes(self) -> bytes:
        """The request's protobuf: the bytes received when they are exactly these spans (what
        a gRPC exporter sends)."""
        if self._body is None:
            self._body = self.request().SerializeToString()
        return self._body

    @classmethod
    def from_bytes(cls, data: bytes) -> OtlpTraces:
        """Inverse of :meth:`to_bytes`; raises ``google.protobuf.message.DecodeError``."""
        request = ExportTraceServiceRequest.FromString(data)
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return cls.of(request, count, data)

    def resource_keys(self) -> list[set[str]]:
        """Each resource's attribute keys (the exporter checks its configured ones are there)."""
        return [{kv.key for kv in rs.resource.attributes} for rs in self.resource_spans]


@dataclass(frozen=True, slots=True)
class Survey:
    """What a canonical request holds, for the receiver's own checks."""

    spans: int
    services: frozenset[str]  # the resources' service.name values
    scopes: frozenset[str]  # the instrumentation scope names


def survey(
    request: ExportTraceServiceRequest, body: bytes | None = None, *, passthrough: bool = False
) -> Survey | None:
    """The request's survey when every span is canonical (module docstring), else ``None``.
    ``body``: the protobuf bytes it was parsed from, if at hand (else it is serialized).
    ``passthrough``: the records path passes spans without GenAI attributes on (the receiver's
    ``passthrough_non_genai``), so such spans are taken too when it would give them back
    unchanged."""
    data = request.SerializeToString() if body is None else body
    found = canonical.rules(DEFAULT).survey(request, data, passthrough)
    if found is None:
        return None
    spans, services, scopes = found
    return Survey(spans, frozenset(services), frozenset(scopes))
