"""When generations skip the record: only when every consumer takes them as messages.

The receiver says at start when it passes through. Over gRPC the observable difference is the
legacy ``cache_creation_input_tokens`` (field 7): the pass-through forwards it as sent, the
record path moves it to ``cache_write_input_tokens`` (field 5); both mean the same to the Sigil
server. Over HTTP the pass-through writes the record path's JSON.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import grpc
import orjson
import pytest

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.model import Batch, Context
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend
from tests.formats.sigil.test_native import accepted

GENERATION = {
    "id": "g1",
    "model": {"provider": "openai", "name": "gpt-4o"},
    "usage": {"input_tokens": "10", "cache_creation_input_tokens": "7"},
    "output": [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": "secret answer"}]}],
}


def _config(
    backend: FakeSigilBackend,
    tmp_path: Any,
    *,
    processors: dict[str, Any],
    also_file: bool = False,
    protocol: str = "grpc",
) -> dict[str, Any]:
    port = backend.grpc_port if protocol == "grpc" else backend.http_port
    exporters: dict[str, Any] = {"sigil": {"endpoint": f"http://127.0.0.1:{port}", "protocol": protocol}}
    if also_file:
        exporters["file"] = {"path": str(tmp_path / "out.jsonl")}
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": {"endpoint": "127.0.0.1:0"}}},
        "processors": processors,
        "exporters": exporters,
        "service": {
            "pipelines": {"p": {"receivers": ["sigil"], "processors": list(processors), "exporters": list(exporters)}}
        },
    }


async def _send_http(port: int) -> None:
    url = f"http://127.0.0.1:{port}/api/v1/generations:export"
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=orjson.dumps({"generations": [GENERATION]}), headers={"X-Api-Key": "k"}) as resp,
    ):
        assert resp.status == 202
        assert orjson.loads(await resp.read()) == {"results": [{"generation_id": "g1", "accepted": True}]}


async def _send_grpc(port: int) -> None:
    request = pb.ExportGenerationsRequest(
        generations=[
            pb.Generation(
                id="g1",
                model=pb.ModelRef(provider="openai", name="gpt-4o"),
                usage=pb.TokenUsage(input_tokens=10, cache_creation_input_tokens=7),
            )
        ]
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/sigil.v1.GenerationIngestService/ExportGenerations")
        reply = pb.ExportGenerationsResponse.FromString(
            await call(request.SerializeToString(), metadata=(("x-api-key", "k"),))
        )
    assert [(r.generation_id, r.accepted) for r in reply.results] == [("g1", True)]


@pytest.mark.parametrize(
    ("processors", "also_file", "protocol", "passes_through"),
    [
        ({}, False, "grpc", True),
        ({"auth": {"api_keys": [{"key": "k", "tenant": "t"}]}}, False, "grpc", True),
        ({"memory_limiter": {"limit_mib": 4096}}, False, "grpc", True),
        ({"content": {"mode": "metadata_only"}}, False, "grpc", False),
        ({"batch": {"timeout": "10ms"}}, False, "grpc", True),
        ({}, True, "grpc", False),
        ({}, False, "http", True),
    ],
    ids=["direct", "auth", "memory_limiter", "content", "batch", "fan-out-to-file", "http-exporter"],
)
@pytest.mark.parametrize("transport", ["http", "grpc"])
async def test_pass_through_only_when_every_consumer_takes_messages(
    start_gateway: StartGateway,
    sigil_backend: FakeSigilBackend,
    tmp_path: Any,
    processors: dict[str, Any],
    also_file: bool,
    protocol: str,
    passes_through: bool,
    transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.receivers.sigil")
    service = await start_gateway(
        _config(sigil_backend, tmp_path, processors=processors, also_file=also_file, protocol=protocol)
    )
    if transport == "http":
        await _send_http(http_port(service))
    else:
        await _send_grpc(grpc_port(service))
    await sigil_backend.wait_for(1)
    (got,) = sigil_backend.generations()
    assert got.id == "g1" and got.usage.input_tokens == 10
    said = " ".join(r.getMessage() for r in caplog.records if "pass through as protobuf messages" in r.getMessage())
    # Protojson bodies become messages only for consumers that send protobuf.
    passes_through = passes_through and (transport == "grpc" or protocol == "grpc")
    assert (("HTTP" if transport == "http" else "gRPC") in said) == passes_through
    if passes_through and protocol == "grpc":
        assert (got.usage.cache_creation_input_tokens, got.usage.cache_write_input_tokens) == (7, 0)
    else:  # records, or protojson from the messages: the record path's JSON, field 5
        assert (got.usage.cache_creation_input_tokens, got.usage.cache_write_input_tokens) == (0, 7)
    if "content" in processors and transport == "http":
        assert not got.output[0].parts[0].text  # the processor saw records and stripped them


def test_a_native_batch_materializes_once_and_counts_without_it() -> None:
    from gateway.formats.sigil import native as sn

    items = sn.decode_generations_json_native(orjson.dumps({"generations": [GENERATION, GENERATION]}))
    assert items is not None
    native = sn.SigilGenerations(accepted(items))
    batch = Batch(None, Context(tenant="t"), native=native)
    copy = batch.copy()
    assert len(batch) == 2 and batch.native is native and copy.native is native
    records = batch.records  # materializes; from now on the records are the truth
    assert batch.native is None and len(records) == 2 and records[0].usage.cache_write_input_tokens == 7
    assert batch.records is records
    assert copy.native is native  # the other branch still has the messages
    batch.records = records[:1]
    assert len(batch) == 1


def test_persistent_queue_keeps_a_native_batch_as_messages() -> None:
    from gateway.exporters._queue import decode_batch, encode_batch
    from gateway.formats.sigil import native as sn

    items = sn.decode_generations_json_native(orjson.dumps({"generations": [GENERATION, {**GENERATION, "id": "g2"}]}))
    assert items is not None
    native = sn.SigilGenerations(accepted(items))
    stored = encode_batch(Batch(None, Context(tenant="t"), native=native))
    restored = decode_batch(stored)
    assert isinstance(restored.native, sn.SigilGenerations) and restored.native.messages == native.messages
    assert restored.context.tenant == "t" and restored.records == native.materialize()
    head, _, body = stored.partition(b"\n")
    with pytest.raises(ValueError, match="corrupt queue entry"):
        decode_batch(head + b"\n" + body[:-3])  # cut inside a message
    with pytest.raises(ValueError, match="unknown native kind"):
        decode_batch(head.replace(b"sigil.generations", b"other.kind") + b"\n" + body)


@pytest.mark.parametrize("fittable", [True, False])
async def test_protojson_pass_through_is_fitted_to_the_exporters_schema(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: Any, fittable: bool
) -> None:
    """The default target (sigil-2026-03) has no media parts, lineage or input_semantics: a body
    with them is fitted on the way out; one without them is sent as it came."""
    generation: dict[str, Any] = {
        "id": "g1",
        "model": {"provider": "openai", "name": "gpt-4o"},
        "usage": {"input_tokens": "10", "cache_read_input_tokens": "4"},
        "output": [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": "a"}, {"thinking": "t"}]}],
    }
    if fittable:
        generation["usage"]["input_semantics"] = "TOKEN_INPUT_SEMANTICS_INCLUSIVE"
        generation["output"][0]["parts"].append({"media": {"kind": "image", "url": "https://x/i.png"}})
        generation["parent_generation_ids"] = ["g0"]
    service = await start_gateway(_config(sigil_backend, tmp_path, processors={}))
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.post(url, data=orjson.dumps({"generations": [generation]})) as resp:
        assert resp.status == 202
    await sigil_backend.wait_for(1)
    (got,) = sigil_backend.generations()
    assert [p.WhichOneof("payload") for p in got.output[0].parts] == ["text", "thinking"]
    assert not got.parent_generation_ids and not got.usage.input_semantics
    assert got.usage.input_tokens == (6 if fittable else 10)  # inclusive counts made exclusive
