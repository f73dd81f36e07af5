"""The ``otlp`` receiver's logs endpoints on real sockets: gRPC LogsService and HTTP /v1/logs
(protobuf and JSON), partial success for non-GenAI log records, bad input, and events joined to
a span sent in another request."""

from __future__ import annotations

import pathlib
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from gateway.formats.otlp.decode_logs import decode_logs_json
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.formats.otlp.test_decode import make_request
from tests.formats.otlp.test_decode_logs import kv, log_record, request
from tests.formats.otlp.test_encode import SPAN_HEX, TRACE_HEX
from tests.integration.test_instrumentations import joins
from tests.jsonl import file_records

ANY = "127.0.0.1:0"
EXPORT_LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture
async def gateway(start_gateway: StartGateway, tmp_path: pathlib.Path) -> Service:
    return await start_gateway(
        {
            "receivers": {"otlp": {"grpc": {"endpoint": ANY}, "http": {"endpoint": ANY}}},
            "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
        }
    )


def events_body(*, with_other: bool = False) -> bytes:
    records: list[dict[str, Any]] = [
        log_record("gen_ai.user.message", kv(content={"stringValue": "Weather?"}), span=SPAN_HEX),
        log_record("gen_ai.choice", kv(index={"intValue": "0"}, finish_reason={"stringValue": "stop"}), span=SPAN_HEX),
    ]
    if with_other:
        records.append(log_record(None, {"stringValue": "GET /health 200"}))
    body = orjson.loads(request(*records))
    for rl in body["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for lr in sl["logRecords"]:
                lr["traceId"] = TRACE_HEX
    return orjson.dumps(body)


async def post(service: Service, body: bytes, content_type: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{http_port(service)}/v1/logs"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": content_type}) as resp,
    ):
        return resp.status, await resp.read()


async def test_http_json_partial_success_and_join(gateway: Service, tmp_path: pathlib.Path) -> None:
    status, body = await post(gateway, events_body(with_other=True), "application/json")
    assert status == 200
    answer = orjson.loads(body)
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "GenAI events" in answer["partialSuccess"]["errorMessage"]
    # The span comes later, in a request of its own, and takes the waiting events.
    span_request = make_request({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(gateway)}") as channel:
        await channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(
            span_request.SerializeToString(), timeout=10
        )
    (record,) = await file_records(tmp_path / "out.jsonl", 1)
    assert [p.text for m in record.input for p in m.parts] == ["Weather?"] and record.stop_reason == "stop"
    assert joins(gateway, "joined") == 1


async def test_grpc_and_http_protobuf(gateway: Service) -> None:
    pb = decode_logs_json(events_body()).SerializeToString()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(gateway)}") as channel:
        answer = await channel.unary_unary(EXPORT_LOGS)(pb, timeout=10)
        assert ExportLogsServiceResponse.FromString(answer) == ExportLogsServiceResponse()
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await channel.unary_unary(EXPORT_LOGS)(b"\x0a\xff\xff\xff\xff garbage", timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid protobuf ExportLogsServiceRequest" in (error.value.details() or "")
    status, body = await post(gateway, pb, "application/x-protobuf")
    assert status == 200 and ExportLogsServiceResponse.FromString(body) == ExportLogsServiceResponse()


async def test_bad_json_is_400_naming_the_problem(gateway: Service) -> None:
    status, body = await post(gateway, b'{"resourceLogs": [{"scopeLogs": 5}]}', "application/json")
    assert status == 400
    assert orjson.loads(body) == {"code": 3, "message": "resourceLogs[0].scopeLogs: expected an array, got 5"}


async def test_logs_off(start_gateway: StartGateway, tmp_path: pathlib.Path) -> None:
    service = await start_gateway(
        {
            "receivers": {"otlp": {"grpc": None, "http": {"endpoint": ANY}, "logs": None}},
            "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
        }
    )
    status, _ = await post(service, events_body(), "application/json")
    assert status == 404
