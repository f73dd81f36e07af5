"""Sigil generation ingest <-> :class:`~gateway.model.Record`: pure translation, no I/O.

Sigil SDKs send ``ExportGenerationsRequest`` / ``ExportWorkflowStepsRequest`` as protojson over
HTTP or protobuf over gRPC, as package ``sigil.v1`` or (after the rename) ``agento11y.v1``;
both packages have the same wire format and are read with one schema. The reply has one
result per item. The behaviour mirrors the Sigil server (``/work/shared/wire/sigil.md``
sections 3 to 5); receivers and exporters only move bytes and call these functions.

Modules, by direction (``decode*`` = into the record, ``encode*`` = out of it):

* :mod:`.decode_json`: protojson bodies -> records, on the Go-compatible walker :mod:`.protojson`.
* :mod:`.decode_proto`: protobuf messages (gRPC) -> records.
* :mod:`.encode_json` / :mod:`.encode_proto`: records -> protojson / protobuf messages.
* :mod:`.responses`: the per-item export results, both transports, both sides.
* :mod:`.native`: the pass-through (messages handed on untranslated when every consumer is a
  Sigil exporter).
* :mod:`.scores`: ``/api/v1/scores:export`` and conversation ratings (on :mod:`.go_json`, the
  Go ``encoding/json`` emulation those endpoints need).
* :mod:`.common`: the server's defaults and rules shared by all of the above.

Receiving (receiver side)::

    decode_generations_json(body: bytes, *, now_ns: int | None = None) -> list[Record | ItemError]
    decode_workflow_steps_json(body: bytes) -> list[Record | ItemError]
    decode_generations_grpc(data: bytes, *, now_ns: int | None = None) -> list[Record | ItemError]
    decode_workflow_steps_grpc(data: bytes) -> list[Record | ItemError]
    generations_from_request(request, *, now_ns=None) / workflow_steps_from_request(request)
        # the same for an already parsed ExportGenerationsRequest / ExportWorkflowStepsRequest
    export_results(items) -> list[ExportResult]
    encode_generations_response_json(results) -> bytes       # 202 body; b"{}" without results
    encode_workflow_steps_response_json(results) -> bytes
    generations_response(results) / workflow_steps_response(results)   # gRPC reply messages

Each decoder returns one entry per item, in request order: the record after the server's
defaults (id ``gen-<n>``, mode SYNC, operation ``generateText``/``streamText``, missing
timestamps = ``now_ns`` or the current time), or an :class:`ItemError` carrying the item's
(defaulted) id and the server's exact rejection text (``generation.model is required``, ...).
A body that does not parse raises :class:`SigilDecodeError` whose message is protobuf-go's
(``proto: (line 1:2): unknown field "foo"``): the receiver answers 400 with it, or, for gRPC,
INVALID_ARGUMENT (the Sigil server's grpc-go answers INTERNAL).

Sending (exporter side)::

    encode_generations_json(records) -> bytes     # ExportGenerationsRequest, SDK-shaped protojson
    encode_workflow_steps_json(records) -> bytes
    generations_request(records) / workflow_steps_request(records)   # gRPC request messages
    generation_items(records) -> list[bytes]      # each Generation serialized, for framing
    decode_generations_response_json(body) -> list[ExportResult]    # raises SigilDecodeError
    decode_workflow_steps_response_json(body) -> list[ExportResult]
    results_from_generations_response(msg) / results_from_workflow_steps_response(msg)

Single messages::

    generation_to_record(pb.Generation) -> Record          record_to_generation(Record) -> pb.Generation
    workflow_step_to_record(pb.WorkflowStep) -> Record     record_to_workflow_step(Record) -> pb.WorkflowStep

Record conventions:

* Generations are ``Kind.LLM``; generation id -> ``id``, ``operation_name`` -> ``operation``,
  mode STREAM/SYNC -> ``stream`` True/False (None when unspecified), times are int ns.
* Non-blank ``call_error`` -> ``error_message`` and ``status=Status.ERROR``. Going out, a failed
  record without a message sends its error type or status name, so it still counts as an
  error.
* proto3 usage counts cannot tell 0 from unset: 0 -> ``None`` (so exporters of other formats
  do not send a false 0) and ``None`` -> 0. ``input_semantics`` INCLUSIVE ->
  ``Usage.input_includes_cache=True``. The legacy ``cache_creation_input_tokens`` (field 7)
  is read into ``cache_write_input_tokens`` when field 5 is 0, and never written.
* ``optional`` fields keep presence (``temperature=0.0`` is not ``None``).
* Metadata ``sigil.user.id`` / ``user.id`` -> ``user_id`` and ``sigil.conversation.title`` /
  ``conversation_title`` -> ``conversation_title``; metadata stays untouched. Going out, the
  ``sigil.*`` key is added only when the record has the value and metadata has neither key.
* Struct numbers that are integral within 2**53 are kept as ``int``.
* Workflow steps are ``Kind.WORKFLOW_STEP`` with ``step_name`` -> ``name`` and ``error`` ->
  ``error_message``. They are checked with the SDK's rules (``id is required``,
  ``conversation_id is required``, ``step_name is required``, trimmed; ``completed_at must
  not be earlier than started_at``); the server's own rules are not public.
* System-role messages from other formats become ``system_prompt`` when the record has none.

Known deviations from Go are listed in ``gateway.formats.sigil.decode_json``.
"""

