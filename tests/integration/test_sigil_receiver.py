"""The sigil receiver on real sockets: statuses, bodies and gRPC codes for good and bad input."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
import zstandard

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend

GOOD = {
    "id": "g1",
    "model": {"provider": "openai", "name": "gpt-4o"},
    "mode": "GENERATION_MODE_SYNC",
    "startedAt": "2026-11-23T09:00:00Z",
    "completedAt": "2026-11-23T09:00:01.250+01:00",
}


def _config(tmp_path: Any, backend: FakeSigilBackend | None = None, **receiver: Any) -> dict[str, Any]:
    """Records to a file exporter; with a backend, the pass-through to a Sigil gRPC exporter
    (generations stay messages): clients must not see a difference."""
    exporters: dict[str, Any] = {"file": {"path": str(tmp_path / "out.jsonl")}}
    if backend is not None:
        exporters = {"sigil": {"endpoint": f"http://127.0.0.1:{backend.grpc_port}"}}
    return {
        "receivers": {
            "sigil": {
                "http": {
                    "endpoint": "127.0.0.1:0",
                    "max_body_bytes": "64KiB",
                    "max_decompressed_bytes": "256KiB",
                },
                "grpc": {"endpoint": "127.0.0.1:0"},
                **receiver,
            }
        },
        "exporters": exporters,
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": list(exporters)}}},
    }


@pytest.fixture(params=["records", "passthrough"])
async def gateway(
    request: pytest.FixtureRequest, sigil_backend: FakeSigilBackend, start_gateway: StartGateway, tmp_path: Any
) -> Service:
    return await start_gateway(_config(tmp_path, sigil_backend if request.param == "passthrough" else None))


@pytest.fixture
async def http(gateway: Service) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with aiohttp.ClientSession() as session:
        yield session, f"http://127.0.0.1:{http_port(gateway)}/api/v1/generations:export"


async def _post(
    http: tuple[aiohttp.ClientSession, str], body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    session, url = http
    async with session.post(url, data=body, headers=headers or {}) as resp:
        return resp.status, await resp.text()


async def test_partial_success_per_item(http: tuple[aiohttp.ClientSession, str]) -> None:
    bad = {"id": "g2", "model": {"provider": "openai"}}
    status, text = await _post(http, orjson.dumps({"generations": [GOOD, bad, {"id": "g3"}]}))
    assert status == 202
    assert orjson.loads(text) == {
        "results": [
            {"generation_id": "g1", "accepted": True},
            {"generation_id": "g2", "error": "generation.model.name is required"},
            {"generation_id": "g3", "error": "generation.model is required"},
        ]
    }


async def test_empty_request_is_202_empty_object(http: tuple[aiohttp.ClientSession, str]) -> None:
    assert await _post(http, b"{}") == (202, "{}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "unexpected token"),
        (b'{"generations": [{"id": "g1"', "unexpected EOF"),
        (b"{not json", "proto:"),
        (b'{"generations": [{"foo": 1}]}', 'unknown field "foo"'),
        (b'{"generations": [{"mode": "SYNC"}]}', 'invalid value for enum type: "SYNC"'),
        (
            b'{"generations": [{"output": [{"parts": [{"toolCall": {"inputJson": {"a": 1}}}]}]}]}',
            "invalid value for bytes type",
        ),
        (
            b'{"generations": [{"output": [{"parts": [{"text": "a", "thinking": "b"}]}]}]}',
            "oneof sigil.v1.Part.payload is already set",
        ),
        (b'{"generations": [{"conversation_id": "a", "conversationId": "b"}]}', "duplicate field"),
    ],
)
async def test_bad_json_is_400_with_protojson_error(
    http: tuple[aiohttp.ClientSession, str], body: bytes, message: str
) -> None:
    status, text = await _post(http, body)
    assert status == 400
    assert text.startswith("proto:")
    assert message in text
    assert text.endswith("\n")


async def test_non_post_is_405(gateway: Service) -> None:
    url = f"http://127.0.0.1:{http_port(gateway)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        assert resp.status == 405
        assert await resp.text() == "method not allowed\n"


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "deflate"])
async def test_compressed_bodies_are_accepted(http: tuple[aiohttp.ClientSession, str], encoding: str) -> None:
    raw = orjson.dumps({"generations": [GOOD]})
    compress: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }
    body = compress[encoding](raw)
    status, text = await _post(http, body, {"Content-Encoding": encoding})
    assert (status, orjson.loads(text)) == (202, {"results": [{"generation_id": "g1", "accepted": True}]})


async def test_oversize_body_is_413(http: tuple[aiohttp.ClientSession, str]) -> None:
    status, text = await _post(http, b"{" + b" " * (65 * 1024) + b"}")
    assert status == 413
    assert "exceeds 65536 bytes" in text


async def test_gzip_bomb_is_413_and_gateway_still_serves(http: tuple[aiohttp.ClientSession, str]) -> None:
    bomb = gzip.compress(b'{"generations": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 64 * 1024
    status, text = await _post(http, bomb, {"Content-Encoding": "gzip"})
    assert status == 413
    assert "decompressed body exceeds 262144 bytes" in text
    status, _ = await _post(http, orjson.dumps({"generations": [GOOD]}))
    assert status == 202


async def test_corrupt_gzip_is_400(http: tuple[aiohttp.ClientSession, str]) -> None:
    status, text = await _post(http, b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"})
    assert status == 400
    assert "corrupt compressed body" in text


async def test_require_tenant(start_gateway: StartGateway, tmp_path: Any) -> None:
    service = await start_gateway(_config(tmp_path, require_tenant=True))
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    body = orjson.dumps({"generations": [GOOD]})
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data=body) as resp:
            assert (resp.status, await resp.text()) == (401, "no org id\n")
        async with s.post(url, data=body, headers={"X-Scope-OrgID": "a|b"}) as resp:
            assert (resp.status, await resp.text()) == (401, "multiple org IDs present\n")
        async with s.post(url, data=body, headers={"X-Scope-OrgID": "bad/tenant"}) as resp:
            assert (resp.status, await resp.text()) == (
                401,
                "tenant ID 'bad/tenant' contains unsupported character '/'\n",
            )
        async with s.post(url, data=body, headers={"X-Scope-OrgID": "team-a"}) as resp:
            assert resp.status == 202
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}")
    call = channel.unary_unary("/sigil.v1.GenerationIngestService/ExportGenerations")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(pb.ExportGenerationsRequest().SerializeToString())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "no org id"
    await channel.close()


@pytest.mark.parametrize("package", ["sigil.v1", "agento11y.v1"])
async def test_grpc_partial_success_and_garbage(gateway: Service, package: str) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(gateway)}")
    call = channel.unary_unary(f"/{package}.GenerationIngestService/ExportGenerations")
    req = pb.ExportGenerationsRequest()
    req.generations.add(id="ok", model=pb.ModelRef(provider="openai", name="gpt-4o"))
    req.generations.add(id="bad", model=pb.ModelRef(provider="", name="gpt-4o"))
    raw = await call(req.SerializeToString())
    resp = pb.ExportGenerationsResponse.FromString(raw)
    assert [(r.generation_id, r.accepted, r.error) for r in resp.results] == [
        ("ok", True, ""),
        ("bad", False, "generation.model.provider is required"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(b"\xff\xff\xff\xff garbage")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Still serving after garbage.
    raw = await call(req.SerializeToString())
    assert len(pb.ExportGenerationsResponse.FromString(raw).results) == 2
    await channel.close()


async def test_records_reach_the_file_exporter(start_gateway: StartGateway, tmp_path: Any) -> None:
    gateway = await start_gateway(_config(tmp_path))
    url = f"http://127.0.0.1:{http_port(gateway)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as session:
        status, _ = await _post((session, url), orjson.dumps({"generations": [GOOD]}))
    assert status == 202
    await gateway.shutdown()  # drains the file exporter's queue
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 1
    rec = orjson.loads(lines[0])
    assert (rec["id"], rec["provider"], rec["model"], rec["stream"]) == ("g1", "openai", "gpt-4o", False)
    assert rec["start_ns"] == 1795424400_000_000_000
    assert rec["end_ns"] == 1795424400_000_000_000 - 3600 * 10**9 + 1_250_000_000


async def test_full_queue_answers_429_and_grpc_resource_exhausted(
    start_gateway: StartGateway, sigil_backend: Any
) -> None:
    sigil_backend.delay = 0.5
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": {"endpoint": "127.0.0.1:0"}}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "sending_queue": {"queue_size": 2, "num_consumers": 1},
                }
            },
            "service": {
                "shutdown_timeout": "1s",
                "pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}},
            },
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    body = orjson.dumps({"generations": [GOOD]})
    async with aiohttp.ClientSession() as s:

        async def post() -> tuple[int, str | None]:
            async with s.post(url, data=body) as resp:
                return resp.status, resp.headers.get("Retry-After")

        results = await asyncio.gather(*(post() for _ in range(10)))
    assert sorted({status for status, _ in results}) == [202, 429]
    assert {retry for status, retry in results if status == 429} == {"1"}
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}")
    call = channel.unary_unary("/sigil.v1.GenerationIngestService/ExportGenerations")
    req = pb.ExportGenerationsRequest()
    req.generations.add(id="x", model=pb.ModelRef(provider="openai", name="gpt-4o"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        for _ in range(5):
            await call(req.SerializeToString())
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await channel.close()


async def test_full_queue_refuses_before_parsing(start_gateway: StartGateway, sigil_backend: Any) -> None:
    sigil_backend.delay = 2.0
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "sending_queue": {"queue_size": 1, "num_consumers": 1},
                }
            },
            "service": {"shutdown_timeout": "1s", "pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    good = orjson.dumps({"generations": [GOOD]})
    async with aiohttp.ClientSession() as s:
        for _ in range(2):  # one in flight at the slow backend, one filling the queue
            async with s.post(url, data=good) as resp:
                assert resp.status == 202
            await asyncio.sleep(0.05)
        async with s.post(url, data=b"{not even json") as resp:
            assert resp.status == 429  # refused before the body was parsed
            assert resp.headers["Retry-After"] == "1"
