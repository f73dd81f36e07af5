"""The ``otlp`` receiver's answers on real sockets: bad input, limits, partial success, overload,
each with its exact status and ``google.rpc.Status`` body, and the gateway still serving after."""

from __future__ import annotations

import asyncio
import gzip
import pathlib
import zlib
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway.formats.otlp import encode_traces_json
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend
from tests.formats.otlp.test_decode import make_request

ANY = "127.0.0.1:0"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def genai_request() -> ExportTraceServiceRequest:
    return make_request({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})


def mixed_request() -> ExportTraceServiceRequest:
    """One GenAI span and two ordinary ones."""
    request = genai_request()
    spans = request.resource_spans[0].scope_spans[0].spans
    for name in ("GET /health", "SELECT users"):
        spans.add().CopyFrom(
            make_request({"db.system": "postgresql"}, name=name).resource_spans[0].scope_spans[0].spans[0]
        )
    return request


@pytest.fixture
async def gateway(start_gateway: StartGateway, tmp_path: pathlib.Path) -> Service:
    return await start_gateway(
        {
            "receivers": {
                "otlp": {
                    "grpc": {"endpoint": ANY},
                    "http": {"endpoint": ANY, "max_body_bytes": "64KiB", "max_decompressed_bytes": "1MiB"},
                }
            },
            "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
        }
    )


async def post(
    service: Service, body: bytes, content_type: str = PROTOBUF, **headers: str
) -> tuple[int, str, bytes, dict[str, str]]:
    url = f"http://127.0.0.1:{http_port(service)}/v1/traces"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": content_type, **headers}) as resp,
    ):
        return resp.status, resp.content_type, await resp.read(), dict(resp.headers)


def status_of(body: bytes, content_type: str) -> tuple[int, str]:
    if content_type == JSON:
        obj = orjson.loads(body)
        return obj["code"], obj["message"]
    status = status_pb2.Status.FromString(body)
    return status.code, status.message


async def grpc_export(service: Service, body: bytes) -> tuple[bytes | None, grpc.aio.AioRpcError | None]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}") as channel:
        try:
            return await channel.unary_unary(EXPORT)(body, timeout=10), None
        except grpc.aio.AioRpcError as exc:
            return None, exc


def refused(service: Service, reason: str, transport: str = "http") -> float:
    labels = {"receiver": "otlp", "transport": transport, "reason": reason}
    name = (
        "gateway_receiver_ignored_records_total" if reason == "not_genai" else "gateway_receiver_refused_records_total"
    )
    return service.telemetry.registry.get_sample_value(name, labels) or 0.0


async def still_serving(service: Service) -> None:
    status, _, body, _ = await post(service, genai_request().SerializeToString())
    assert status == 200 and ExportTraceServiceResponse.FromString(body) == ExportTraceServiceResponse()
    response, error = await grpc_export(service, genai_request().SerializeToString())
    assert error is None and response == b""


# --- bad input ----------------------------------------------------------------------------------


async def test_garbage_protobuf_is_400_with_a_status_body(gateway: Service) -> None:
    status, ctype, body, _ = await post(gateway, b"\x0a\xff\xff\xff\xff garbage")
    assert (status, ctype) == (400, PROTOBUF)
    code, message = status_of(body, ctype)
    assert code == 3 and message.startswith("invalid protobuf ExportTraceServiceRequest: ")
    assert refused(gateway, "bad_input") == 1
    await still_serving(gateway)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [', "invalid JSON: "),
        (b"[]", "$: expected an object, got list"),
        (
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc","spanId":"eee19b7ec3c1b174"}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 3 ('abc')",
        ),
    ],
)
async def test_bad_json_is_400_with_a_json_status(gateway: Service, body: bytes, message: str) -> None:
    status, ctype, out, _ = await post(gateway, body, JSON)
    assert (status, ctype) == (400, JSON)
    code, text = status_of(out, ctype)
    assert code == 3 and text.startswith(message), text
    await still_serving(gateway)


async def test_wrong_content_type_is_415(gateway: Service) -> None:
    status, ctype, body, _ = await post(gateway, b"hello", "text/plain")
    assert (status, ctype) == (415, JSON)
    assert status_of(body, ctype) == (
        3,
        "unsupported content type 'text/plain'; use application/x-protobuf or application/json",
    )
    await still_serving(gateway)


async def test_other_methods_are_405(gateway: Service) -> None:
    url = f"http://127.0.0.1:{http_port(gateway)}/v1/traces"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert (resp.status, resp.headers["Allow"]) == (405, "POST")
        assert status_of(await resp.read(), resp.content_type) == (12, "method GET not allowed; use POST")


