"""Fuzzing every receiver's decoder with malformed and adversarial input (hypothesis).

Pure decoders must raise only their format's declared error; the HTTP receivers must answer a
4xx in their format's own shape, never a 5xx, and keep serving. The number of cases is set by
FUZZ_EXAMPLES (default 300 per decoder; docs/benchmarks.md records a long run).
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import payloads
from gateway import nats_encodings
from gateway.errors import BadInput
from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf
from gateway.formats import otlp
from gateway.formats import sigil as sf
from gateway.formats.otlp import native as otlp_native
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
DATA = pathlib.Path(__file__).parent / "testdata"

SIGIL_BODY = orjson.dumps(
    {
        "generations": [
            {
                "id": "g1",
                "model": {"provider": "openai", "name": "gpt-4o"},
                "mode": "GENERATION_MODE_STREAM",
                "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": "hi"}]}],
                "output": [
                    {
                        "role": "MESSAGE_ROLE_ASSISTANT",
                        "parts": [{"toolCall": {"id": "c", "name": "t", "inputJson": "e30="}}],
                    }
                ],
                "usage": {"inputTokens": "3"},
                "startedAt": "2026-11-23T09:00:00Z",
                "metadata": {"a": [1, {"b": None}]},
            }
        ]
    }
)
FOGLAMP_BODY = (DATA / "foglamp" / "rich_payload_every_field.json").read_bytes()
LUMIQ_BODY = (DATA / "lumiqtrace" / "every_field.ndjson").read_bytes()
OTLP_JSON = orjson.dumps(
    {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "5"}},
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A valid body with bytes flipped, cut, duplicated or spliced: near-valid input finds the
    deep branches that random bytes never reach."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(
                st.sampled_from(
                    [
                        b'"',
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b",",
                        b":",
                        b"null",
                        b"-1",
                        b"1e999",
                        b"\xff",
                        b"\\u0000",
                        b'"\xed\xa0\x80"',
                    ]
                )
            )
        elif op == "dup":
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:i] = data[i:j]
        else:
            j = draw(st.integers(i, min(len(data), i + 16)))
            del data[i:j]
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _fuzz(decode: Callable[[bytes], Any], allowed: tuple[type[BaseException], ...], seed: bytes) -> None:
    @settings(max_examples=EXAMPLES, deadline=None)
    @given(
        st.one_of(
            mutated(seed),
            st.binary(max_size=512),
            json_values.map(lambda v: json.dumps(v).encode()),
        )
    )
    def run(data: bytes) -> None:
        try:
            decode(data)
        except allowed:
            pass

    run()


def test_fuzz_sigil_json() -> None:
    _fuzz(sf.decode_generations_json, (sf.SigilDecodeError,), SIGIL_BODY)


def test_fuzz_sigil_workflow_steps_json() -> None:
    _fuzz(sf.decode_workflow_steps_json, (sf.SigilDecodeError,), SIGIL_BODY.replace(b"generations", b"workflow_steps"))


def test_fuzz_sigil_grpc() -> None:
    proto = sf.generations_request(
        [r for r in sf.decode_generations_json(SIGIL_BODY) if not isinstance(r, sf.ItemError)]
    )
    _fuzz(sf.decode_generations_grpc, (sf.SigilDecodeError,), proto.SerializeToString())


def test_fuzz_foglamp() -> None:
    def decode(data: bytes) -> Any:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return ff.decode_ingest(obj)

    _fuzz(decode, (ff.FoglampValidationError,), FOGLAMP_BODY)


def test_fuzz_lumiqtrace() -> None:
    _fuzz(lf.decode_ndjson, (lf.LumiqValidationError,), LUMIQ_BODY)


def test_fuzz_otlp_json() -> None:
    _fuzz(otlp.decode_traces_json, (BadInput,), OTLP_JSON)


def test_fuzz_otlp_protobuf() -> None:
    seed = otlp.decode_traces_json(OTLP_JSON).SerializeToString()

    def decode(data: bytes) -> Any:
        request = otlp.decode_traces_protobuf(data)
        # The pass-through's check reads the same bytes another way: it must not raise either.
        otlp_native.survey(request, data, passthrough=True)
        return otlp.traces_to_records(request)

    _fuzz(decode, (BadInput,), seed)


@pytest.mark.parametrize("kind", ["otlp/traces", "sigil/generations"])
def test_fuzz_nats_native_bodies_never_raise(kind: str) -> None:
    """A stream body the native path cannot take goes to the records path, which words the error:
    ``decode_native`` itself raises nothing (a raise would nak the message forever)."""
    seeds = {
        "otlp/traces": payloads.otlp_body(0, 2),
        "sigil/generations": sf.generations_request(
            [r for r in sf.decode_generations_json(SIGIL_BODY) if not isinstance(r, sf.ItemError)]
        ).SerializeToString(),
    }
    kinds = frozenset({"otlp.traces", "sigil.generations"})
    assert nats_encodings.decode_native(kind, seeds[kind], kinds) is not None
    _fuzz(lambda data: nats_encodings.decode_native(kind, data, kinds), (), seeds[kind])


# -- over HTTP: every answer is a 4xx of the format's shape ---------------------------------


def _check_shape(receiver: str, status: int, body: bytes) -> None:
    assert 400 <= status < 500, (receiver, status, body[:200])
    if receiver == "sigil":
        assert body.endswith(b"\n")
    else:
        assert isinstance(orjson.loads(body)["error"], str)


@pytest.mark.parametrize(
    ("receiver", "path", "seed", "passthrough"),
    [
        ("sigil", "/api/v1/generations:export", SIGIL_BODY, False),
        ("sigil", "/api/v1/generations:export", SIGIL_BODY, True),  # to a Sigil gRPC exporter
        ("foglamp", "/ingest", FOGLAMP_BODY, False),
        ("lumiqtrace", "/v1/ingest", LUMIQ_BODY, False),
    ],
)
async def test_fuzz_over_http_answers_4xx_in_shape(
    sigil_backend: FakeSigilBackend,
    start_gateway: StartGateway,
    tmp_path: pathlib.Path,
    receiver: str,
    path: str,
    seed: bytes,
    passthrough: bool,
) -> None:
    cfg: dict[str, Any] = (
        {"endpoint": "127.0.0.1:0"} if receiver != "sigil" else {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}
    )
    exporter: dict[str, Any] = {"file": {"path": str(tmp_path / "out.jsonl")}}
    if passthrough:
        exporter = {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"}}
    service = await start_gateway(
        {
            "receivers": {receiver: cfg},
            "exporters": exporter,
            "service": {"pipelines": {"p": {"receivers": [receiver], "exporters": list(exporter)}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}{path}"
    headers = {"x-api-key": "k", "Authorization": "Bearer k"}
    bodies = mutated(seed) | st.binary(max_size=256)
    cases: list[bytes] = []

    @settings(max_examples=max(30, EXAMPLES // 10), deadline=None, database=None)
    @given(bodies, st.booleans())
    def collect(data: bytes, gz: bool) -> None:
        cases.append(gzip.compress(data) if gz else data)

    collect()
    async with aiohttp.ClientSession() as s:
        for data in cases:
            h = {**headers, "Content-Encoding": "gzip"} if data[:2] == b"\x1f\x8b" else headers
            async with s.post(url, data=data, headers=h) as resp:
                body = await resp.read()
                if resp.status >= 300:
                    _check_shape(receiver, resp.status, body)
        async with s.post(url, data=seed, headers=headers) as resp:
            assert resp.status == 202  # still serving
