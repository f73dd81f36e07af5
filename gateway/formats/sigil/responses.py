"""Export results: the per-item answer of a Sigil ingest call, both transports, both sides.

The receiver writes them (:func:`encode_generations_response_json`, :func:`generations_response`)
and the exporter reads a backend's (:func:`decode_generations_response_json`,
:func:`results_from_generations_response`); workflow steps have the same four.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil.common import ExportResult, SigilDecodeError


def generations_response(results: Iterable[ExportResult]) -> pb.ExportGenerationsResponse:
    return pb.ExportGenerationsResponse(
        results=[pb.ExportGenerationResult(generation_id=r.id, accepted=r.accepted, error=r.error) for r in results]
    )


def workflow_steps_response(results: Iterable[ExportResult]) -> pb.ExportWorkflowStepsResponse:
    return pb.ExportWorkflowStepsResponse(
        results=[pb.ExportWorkflowStepResult(step_id=r.id, accepted=r.accepted, error=r.error) for r in results]
    )


def results_from_generations_response(response: pb.ExportGenerationsResponse) -> list[ExportResult]:
    # A slice: upb iterates repeated fields through the slow generic protocol.
    return [ExportResult(r.generation_id, r.accepted, r.error) for r in response.results[:]]


def results_from_workflow_steps_response(response: pb.ExportWorkflowStepsResponse) -> list[ExportResult]:
    return [ExportResult(r.step_id, r.accepted, r.error) for r in response.results[:]]


def _encode_results(results: Iterable[ExportResult], id_key: str) -> bytes:
    items = []
    for result in results:
        item: dict[str, Any] = {}
        if result.id:
            item[id_key] = result.id
        if result.accepted:
            item["accepted"] = True
        if result.error:
            item["error"] = result.error
        items.append(item)
    return orjson.dumps({"results": items} if items else {})


def encode_generations_response_json(results: Iterable[ExportResult]) -> bytes:
    """The receiver's 202 body: proto names, defaults omitted, ``{}`` without results."""
    return _encode_results(results, "generation_id")


def encode_workflow_steps_response_json(results: Iterable[ExportResult]) -> bytes:
    return _encode_results(results, "step_id")


def _decode_results(body: bytes, id_keys: tuple[str, str]) -> list[ExportResult]:
    # Lenient like the SDK: unknown keys are ignored, a missing `accepted` means false and a
    # missing id is "" (callers fall back to the id they sent at that index).
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SigilDecodeError(f"proto: invalid response body: {exc}") from None
    if type(root) is not dict:
        raise SigilDecodeError("proto: response body is not a JSON object")
    results = root.get("results")
    if results is None:
        return []
    if type(results) is not list:
        raise SigilDecodeError("proto: response results is not a list")
    out = []
    for item in results:
        if type(item) is not dict:
            raise SigilDecodeError("proto: response result is not an object")
        ident = item.get(id_keys[0]) or item.get(id_keys[1])
        error = item.get("error")
        out.append(
            ExportResult(
                ident if isinstance(ident, str) else "",
                item.get("accepted") is True,
                error if isinstance(error, str) else "",
            )
        )
    return out


def decode_generations_response_json(body: bytes) -> list[ExportResult]:
    """Reads a server's ``{"results":[...]}`` reply (``generation_id`` or ``generationId``)."""
    return _decode_results(body, ("generation_id", "generationId"))


def decode_workflow_steps_response_json(body: bytes) -> list[ExportResult]:
    return _decode_results(body, ("step_id", "stepId"))