from __future__ import annotations

from collections import Counter

import orjson

from gateway.formats import Format, LineStats, MessageBody, MessageCodec, MessageItems
from gateway.formats.report import EncodeReport
from gateway.formats.sigil import native
from gateway.formats.sigil.common import (
    CAPTURE_MODE_KEY,
    TITLE_KEYS,
    ExportResult,
    ItemError,
    SigilDecodeError,
    export_results,
)
from gateway.formats.sigil.decode_json import decode_generations_json, decode_workflow_steps_json
from gateway.formats.sigil.decode_proto import (
    decode_generations_grpc,
    decode_workflow_steps_grpc,
    generation_to_record,
    generations_from_request,
    workflow_step_to_record,
    workflow_steps_from_request,
)
from gateway.formats.sigil.encode_json import encode_generations_json, encode_workflow_steps_json
from gateway.formats.sigil.encode_proto import (
    generation_items,
    generations_request,
    record_to_generation,
    record_to_workflow_step,
    workflow_steps_request,
)
from gateway.formats.sigil.responses import (
    decode_generations_response_json,
    decode_workflow_steps_response_json,
    encode_generations_response_json,
    encode_workflow_steps_response_json,
    generations_response,
    results_from_generations_response,
    results_from_workflow_steps_response,
    workflow_steps_response,
)
from gateway.model import Kind, Native, Rating, Record, Score

__all__ = [
    "FORMAT",
    "ExportResult",
    "ItemError",
    "SigilDecodeError",
    "decode_generations_grpc",
    "decode_generations_json",
    "decode_generations_response_json",
    "decode_workflow_steps_grpc",
    "decode_workflow_steps_json",
    "decode_workflow_steps_response_json",
    "encode_generations_json",
    "encode_generations_response_json",
    "encode_workflow_steps_json",
    "encode_workflow_steps_response_json",
    "export_results",
    "generation_items",
    "generation_to_record",
    "generations_from_request",
    "generations_request",
    "generations_response",
    "record_to_generation",
    "record_to_workflow_step",
    "results_from_generations_response",
    "results_from_workflow_steps_response",
    "workflow_step_to_record",
    "workflow_steps_from_request",
    "workflow_steps_request",
    "workflow_steps_response",
]


def _read_line(line: bytes, stats: LineStats) -> list[Record]:
    head = orjson.loads(line)
    steps = isinstance(head, dict) and ("workflow_steps" in head or "workflowSteps" in head)
    items = decode_workflow_steps_json(line) if steps else decode_generations_json(line)
    records = [i for i in items if isinstance(i, Record)]
    stats.rejected_items += len(items) - len(records)
    return records