async def test_oversized_body_is_413(gateway: Service) -> None:
    big = make_request({"gen_ai.operation.name": "chat", "filler": "x" * 100_000}).SerializeToString()
    status, ctype, body, _ = await post(gateway, big)
    assert (status, ctype) == (413, PROTOBUF)
    assert status_of(body, ctype) == (8, "body exceeds 65536 bytes")
    assert refused(gateway, "too_large") == 1
    await still_serving(gateway)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_gzip_bomb_is_413(gateway: Service, content_type: str) -> None:
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < 64 * 1024
    status, ctype, body, _ = await post(gateway, bomb, content_type, **{"Content-Encoding": "gzip"})
    assert (status, ctype) == (413, content_type)
    assert status_of(body, ctype) == (8, "decompressed body exceeds 1048576 bytes")
    await still_serving(gateway)


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("gzip", b"\x1f\x8b not gzip", "corrupt compressed body: "),
        ("br", b"whatever", "unsupported Content-Encoding 'br' (supported: gzip, zstd, deflate)"),
    ],
)
async def test_bad_compression_is_400(gateway: Service, encoding: str, body: bytes, message: str) -> None:
    status, ctype, out, _ = await post(gateway, body, **{"Content-Encoding": encoding})
    assert (status, ctype) == (400, PROTOBUF)
    code, text = status_of(out, ctype)
    assert code == 3 and text.startswith(message)
    await still_serving(gateway)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
async def test_compressed_bodies_are_accepted(gateway: Service, encoding: str) -> None:
    import zstandard

    raw = genai_request().SerializeToString()
    body = {
        "gzip": gzip.compress(raw),
        "deflate": zlib.compress(raw),
        "zstd": zstandard.ZstdCompressor().compress(raw),
    }[encoding]
    status, _, _, _ = await post(gateway, body, **{"Content-Encoding": encoding})
    assert status == 200


async def test_grpc_garbage_is_invalid_argument(gateway: Service) -> None:
    _, error = await grpc_export(gateway, b"\x0a\xff\xff\xff\xff garbage")
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("invalid protobuf ExportTraceServiceRequest: ")
    assert refused(gateway, "bad_input", "grpc") == 1
    await still_serving(gateway)


async def test_empty_request_is_a_full_success(gateway: Service) -> None:
    status, _, body, _ = await post(gateway, b"")
    assert status == 200 and body == b""
    status, _, body, _ = await post(gateway, b"{}", JSON)
    assert (status, body) == (200, b"{}")


# --- partial success ----------------------------------------------------------------------------

_MESSAGE = (
    "2 spans without gen_ai.* attributes were dropped: this endpoint takes GenAI spans only "
    "(receivers::otlp::passthrough_non_genai passes the others on)"
)


async def test_partial_success_over_http(gateway: Service) -> None:
    status, ctype, body, _ = await post(gateway, mixed_request().SerializeToString())
    assert (status, ctype) == (200, PROTOBUF)
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert (partial.rejected_spans, partial.error_message) == (2, _MESSAGE)

    status, ctype, body, _ = await post(gateway, encode_traces_json(mixed_request()), JSON)
    assert (status, ctype) == (200, JSON)
    assert orjson.loads(body) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": _MESSAGE}}
    assert refused(gateway, "not_genai") == 4


async def test_partial_success_over_grpc(gateway: Service) -> None:
    response, error = await grpc_export(gateway, mixed_request().SerializeToString())
    assert error is None and response is not None
    partial = ExportTraceServiceResponse.FromString(response).partial_success
    assert (partial.rejected_spans, partial.error_message) == (2, _MESSAGE)
    assert refused(gateway, "not_genai", "grpc") == 2


# --- overload -----------------------------------------------------------------------------------


async def test_full_queue_is_429_and_resource_exhausted_with_retry_info(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    sigil_backend.delay = 3.0  # one slow export holds the only sender
    service = await start_gateway(
        {
            "receivers": {"otlp": {"grpc": {"endpoint": ANY}, "http": {"endpoint": ANY}}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "sending_queue": {"num_consumers": 1, "queue_size": 1},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["sigil"]}}, "shutdown_timeout": "1s"},
        }
    )
    body = genai_request().SerializeToString()
    answers: list[tuple[int, str, bytes, dict[str, str]]] = []
    for _ in range(6):  # the first is taken by the sender, the second fills the queue
        answers.append(await post(service, body))
        if answers[-1][0] != 200:
            break
        await asyncio.sleep(0.05)
    status, ctype, out, headers = answers[-1]
    assert (status, ctype, headers["Retry-After"]) == (429, PROTOBUF, "1")
    code, message = status_of(out, ctype)
    assert code == 8 and message == "gateway overloaded (memory limit or full sending queue); retry later"

    _, error = await grpc_export(service, body)
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers: dict[str, Any] = dict(error.trailing_metadata() or ())
    info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 0)
    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert details.code == 8 and details.details[0].type_url == "type.googleapis.com/google.rpc.RetryInfo"
