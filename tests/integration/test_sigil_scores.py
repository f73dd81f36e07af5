"""Scores and ratings through the sigil receiver and exporter, on real sockets.

Raw HTTP checks the server's statuses and texts (``wire/sigil.md`` §8); the real Sigil SDK
0.9.3 submits ratings and exports scores through the gateway unchanged, and a generation the
SDK sends reaches the fake backend together with the scores the ``evaluate`` processor adds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from sigil_sdk import (
    ApiConfig,
    Client,
    ClientConfig,
    ConversationRatingInput,
    ConversationRatingValue,
    GenerationExportConfig,
    GenerationStart,
    ModelRef,
    RatingConflictError,
    ScoreItem,
    ScoreValue,
    SubmitConversationRatingResponse,
)
from sigil_sdk import experiments as sx
from sigil_sdk import models as sm

from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend

GOOD = "CONVERSATION_RATING_VALUE_GOOD"
BAD = "CONVERSATION_RATING_VALUE_BAD"
MARCH_SCORE = {
    "score_id": "s1",
    "generation_id": "g1",
    "evaluator_id": "helpfulness",
    "evaluator_version": "2026-03",
    "score_key": "helpful",
    "value": {"number": 0.75},
    "conversation_id": "c1",
    "rule_id": "r1",
    "run_id": "run-7",
    "passed": True,
    "explanation": "clear",
    "metadata": {"model": "judge-1"},
    "created_at": "2026-03-01T10:00:00.5+01:00",
    "source": {"kind": "external_api", "id": "ci"},
}


def _config(backend: FakeSigilBackend, **receiver: Any) -> dict[str, Any]:
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None, **receiver}},
        "exporters": {
            "sigil": {
                "endpoint": f"http://127.0.0.1:{backend.grpc_port}",
                "api_endpoint": f"http://127.0.0.1:{backend.http_port}",
                "protocol": "grpc",
                "forward_tenant": True,
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"},
            }
        },
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
    }


@pytest.fixture
async def gateway(start_gateway: StartGateway, sigil_backend: FakeSigilBackend) -> Service:
    return await start_gateway(_config(sigil_backend))


@pytest.fixture
async def http(gateway: Service) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with aiohttp.ClientSession() as session:
        yield session, f"http://127.0.0.1:{http_port(gateway)}"


async def _call(
    http: tuple[aiohttp.ClientSession, str], method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, bytes]:
    session, base = http
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    async with session.request(method, base + path, data=data, headers={"X-Scope-OrgID": "team-a"}) as resp:
        return resp.status, await resp.read()


# -- scores ------------------------------------------------------------------------------------


async def test_scores_both_shapes_answered_and_forwarded(
    http: tuple[aiohttp.ClientSession, str], sigil_backend: FakeSigilBackend
) -> None:
    sdk_shape = {
        "score_id": "s2",
        "evaluator_id": "exact",
        "evaluator_version": "1",
        "score_key": "correct",
        "value": {"bool": False},
        "experiment_id": "exp-1",
        "trial_id": "t-1",
        "test_case_id": "case-1",
        "grader_generation_id": "gg-1",
    }
    bad = [
        {**MARCH_SCORE, "score_id": " "},
        {**MARCH_SCORE, "score_id": "s4", "generation_id": ""},
        {**MARCH_SCORE, "score_id": "s5", "score_key": ""},
        {**MARCH_SCORE, "score_id": "s6", "value": {}},
        {**MARCH_SCORE, "score_id": "s7", "value": {"number": 1, "string": "x"}},
    ]
    status, body = await _call(http, "POST", "/api/v1/scores:export", {"scores": [MARCH_SCORE, sdk_shape, *bad]})
    assert status == 202
    assert body == (
        b'{"results":[{"score_id":"s1","accepted":true},{"score_id":"s2","accepted":true},'
        b'{"score_id":" ","accepted":false,"error":"score_id is required"},'
        b'{"score_id":"s4","accepted":false,"error":"generation_id is required"},'
        b'{"score_id":"s5","accepted":false,"error":"score_key is required"},'
        b'{"score_id":"s6","accepted":false,"error":"score value is required"},'
        b'{"score_id":"s7","accepted":false,"error":"score value must contain exactly one type"}]}\n'
    )
    await sigil_backend.wait_for_scores(2)
    march, sdk = sigil_backend.score_items
    # The March item travels as sent (its time normalised to UTC); the SDK item gains only the
    # time the gateway received it, which the server would have stamped on arrival.
    assert march == {**MARCH_SCORE, "created_at": "2026-03-01T09:00:00.500Z"}
    assert sdk.pop("created_at").endswith("Z")
    assert sdk == sdk_shape
    request = next(r for r in sigil_backend.requests if r.path == "/api/v1/scores:export")
    assert {k.lower(): v for k, v in request.headers.items()}["x-scope-orgid"] == "team-a"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'{"scores": [{"score_id": "s1", "colour": "red"}]}',
        b'{"scores": [{"score_id": 7}]}',
        b'{"scores": [{"value": {"number": "0.5"}}]}',
        b'{"scores": [{"created_at": "yesterday"}]}',
        b'{"scores": [{"source": {"kind": "x", "name": "y"}}]}',
        b'{"scores": {}}',
        b"{not json",
    ],
)
async def test_undecodable_score_body_is_400(http: tuple[aiohttp.ClientSession, str], raw: bytes) -> None:
    assert await _call(http, "POST", "/api/v1/scores:export", raw=raw) == (400, b"invalid request body\n")


async def test_scores_decode_like_go(http: tuple[aiohttp.ClientSession, str]) -> None:
    # Keys match case-insensitively, null leaves a field unset, trailing data is not read.
    raw = b'{"Scores": [{"SCORE_ID": "s1", "generation_id": null}]} and more'
    status, body = await _call(http, "POST", "/api/v1/scores:export", raw=raw)
    assert (status, body) == (
        202,
        b'{"results":[{"score_id":"s1","accepted":false,"error":"generation_id is required"}]}\n',
    )
    assert await _call(http, "POST", "/api/v1/scores:export", raw=b"null") == (202, b'{"results":[]}\n')


async def test_scores_method_and_tenant(start_gateway: StartGateway, sigil_backend: FakeSigilBackend) -> None:
    service = await start_gateway(_config(sigil_backend, require_tenant=True))
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/scores:export"
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as resp:
            assert (resp.status, await resp.text()) == (405, "method not allowed\n")
        async with s.post(url, data=b'{"scores": []}') as resp:
            assert (resp.status, await resp.text()) == (401, "no org id\n")
        async with s.post(url, data=b"{}", headers={"X-Scope-OrgID": "a:b"}) as resp:
            assert (resp.status, await resp.text()) == (401, "tenant ID 'a:b' contains unsupported character ':'\n")


# -- ratings -----------------------------------------------------------------------------------


async def test_rating_reply_resend_and_conflict(
    http: tuple[aiohttp.ClientSession, str], sigil_backend: FakeSigilBackend
) -> None:
    path = "/api/v1/conversations/conv-1/ratings"
    first = {"rating_id": "r1", "rating": GOOD, "comment": " nice ", "metadata": {"b": 1, "a": "<x>"}, "rater_id": "u1"}
    status, body = await _call(http, "POST", path, first)
    assert status == 200
    assert body.endswith(b"}\n")
    reply = orjson.loads(body)
    created = reply["rating"].pop("created_at")
    assert reply == {
        "rating": {
            "rating_id": "r1",
            "conversation_id": "conv-1",
            "rating": GOOD,
            "comment": "nice",
            "metadata": {"a": "<x>", "b": 1},
            "rater_id": "u1",
        },
        "summary": {
            "total_count": 1,
            "good_count": 1,
            "bad_count": 0,
            "latest_rating": GOOD,
            "latest_rated_at": created,
            "has_bad_rating": False,
        },
    }
    assert b'"metadata":{"a":"\\u003cx\\u003e","b":1}' in body  # Go's map order and escaping
    # An identical resend (spaces trimmed as the server does) is the stored rating, not a new one.
    status, again = await _call(http, "POST", path, {**first, "comment": "nice"})
    assert (status, again) == (200, body)
    assert await _call(http, "POST", path, {**first, "rating": BAD}) == (409, b"idempotency conflict\n")
    assert await _call(http, "POST", "/api/v1/conversations/conv-2/ratings", first) == (409, b"idempotency conflict\n")
    status, body = await _call(http, "POST", path, {"rating_id": "r2", "rating": BAD})
    summary = orjson.loads(body)["summary"]
    assert (summary["total_count"], summary["good_count"], summary["bad_count"]) == (2, 1, 1)
    assert summary["has_bad_rating"] is True
    assert summary["latest_rating"] == BAD
    assert summary["latest_bad_at"] == summary["latest_rated_at"]
    # The backend got each rating once, as the client sent it.
    for _ in range(100):
        if len(sigil_backend.rating_items) == 2:
            break
        await asyncio.sleep(0.02)
    assert sigil_backend.rating_items == [
        (
            "conv-1",
            {"rating_id": "r1", "rating": GOOD, "comment": "nice", "metadata": {"b": 1, "a": "<x>"}, "rater_id": "u1"},
        ),
        ("conv-1", {"rating_id": "r2", "rating": BAD}),
    ]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("c1", {}, "rating id is required"),
        ("c1", {"rating_id": "  ", "rating": GOOD}, "rating id is required"),
        ("c1", {"rating_id": "r" * 129, "rating": GOOD}, "rating id is too long"),
        (
            "c1",
            {"rating_id": "r1", "rating": "GOOD"},
            "rating must be CONVERSATION_RATING_VALUE_GOOD or CONVERSATION_RATING_VALUE_BAD",
        ),
        ("c1", {"rating_id": "r1", "rating": GOOD, "comment": "é" * 2049}, "comment is too long"),
        ("c1", {"rating_id": "r1", "rating": GOOD, "generation_id": "g" * 256}, "generation id is too long"),
        ("c1", {"rating_id": "r1", "rating": GOOD, "rater_id": "u" * 256}, "rater id is too long"),
        ("c1", {"rating_id": "r1", "rating": GOOD, "source": "s" * 65}, "source is too long"),
        ("c1", {"rating_id": "r1", "rating": GOOD, "metadata": {"k": "v" * 16 * 1024}}, "metadata is too large"),
        ("%20", {"rating_id": "r1", "rating": GOOD}, "conversation id is required"),
        ("c" * 256, {"rating_id": "r1", "rating": GOOD}, "conversation id is too long"),
        ("a%2Fb", {"rating_id": "r1", "rating": GOOD}, "invalid conversation path"),
        ("", {"rating_id": "r1", "rating": GOOD}, "invalid conversation path"),
        ("c1", {"rating_id": "r1", "rating": GOOD, "score": 5}, "invalid request body"),
        ("c1", {"rating_id": "r1", "rating": 1}, "invalid request body"),
    ],
)
async def test_rating_validation_texts(
    http: tuple[aiohttp.ClientSession, str], path: str, body: dict[str, Any], message: str
) -> None:
    assert await _call(http, "POST", f"/api/v1/conversations/{path}/ratings", body) == (400, message.encode() + b"\n")


async def test_rating_list_and_methods(http: tuple[aiohttp.ClientSession, str]) -> None:
    path = "/api/v1/conversations/c9/ratings"
    for i in range(3):
        assert (await _call(http, "POST", path, {"rating_id": f"r{i}", "rating": GOOD}))[0] == 200
    status, body = await _call(http, "GET", path + "?limit=2")
    page = orjson.loads(body)
    assert status == 200
    assert [r["rating_id"] for r in page["items"]] == ["r2", "r1"]  # newest first
    assert page["next_cursor"] == "2"
    page = orjson.loads((await _call(http, "GET", path + "?limit=2&cursor=2"))[1])
    assert ([r["rating_id"] for r in page["items"]], page["next_cursor"]) == (["r0"], "")
    assert orjson.loads((await _call(http, "GET", "/api/v1/conversations/none/ratings"))[1]) == {
        "items": [],
        "next_cursor": "",
    }
    assert await _call(http, "GET", path + "?limit=0") == (400, b"invalid limit\n")
    assert await _call(http, "GET", path + "?cursor=x") == (400, b"invalid cursor\n")
    assert await _call(http, "PUT", path, {}) == (405, b"method not allowed\n")


async def test_ratings_can_be_turned_off(start_gateway: StartGateway, sigil_backend: FakeSigilBackend) -> None:
    service = await start_gateway(_config(sigil_backend, ratings={"enabled": False}))
    async with aiohttp.ClientSession() as s:
        url = f"http://127.0.0.1:{http_port(service)}/api/v1/conversations/c1/ratings"
        async with s.post(url, data=b"{}") as resp:
            assert (resp.status, await resp.text()) == (404, "404 page not found\n")


# -- the real SDK --------------------------------------------------------------------------


def _sdk_client(gateway_port: int) -> Client:
    export = GenerationExportConfig(
        protocol="http",
        endpoint=f"http://127.0.0.1:{gateway_port}/api/v1/generations:export",
        flush_interval=timedelta(milliseconds=50),
        headers={"X-Scope-OrgID": "team-a"},
    )
    logger = logging.getLogger("sigil-scores-test")
    return Client(
        ClientConfig(
            generation_export=export, api=ApiConfig(endpoint=f"http://127.0.0.1:{gateway_port}"), logger=logger
        )
    )


async def test_sdk_rating_submission(gateway: Service, sigil_backend: FakeSigilBackend) -> None:
    client = _sdk_client(http_port(gateway))
    rating = ConversationRatingInput(
        rating_id="rat-1", rating=ConversationRatingValue.BAD, comment="wrong city", generation_id="gen_1", source="web"
    )
    try:
        first = await asyncio.to_thread(client.submit_conversation_rating, "conv 42?", rating)
        again = await asyncio.to_thread(client.submit_conversation_rating, "conv 42?", rating)
        with pytest.raises(RatingConflictError, match="idempotency conflict"):
            other = ConversationRatingInput(rating_id="rat-1", rating=ConversationRatingValue.GOOD)
            await asyncio.to_thread(client.submit_conversation_rating, "conv 42?", other)
    finally:
        client.shutdown()
    assert isinstance(first, SubmitConversationRatingResponse)
    assert first == again
    assert (first.rating.rating_id, first.rating.conversation_id) == ("rat-1", "conv 42?")
    assert (first.rating.comment, first.rating.generation_id, first.rating.source) == ("wrong city", "gen_1", "web")
    assert (first.summary.total_count, first.summary.bad_count, first.summary.has_bad_rating) == (1, 1, True)
    assert first.summary.latest_bad_at == first.rating.created_at
    for _ in range(100):
        if sigil_backend.rating_items:
            break
        await asyncio.sleep(0.02)
    # The id is escaped on the way to the backend as the SDK escapes it (conv%2042%3F).
    assert sigil_backend.rating_items == [
        (
            "conv 42?",
            {"rating_id": "rat-1", "rating": BAD, "comment": "wrong city", "generation_id": "gen_1", "source": "web"},
        )
    ]


async def test_sdk_experiment_scores(gateway: Service, sigil_backend: FakeSigilBackend) -> None:
    client = sx.Client(f"http://127.0.0.1:{http_port(gateway)}", tenant_id="team-a", ingest_token="glc_test")
    scores = [
        ScoreItem(
            score_id=f"sc-{i}",
            evaluator_id="exact",
            evaluator_version="1",
            score_key="correct",
            value=ScoreValue(boolean=i % 2 == 0),
            trial_id=f"trial-{i}",
            run_id="exp-9",
            test_case_id="case-1",
            passed=i % 2 == 0,
        )
        for i in range(3)
    ]
    assert await asyncio.to_thread(client.export_scores, scores) == 3
    await sigil_backend.wait_for_scores(3)
    assert sigil_backend.score_items[0].pop("created_at").endswith("Z")  # stamped on arrival
    assert sigil_backend.score_items[0] == {
        "score_id": "sc-0",
        "evaluator_id": "exact",
        "evaluator_version": "1",
        "score_key": "correct",
        "value": {"bool": True},
        "experiment_id": "exp-9",
        "trial_id": "trial-0",
        "test_case_id": "case-1",
        "passed": True,
    }


def _send_generations(port: int) -> list[str]:
    client = _sdk_client(port)
    ids = []
    try:
        for n, text in enumerate(['{"answer": "42"}', "I'm sorry, I cannot help."]):
            start = GenerationStart(model=ModelRef(provider="openai", name="gpt-4o"), conversation_id=f"conv-{n}")
            with client.start_generation(start) as rec:
                rec.set_result(
                    input=[sm.Message(role=sm.MessageRole.USER, parts=[sm.Part(kind=sm.PartKind.TEXT, text="Q?")])],
                    output=[
                        sm.Message(role=sm.MessageRole.ASSISTANT, parts=[sm.Part(kind=sm.PartKind.TEXT, text=text)])
                    ],
                )
            assert rec.last_generation is not None
            ids.append(rec.last_generation.id)
    finally:
        client.shutdown()
    return ids


@pytest.mark.parametrize("exporter_protocol", ["grpc", "http"])
async def test_sdk_generation_through_evaluate_arrives_with_scores(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, exporter_protocol: str
) -> None:
    sigil_backend.score_lookup = True  # a score before its generation would be rejected
    cfg = _config(sigil_backend)
    if exporter_protocol == "http":
        cfg["exporters"]["sigil"].update(endpoint=f"http://127.0.0.1:{sigil_backend.http_port}", protocol="http")
        del cfg["exporters"]["sigil"]["api_endpoint"]  # defaults to the endpoint
    cfg["processors"] = {
        "evaluate": {
            "evaluators": [
                {
                    "id": "answer.json",
                    "kind": "json_schema",
                    "config": {"schema": {"type": "object", "required": ["answer"]}},
                },
                {
                    "id": "no.apology",
                    "kind": "regex",
                    "version": "3",
                    "config": {"pattern": "(?i)i'm sorry", "reject": True},
                },
            ],
            "rules": [{"id": "visible", "evaluators": ["answer.json", "no.apology"]}],
        }
    }
    cfg["service"]["pipelines"]["p"]["processors"] = ["evaluate"]
    service = await start_gateway(cfg)
    ids = await asyncio.to_thread(_send_generations, http_port(service))
    await sigil_backend.wait_for(2)
    await sigil_backend.wait_for_scores(4)
    assert sorted(g.id for g in sigil_backend.generations()) == sorted(ids)
    got = {(s["generation_id"], s["evaluator_id"]): s for s in sigil_backend.score_items}
    assert {k: v["value"]["bool"] for k, v in got.items()} == {
        (ids[0], "answer.json"): True,
        (ids[0], "no.apology"): True,
        (ids[1], "answer.json"): False,
        (ids[1], "no.apology"): False,
    }
    score = got[(ids[1], "answer.json")]
    work = "work_" + hashlib.sha1(f"team-a|{ids[1]}|visible|answer.json|1".encode()).hexdigest()[:24]
    assert score["score_id"] == "sc_" + hashlib.sha1(f"{work}|json_valid".encode()).hexdigest()[:24]
    assert score["explanation"] == "response is not valid JSON"
    assert (score["score_key"], score["passed"], score["conversation_id"]) == ("json_valid", False, "conv-1")
    assert (score["rule_id"], score["source"]) == ("visible", {"kind": "online_rule", "id": "visible"})
    assert got[(ids[1], "no.apology")]["metadata"] == {"patterns": ["(?i)i'm sorry"], "reject": True, "matched": True}
    assert got[(ids[1], "no.apology")]["evaluator_version"] == "3"


async def test_no_grpc_score_service_like_the_server(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(_config(sigil_backend, grpc={"endpoint": "127.0.0.1:0"}))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}") as channel:
        call = channel.unary_unary("/sigil.v1.ScoreIngestService/ExportScores")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