def _write_lines(records: list[Record], report: EncodeReport) -> list[bytes]:
    """One ExportGenerationsRequest body (and one ExportWorkflowStepsRequest) per call."""
    gens = [r for r in records if r.kind == Kind.LLM]
    steps = [r for r in records if r.kind == Kind.WORKFLOW_STEP]
    report.records_in += len(records)
    report.dropped["not a generation or workflow step"] += len(records) - len(gens) - len(steps)
    report.records_out += len(gens) + len(steps)
    out = [encode_generations_json(gens)] if gens else []
    if steps:
        out.append(encode_workflow_steps_json(steps))
    return out


GENERATIONS_BODY = "sigil/generations"  # message body kinds (the NATS Gateway-Encoding header)
WORKFLOW_STEPS_BODY = "sigil/workflow_steps"


def _messages(
    records: list[Record], scores: list[Score], ratings: list[Rating], dropped: Counter[str]
) -> list[MessageBody]:
    gens = [r for r in records if r.kind == Kind.LLM]
    steps = [r for r in records if r.kind == Kind.WORKFLOW_STEP]
    # Framed from each Generation, as the Sigil exporter sends them (no request copy).
    out = [MessageBody(GENERATIONS_BODY, native.frame_request(generation_items(gens)), len(gens))] if gens else []
    if steps:
        out.append(MessageBody(WORKFLOW_STEPS_BODY, workflow_steps_request(steps).SerializeToString(), len(steps)))
    if len(records) > len(gens) + len(steps):
        dropped["unsupported_kind"] += len(records) - len(gens) - len(steps)
    return out


def _message_items(items: list[Record | ItemError]) -> MessageItems:
    records = [i for i in items if isinstance(i, Record)]
    return MessageItems(records, rejected=len(items) - len(records))


def _native_generations(data: bytes) -> native.SigilGenerations | None:
    """A generations body every item of which the Sigil server takes, as the messages the
    ``sigil`` gRPC receiver hands on; None otherwise (the records path counts the refusals and
    words a decode error)."""
    try:
        items = native.decode_generations_grpc_native(data)
    except SigilDecodeError:
        return None
    messages = [item for item in items if not isinstance(item, ItemError)]
    if not messages or len(messages) < len(items):
        return None
    return native.SigilGenerations(messages)


def _native_messages(batch: Native) -> list[MessageBody] | None:
    if isinstance(batch, native.SigilGenerations):
        return [MessageBody(GENERATIONS_BODY, batch.request_bytes(), len(batch))]
    return None


MESSAGES = MessageCodec(
    encoding="sigil_proto",
    encode=_messages,
    decoders={
        GENERATIONS_BODY: (
            "application/x-protobuf; proto=sigil.v1.ExportGenerationsRequest",
            lambda data: _message_items(decode_generations_grpc(data)),
        ),
        WORKFLOW_STEPS_BODY: (
            "application/x-protobuf; proto=sigil.v1.ExportWorkflowStepsRequest",
            lambda data: _message_items(decode_workflow_steps_grpc(data)),
        ),
    },
    encode_native=_native_messages,
    native_kinds=frozenset({native.KIND, native.KIND_SENT_AS_PROTOBUF}),
    native_decoders={GENERATIONS_BODY: (native.KIND, _native_generations)},
)


FORMAT = Format(
    name="sigil",
    description="Sigil ExportGenerationsRequest / ExportWorkflowStepsRequest protojson, one body per line",
    line_reader=_read_line,
    line_writer=lambda: _write_lines,
    native_decoders={native.KIND: native.SigilGenerations.from_bytes},
    # Conversation titles and the raw call error are content (Sigil's metadata_only mode).
    content_metadata_keys=frozenset({*TITLE_KEYS, "call_error"}),
    capture_mode_key=CAPTURE_MODE_KEY,
    message_codec=MESSAGES,
)
