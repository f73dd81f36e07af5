"""Sigil's evaluation control plane on the sigil receiver, on real sockets: CRUD round trips in
the documented and the server's shapes, statuses and texts, persistence, and the live path: a
rule created through the API judges the next generation the real Sigil SDK sends, while the
generation is delivered whether or not the judge answers."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sigil_sdk import Client, ClientConfig, GenerationExportConfig, GenerationStart, ModelRef
from sigil_sdk import models as sm

from gateway.config import load_text
from gateway.evaluation.store import EvalStore
from gateway.processors.evaluate import should_sample
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend
from tests.judge_fakes import FakeJudge

CONFIG = pathlib.Path(__file__).resolve().parent.parent.parent / "config"
TENANT = {"X-Scope-OrgID": "team-a"}
JUDGE_EVALUATOR = {
    "evaluator_id": "helpfulness",
    "kind": "llm_judge",
    "config": {
        "provider": "fake-openai",
        "model": "gpt-4o-mini",
        "system_prompt": "You are a quality evaluator.",
        "user_prompt": "Rate this response:\n{{assistant_response}}",
        "max_tokens": 100,
        "temperature": 0.0,
        "timeout_ms": 30000,
    },
}


@pytest.fixture
async def judge() -> AsyncIterator[FakeJudge]:
    j = FakeJudge("openai")
    await j.start()
    yield j
    await j.stop()


def _config(backend: FakeSigilBackend, judge: FakeJudge, store: pathlib.Path, **receiver: Any) -> dict[str, Any]:
    return {
        "receivers": {
            "sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None, "eval_api": {"store": str(store)}, **receiver}
        },
        "processors": {
            "evaluate": {
                "judges": {
                    "providers": [
                        {
                            "id": "fake-openai",
                            "name": "Fake OpenAI",
                            "base_url": judge.base_url,
                            "api_key": "sk-test",
                            "requests_per_minute": 0,
                            "retry_backoff": "1ms",
                            "max_retries": 1,
                        }
                    ]
                },
                "evaluators": [{"id": "yaml.digits", "kind": "regex", "config": {"pattern": "\\d"}}],
                "api_store": str(store),
            }
        },
        "exporters": {
            "sigil": {
                "endpoint": f"http://127.0.0.1:{backend.http_port}",
                "protocol": "http",
                "forward_tenant": True,
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"},
            }
        },
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["sigil"]}}},
    }


@pytest.fixture
async def gateway(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, judge: FakeJudge, tmp_path: pathlib.Path
) -> Service:
    return await start_gateway(_config(sigil_backend, judge, tmp_path / "eval-store.json"))


async def _call(
    gw: Service, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{http_port(gw)}{path}"
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, data=data, headers=TENANT if headers is None else headers) as resp,
    ):
        text = await resp.text()
        if resp.content_type == "application/json":
            return resp.status, json.loads(text)
        return resp.status, text


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("created_at", "updated_at")}


async def test_evaluator_and_rule_round_trips(gateway: Service, tmp_path: pathlib.Path) -> None:
    status, created = await _call(gateway, "POST", "/api/v1/evaluators", JUDGE_EVALUATOR)
    assert status == 200
    assert created["created_at"] == created["updated_at"] and created["created_at"].endswith("Z")
    assert _strip(created) == {
        "tenant_id": "team-a",
        **JUDGE_EVALUATOR,
        "version": "1",
        "output_keys": [{"key": "judge_score", "type": "number"}],
        "is_predefined": False,
        "created_by": "gateway-api",
        "updated_by": "gateway-api",
        "read_only": False,
    }
    # The server's path and shape: the same object.
    assert await _call(gateway, "GET", "/api/v1/eval/evaluators/helpfulness") == (200, created)
    status, listed = await _call(gateway, "GET", "/api/v1/evaluators")
    assert status == 200 and listed["next_cursor"] == ""
    assert [(e["evaluator_id"], e["read_only"]) for e in listed["items"]] == [
        ("helpfulness", False),
        ("yaml.digits", True),
    ]
    yaml_one = listed["items"][1]
    assert (yaml_one["kind"], yaml_one["config"], yaml_one["output_keys"]) == (
        "regex",
        {"pattern": "\\d"},
        [{"key": "regex_match", "type": "bool"}],
    )
    status, page = await _call(gateway, "GET", "/api/v1/eval/evaluators?limit=1")
    assert (status, [e["evaluator_id"] for e in page["items"]], page["next_cursor"]) == (200, ["helpfulness"], "1")
    status, page = await _call(gateway, "GET", "/api/v1/eval/evaluators?limit=1&cursor=1")
    assert ([e["evaluator_id"] for e in page["items"]], page["next_cursor"]) == (["yaml.digits"], "")

    update = {
        **JUDGE_EVALUATOR,
        "version": "2",
        "output_keys": [{"key": "helpful", "type": "number", "pass_threshold": 7}],
    }
    status, updated = await _call(gateway, "PUT", "/api/v1/evaluators/helpfulness", update)
    assert status == 200
    assert (updated["version"], updated["output_keys"], updated["created_at"]) == (
        "2",
        [{"key": "helpful", "type": "number", "pass_threshold": 7}],
        created["created_at"],
    )

    rule = {
        "rule_id": "online.helpfulness",
        "selector": "user_visible_turn",
        "match": {"agent_name": ["support-*"], "tags.env": "prod"},
        "sample_rate": 0.1,
        "evaluator_ids": ["helpfulness", "yaml.digits"],
        "alert_rule_uids": ["alert-1"],
    }
    status, created_rule = await _call(gateway, "POST", "/api/v1/eval-rules", rule)
    assert status == 200
    assert _strip(created_rule) == {
        "tenant_id": "team-a",
        "rule_id": "online.helpfulness",
        "enabled": True,
        "selector": "user_visible_turn",
        "match": {"agent_name": ["support-*"], "tags.env": ["prod"]},
        "sample_rate": 0.1,
        "evaluator_ids": ["helpfulness", "yaml.digits"],
        "alert_rule_uids": ["alert-1"],
        "created_by": "gateway-api",
        "updated_by": "gateway-api",
        "read_only": False,
    }
    status, patched = await _call(
        gateway, "PATCH", "/api/v1/eval/rules/online.helpfulness", {"enabled": False, "alert_rule_uids": []}
    )
    assert status == 200
    assert (patched["enabled"], patched["alert_rule_uids"], patched["sample_rate"]) == (False, [], 0.1)
    status, replaced = await _call(
        gateway, "PUT", "/api/v1/eval-rules/online.helpfulness", {"evaluator_ids": ["helpfulness"]}
    )
    assert status == 200
    # PUT replaces: the server's defaults fill what the body leaves out.
    assert (replaced["enabled"], replaced["sample_rate"], replaced["selector"], replaced["match"]) == (
        True,
        0.01,
        "user_visible_turn",
        {},
    )
    status, rules = await _call(gateway, "GET", "/api/v1/eval/rules")
    assert [r["rule_id"] for r in rules["items"]] == ["online.helpfulness"]

    # Persisted: a fresh reader of the file sees what the API wrote.
    fresh = EvalStore(str(tmp_path / "eval-store.json"))
    assert fresh.stored("team-a", "rules")["online.helpfulness"]["evaluator_ids"] == ["helpfulness"]
    assert fresh.stored("team-a", "evaluators")["helpfulness"]["version"] == "2"
    assert fresh.stored("other", "rules") == {}

    status, text = await _call(gateway, "DELETE", "/api/v1/evaluators/helpfulness")
    assert (status, text) == (
        400,
        "cannot delete evaluator 'helpfulness': referenced by enabled rules online.helpfulness\n",
    )
    assert await _call(gateway, "DELETE", "/api/v1/eval/rules/online.helpfulness") == (204, "")
    assert await _call(gateway, "DELETE", "/api/v1/eval/evaluators/helpfulness") == (204, "")
    assert await _call(gateway, "GET", "/api/v1/evaluators/helpfulness") == (404, "404 page not found\n")
    assert await _call(gateway, "DELETE", "/api/v1/eval-rules/online.helpfulness") == (404, "404 page not found\n")


async def test_tenants_are_separate(gateway: Service) -> None:
    assert (await _call(gateway, "POST", "/api/v1/evaluators", JUDGE_EVALUATOR))[0] == 200
    status, other = await _call(gateway, "GET", "/api/v1/evaluators", headers={"X-Scope-OrgID": "team-b"})
    assert status == 200
    assert [e["evaluator_id"] for e in other["items"]] == ["yaml.digits"]  # the YAML one is everyone's


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("POST", "/api/v1/evaluators", b"", 400, "request body is required"),
        ("POST", "/api/v1/evaluators", b"{", 400, "invalid request body: malformed JSON at position 1"),
        (
            "POST",
            "/api/v1/evaluators",
            {**JUDGE_EVALUATOR, "bogus": 1},
            400,
            'invalid request body: unknown field "bogus"',
        ),
        (
            "POST",
            "/api/v1/evaluators",
            {**JUDGE_EVALUATOR, "config": "x"},
            400,
            'invalid request body: field "config" has the wrong type',
        ),
        ("POST", "/api/v1/evaluators", {"kind": "regex", "config": {}}, 400, "evaluator_id is required"),
        (
            "POST",
            "/api/v1/evaluators",
            {"evaluator_id": "x", "kind": "ner", "config": {}},
            400,
            "invalid evaluator kind 'ner' (one of regex, json_schema, heuristic, llm_judge)",
        ),
        ("POST", "/api/v1/evaluators", {"evaluator_id": "x", "kind": "regex"}, 400, "config is required"),
        (
            "POST",
            "/api/v1/evaluators",
            {"evaluator_id": "x", "kind": "regex", "config": {}},
            400,
            "config: regex evaluator requires pattern or patterns config",
        ),
        (
            "POST",
            "/api/v1/evaluators",
            {**JUDGE_EVALUATOR, "config": {**JUDGE_EVALUATOR["config"], "provider": "azure"}},  # type: ignore[dict-item]
            400,
            "config::provider: judge provider 'azure' is not configured (providers: fake-openai)",
        ),
        (
            "POST",
            "/api/v1/evaluators",
            {"evaluator_id": "yaml.digits", "kind": "regex", "config": {"pattern": "x"}},
            409,
            "evaluator 'yaml.digits' is defined in the gateway configuration and is read-only",
        ),
        (
            "DELETE",
            "/api/v1/evaluators/yaml.digits",
            None,
            409,
            "evaluator 'yaml.digits' is defined in the gateway configuration and is read-only",
        ),
        ("POST", "/api/v1/eval-rules", {"evaluator_ids": ["yaml.digits"]}, 400, "rule_id is required"),
        ("POST", "/api/v1/eval-rules", {"rule_id": "r"}, 400, "evaluator_ids must include at least one id"),
        (
            "POST",
            "/api/v1/eval-rules",
            {"rule_id": "r", "evaluator_ids": [" "]},
            400,
            "evaluator_ids cannot include empty values",
        ),
        (
            "POST",
            "/api/v1/eval-rules",
            {"rule_id": "r", "evaluator_ids": ["nope"]},
            400,
            'evaluator "nope" was not found',
        ),
        (
            "POST",
            "/api/v1/eval-rules",
            {"rule_id": "r", "selector": "all", "evaluator_ids": ["yaml.digits"]},
            400,
            "selector is invalid",
        ),
        (
            "POST",
            "/api/v1/eval/rules",
            {"rule_id": "r", "sample_rate": 2, "evaluator_ids": ["yaml.digits"]},
            400,
            "sample_rate must be between 0 and 1",
        ),
        (
            "POST",
            "/api/v1/eval/rules",
            {"rule_id": "r", "match": {"user": "x"}, "evaluator_ids": ["yaml.digits"]},
            400,
            "unsupported match key 'user'",
        ),
        ("PATCH", "/api/v1/eval/rules/missing", {"enabled": False}, 404, "404 page not found"),
        ("GET", "/api/v1/eval/rules?limit=0", None, 400, "invalid limit"),
        ("GET", "/api/v1/eval/rules?cursor=x", None, 400, "invalid cursor"),
        ("PATCH", "/api/v1/evaluators/yaml.digits", {"version": "2"}, 405, "method not allowed"),
        ("DELETE", "/api/v1/evaluators", None, 405, "method not allowed"),
        ("POST", "/api/v1/judge-providers", None, 405, "method not allowed"),
    ],
)
async def test_errors_are_the_servers(
    gateway: Service, method: str, path: str, body: Any, status: int, text: str
) -> None:
    assert await _call(gateway, method, path, body) == (status, text + "\n")


async def test_patch_needs_a_field(gateway: Service) -> None:
    await _call(gateway, "POST", "/api/v1/eval-rules", {"rule_id": "r", "evaluator_ids": ["yaml.digits"]})
    assert await _call(gateway, "PATCH", "/api/v1/eval/rules/r", {}) == (400, "at least one field must be provided\n")
    assert await _call(gateway, "PATCH", "/api/v1/eval/rules/r", {"rule_id": "s"}) == (
        400,
        "rule_id in the body does not match the path\n",
    )


async def test_judge_providers_on_both_paths(gateway: Service) -> None:
    expected = {"providers": [{"id": "fake-openai", "name": "Fake OpenAI", "type": "openai_compat"}]}
    assert await _call(gateway, "GET", "/api/v1/judge-providers") == (200, expected)
    assert await _call(gateway, "GET", "/api/v1/eval/judge/providers") == (200, expected)


async def test_tenant_is_required_like_every_other_endpoint(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, judge: FakeJudge, tmp_path: pathlib.Path
) -> None:
    gw = await start_gateway(_config(sigil_backend, judge, tmp_path / "s.json", require_tenant=True))
    assert await _call(gw, "GET", "/api/v1/evaluators", headers={}) == (401, "no org id\n")
    assert await _call(gw, "GET", "/api/v1/judge-providers", headers={}) == (401, "no org id\n")
    assert (await _call(gw, "GET", "/api/v1/evaluators"))[0] == 200


# -- live: the API's rules run on the next generation --------------------------------------------


def _send(port: int, texts: list[str], agent: str = "support-bot") -> list[str]:
    export = GenerationExportConfig(
        protocol="http",
        endpoint=f"http://127.0.0.1:{port}/api/v1/generations:export",
        flush_interval=timedelta(milliseconds=20),
        headers=TENANT,
    )
    client = Client(ClientConfig(generation_export=export, logger=logging.getLogger("eval-api-test")))
    ids = []
    try:
        for n, text in enumerate(texts):
            start = GenerationStart(
                model=ModelRef(provider="openai", name="gpt-4o"), conversation_id=f"conv-{text}-{n}", agent_name=agent
            )
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


async def test_a_rule_created_through_the_api_judges_the_next_generation(
    gateway: Service, sigil_backend: FakeSigilBackend, judge: FakeJudge
) -> None:
    sigil_backend.score_lookup = True  # a score ahead of its generation would be rejected
    port = http_port(gateway)
    (before,) = await asyncio.to_thread(_send, port, ["before"])
    await sigil_backend.wait_for(1)
    assert judge.requests == [] and sigil_backend.score_items == []

    evaluator = {**JUDGE_EVALUATOR, "output_keys": [{"key": "helpfulness", "type": "number", "pass_threshold": 7}]}
    assert (await _call(gateway, "POST", "/api/v1/eval/evaluators", evaluator))[0] == 200
    rule = {
        "rule_id": "judge.all",
        "sample_rate": 1,
        "match": {"agent_name": "support-*"},
        "evaluator_ids": ["helpfulness"],
    }
    assert (await _call(gateway, "POST", "/api/v1/eval/rules", rule))[0] == 200

    (after,) = await asyncio.to_thread(_send, port, ["after"])
    await sigil_backend.wait_for_scores(1)
    await sigil_backend.wait_for(2)
    assert [g.id for g in sigil_backend.generations()] == [before, after]
    (score,) = sigil_backend.score_items
    assert (score["generation_id"], score["evaluator_id"], score["score_key"], score["rule_id"]) == (
        after,
        "helpfulness",
        "helpfulness",
        "judge.all",
    )
    assert (score["value"], score["passed"], score["explanation"]) == ({"number": 8.0}, True, "clear and correct")
    assert score["source"] == {"kind": "online_rule", "id": "judge.all"}
    (seen,) = judge.requests
    assert seen.body["messages"][1] == {"role": "user", "content": "Rate this response:\nafter"}
    # The rule's match decides: another agent's generation is not judged.
    await asyncio.to_thread(_send, port, ["elsewhere"], "billing-bot")
    await sigil_backend.wait_for(3)
    assert len(judge.requests) == 1


@pytest.mark.parametrize("outage", ["down", "hanging"])
async def test_generations_are_delivered_whatever_the_judge_does(
    gateway: Service, sigil_backend: FakeSigilBackend, judge: FakeJudge, outage: str
) -> None:
    if outage == "down":
        judge.status = 503
    else:
        judge.hang = True
    assert (await _call(gateway, "POST", "/api/v1/evaluators", JUDGE_EVALUATOR))[0] == 200
    rule = {"rule_id": "judge.all", "sample_rate": 1, "evaluator_ids": ["helpfulness", "yaml.digits"]}
    assert (await _call(gateway, "POST", "/api/v1/eval-rules", rule))[0] == 200
    texts = [f"answer {n}" for n in range(5)]
    ids = await asyncio.to_thread(_send, http_port(gateway), texts)
    await sigil_backend.wait_for(5)
    assert sorted(g.id for g in sigil_backend.generations()) == sorted(ids)
    # The deterministic evaluator's scores travel with their generations; the judge's never come.
    await sigil_backend.wait_for_scores(5)
    assert {s["evaluator_id"] for s in sigil_backend.score_items} == {"yaml.digits"}
    assert len(judge.requests) >= 1
    if outage == "hanging":  # the judge comes back: its scores follow the generations
        judge.release()
        await sigil_backend.wait_for_scores(10)
        judged = sorted(s["generation_id"] for s in sigil_backend.score_items if s["evaluator_id"] == "helpfulness")
        assert judged == sorted(ids)


# -- the worked example of docs/evaluation.md ---------------------------------------------------


async def test_the_documented_sidecar_judges_a_tenth_of_visible_turns(
    sigil_backend: FakeSigilBackend, judge: FakeJudge, tmp_path: pathlib.Path
) -> None:
    text = (CONFIG / "sigil-sidecar-llm-judge.yaml").read_text()
    for fixed in ("127.0.0.1:8080", "127.0.0.1:4317", "127.0.0.1:13133", "127.0.0.1:8888"):
        text = text.replace(fixed, "127.0.0.1:0")
    env = {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": judge.base_url,
        "SIGIL_ENDPOINT": f"http://127.0.0.1:{sigil_backend.http_port}",
        "GRAFANA_CLOUD_INSTANCE_ID": "123456",
        "GRAFANA_CLOUD_TOKEN": "glc_test",
        "GATEWAY_DATA_DIR": str(tmp_path),
    }
    service = Service(load_text(text, environ=env))
    await service.start()
    try:
        # The SDK sends no tenant: the receiver's fake tenant, as in a sidecar. Sampling keeps
        # whole conversations, deterministically: pick some it keeps and some it drops.
        sampled = [c for c in (f"conv-{n}" for n in range(200)) if should_sample("fake", c, "judge.visible.turns", 0.1)]
        skipped = [c for c in (f"conv-{n}" for n in range(200)) if c not in sampled]
        assert 5 <= len(sampled) <= 40
        ids = await asyncio.to_thread(_send_conversations, http_port(service), sampled[:3] + skipped[:7])
        await sigil_backend.wait_for(10)
        await sigil_backend.wait_for_scores(3)
    finally:
        await service.shutdown()
    assert len(judge.requests) == 3
    assert sorted(s["generation_id"] for s in sigil_backend.score_items) == sorted(ids[:3])
    assert {(s["score_key"], s["passed"]) for s in sigil_backend.score_items} == {("helpfulness", True)}
    assert judge.requests[0].body["model"] == "gpt-4o-mini"
    assert judge.requests[0].headers["Authorization"] == "Bearer sk-test"


def _send_conversations(port: int, conversations: list[str]) -> list[str]:
    export = GenerationExportConfig(
        protocol="http",
        endpoint=f"http://127.0.0.1:{port}/api/v1/generations:export",
        flush_interval=timedelta(milliseconds=20),
    )
    client = Client(ClientConfig(generation_export=export, logger=logging.getLogger("eval-api-test")))
    ids = []
    try:
        for conversation in conversations:
            start = GenerationStart(model=ModelRef(provider="openai", name="gpt-4o"), conversation_id=conversation)
            with client.start_generation(start) as rec:
                rec.set_result(
                    input=[sm.Message(role=sm.MessageRole.USER, parts=[sm.Part(kind=sm.PartKind.TEXT, text="Q?")])],
                    output=[
                        sm.Message(role=sm.MessageRole.ASSISTANT, parts=[sm.Part(kind=sm.PartKind.TEXT, text="A.")])
                    ],
                )
            assert rec.last_generation is not None
            ids.append(rec.last_generation.id)
    finally:
        client.shutdown()
    return ids


async def test_a_store_that_cannot_be_written_answers_503(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, judge: FakeJudge, tmp_path: pathlib.Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    gw = await start_gateway(_config(sigil_backend, judge, blocker / "store.json"))
    status, text = await _call(gw, "POST", "/api/v1/evaluators", JUDGE_EVALUATOR)
    assert status == 503 and text.startswith("evaluation store unavailable: ")
    assert await _call(gw, "GET", "/api/v1/evaluators/helpfulness") == (404, "404 page not found\n")
