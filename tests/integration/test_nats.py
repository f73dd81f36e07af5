"""The nats exporter and receiver against a real nats-server (JetStream) on loopback.

Gateways run in this process here; tests/integration/test_nats_fleet.py runs backend gateways as
processes, kills them, and stops NATS nodes of a cluster.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import nats
import nkeys
import orjson
import pytest
import trustme
from nats.js import api

from gateway.config import Decoder, load
from gateway.exporters.nats import NatsExporterConfig
from gateway.nats_encodings import HEADER, decode
from gateway.receivers.nats import NatsReceiverConfig
from gateway.service import Service
from tests import nats_jwt
from tests.conftest import StartGateway, http_port
from tests.fakes_http import FakeFoglamp, Reply
from tests.nats_servers import NatsServer

T0 = 1_776_679_200_000  # epoch ms


def ingest_body(ids: list[str], trace: str = "t1") -> bytes:
    spans = [
        {
            "spanId": i,
            "spanType": "llm",
            "name": "call",
            "provider": "openai",
            "modelId": "gpt-4o",
            "startTime": T0,
            "endTime": T0 + 5,
        }
        for i in ids
    ]
    return orjson.dumps({"version": "v1", "traces": [{"traceId": trace, "traceName": "demo", "spans": spans}]})


async def post(port: int, body: bytes, tenant: str = "team-a") -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/ingest",
            data=body,
            headers={"Authorization": "Bearer k", "X-Scope-OrgID": tenant, "X-Team": "blue"},
        ) as resp,
    ):
        return resp.status


@pytest.fixture
async def server(tmp_path: pathlib.Path) -> AsyncIterator[NatsServer]:
    srv = NatsServer(tmp_path)
    await srv.start()
    yield srv
    srv.stop()


def edge_config(url: Any, **nats_options: Any) -> dict[str, Any]:
    return {
        "receivers": {"foglamp": {"endpoint": "127.0.0.1:0", "keep_headers": ["x-team"]}},
        "exporters": {"nats": {"url": url, **nats_options}},
        "service": {"pipelines": {"p": {"receivers": ["foglamp"], "exporters": ["nats"]}}},
    }


def backend_config(url: Any, fake: FakeFoglamp, **nats_options: Any) -> dict[str, Any]:
    return {
        "receivers": {
            "nats": {
                "url": url,
                "ack_wait": "2s",
                "fetch_wait": "250ms",
                "nak_delay": "100ms",
                "max_nak_delay": "500ms",
                **nats_options,
            }
        },
        "exporters": {
            "foglamp": {
                "endpoint": fake.url,
                "api_key": "fl_test",
                "sending_queue": {"enabled": False},
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "300ms"},
            }
        },
        "service": {"pipelines": {"p": {"receivers": ["nats"], "exporters": ["foglamp"]}}},
    }


@pytest.fixture
async def foglamp() -> AsyncIterator[FakeFoglamp]:
    fake = FakeFoglamp()
    await fake.start()
    yield fake
    await fake.stop()


async def read_stream(url: str, n: int, stream: str = "LLM_TELEMETRY", **options: Any) -> list[Any]:
    nc = await nats.connect(url, **options)
    try:
        sub = await nc.jetstream().pull_subscribe("", stream=stream)
        msgs: list[Any] = []
        while len(msgs) < n:
            msgs.extend(await sub.fetch(n - len(msgs), timeout=5))
        return msgs
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("encoding", "kind"),
    [
        ("record", "record/v1"),
        ("sigil_proto", "sigil/generations"),
        ("otlp_proto", "otlp/traces"),
        ("foglamp_json", "foglamp/ingest"),
        ("lumiqtrace_ndjson", "lumiqtrace/events"),
    ],
)
async def test_each_encoding_is_published_after_the_puback_with_context_headers(
    server: NatsServer, start_gateway: StartGateway, encoding: str, kind: str
) -> None:
    edge = await start_gateway(edge_config(server.url, encoding=encoding))
    assert await post(http_port(edge), ingest_body(["s1", "s2"]), tenant="team a.b") == 202
    # The 202 came after the PubAck: the message is in the stream now, no waiting.
    nc = await nats.connect(server.url)
    info = await nc.jsm().stream_info("LLM_TELEMETRY")
    await nc.close()
    assert info.state.messages == 1
    assert info.config.subjects == ["llm.telemetry.*"]
    (msg,) = await read_stream(server.url, 1)
    assert msg.subject == "llm.telemetry.team_a_b"  # one subject token; the tenant is in a header
    assert msg.headers[HEADER] == kind
    assert msg.headers["Gateway-Tenant"] == "team a.b"
    assert msg.headers["Gateway-Header-x-team"] == "blue"
    assert msg.headers["Gateway-Receiver"] == "foglamp"
    assert len(msg.headers["Nats-Msg-Id"]) == 64
    assert "k" not in msg.headers.values()  # credentials never travel
    decoded = decode(msg.headers[HEADER], msg.data)
    assert len(decoded.records) == 2
    if encoding in ("record", "foglamp_json"):  # OTLP hashes non-hex ids into span ids
        assert sorted(r.span_id for r in decoded.records) == ["s1", "s2"]


async def test_a_resent_batch_is_stored_once(server: NatsServer, start_gateway: StartGateway) -> None:
    edge = await start_gateway(edge_config(server.url))
    body = ingest_body(["s1"])
    assert await post(http_port(edge), body) == 202
    assert await post(http_port(edge), body) == 202  # the client retried: same content, same id
    assert await post(http_port(edge), ingest_body(["s2"])) == 202
    nc = await nats.connect(server.url)
    info = await nc.jsm().stream_info("LLM_TELEMETRY")
    await nc.close()
    assert info.state.messages == 2


async def test_backend_receives_every_record_with_its_tenant_and_survives_a_backend_outage(
    server: NatsServer, start_gateway: StartGateway, foglamp: FakeFoglamp
) -> None:
    edge = await start_gateway(edge_config(server.url))
    backend = await start_gateway(backend_config([server.url], foglamp, keep_headers=["x-team"]))
    down = True
    foglamp.inject = lambda n: Reply(503, {"error": "unavailable"}) if down else None
    for i in range(5):
        assert await post(http_port(edge), ingest_body([f"s{i}"], trace=f"t{i}")) == 202
    value = backend.telemetry.registry.get_sample_value
    refused = {"receiver": "nats", "transport": "nats", "reason": "unavailable"}
    # The backend is down: the exporter gives up, the receiver naks, the messages come back.
    while (value("gateway_receiver_refused_records_total", refused) or 0) < 5:
        await asyncio.sleep(0.05)
    assert foglamp.spans() == []
    down = False
    await foglamp.wait_for(5)
    assert sorted(s["spanId"] for s in foglamp.spans()) == [f"s{i}" for i in range(5)]
    failed = sum(1 for r in foglamp.requests if r.status == 503)
    print(f"\nbackend outage: {failed} refused sends, 5 of 5 records delivered after it")
    assert value("gateway_receiver_accepted_records_total", {"receiver": "nats", "transport": "nats"}) == 5


async def test_undecodable_messages_are_terminated_and_dead_lettered(
    server: NatsServer, start_gateway: StartGateway, foglamp: FakeFoglamp
) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="LLM_TELEMETRY", subjects=["llm.telemetry.*"]))
    await js.add_stream(api.StreamConfig(name="DEAD", subjects=["llm.dead"]))
    await js.publish("llm.telemetry.x", b"\xff\xff", headers={HEADER: "record/v1"})
    await js.publish("llm.telemetry.x", b"{}", headers={HEADER: "carrier-pigeon"})
    backend = await start_gateway(backend_config(server.url, foglamp, dead_letter_subject="llm.dead"))
    dead = await read_stream(server.url, 2, stream="DEAD")
    reasons = sorted(m.headers["Gateway-Dead-Letter-Reason"] for m in dead)
    assert reasons[0].startswith("record/v1 body does not decode: invalid protobuf gateway.record.v1.Batch")
    assert reasons[1].startswith("unknown Gateway-Encoding 'carrier-pigeon'")
    assert sorted(m.data for m in dead) == [b"{}", b"\xff\xff"]
    value = backend.telemetry.registry.get_sample_value
    labels = {"receiver": "nats", "transport": "nats", "reason": "bad_input"}
    assert value("gateway_receiver_refused_records_total", labels) == 2
    # Terminated, not redelivered: nothing is pending on the consumer.
    await asyncio.sleep(0.3)
    info = await js.consumer_info("LLM_TELEMETRY", "gateway")
    await nc.close()
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_edge_answers_503_while_nats_is_unreachable(tmp_path: pathlib.Path, start_gateway: StartGateway) -> None:
    srv = NatsServer(tmp_path)  # not started yet
    edge = await start_gateway(
        edge_config(srv.url, timeout="1s", retry_on_failure={"initial_interval": "50ms", "max_elapsed_time": "200ms"})
    )
    assert await post(http_port(edge), ingest_body(["s1"])) == 503
    await srv.start()
    try:
        status = 503
        for _ in range(100):  # the client retries, as a Foglamp SDK does on 503
            status = await post(http_port(edge), ingest_body(["s1"]))
            if status == 202:
                break
            await asyncio.sleep(0.1)
        assert status == 202
    finally:
        srv.stop()


async def test_user_and_password_auth(tmp_path: pathlib.Path, start_gateway: StartGateway) -> None:
    srv = NatsServer(tmp_path)
    srv.extra = ["--user", "gw", "--pass", "s3cret"]
    await srv.start()
    try:
        fast = {"timeout": "1s", "retry_on_failure": {"initial_interval": "50ms", "max_elapsed_time": "200ms"}}
        wrong = await start_gateway(edge_config(srv.url, auth={"user": "gw", "password": "nope"}, **fast))
        assert await post(http_port(wrong), ingest_body(["s1"])) == 503
        right = await start_gateway(edge_config(srv.url, auth={"user": "gw", "password": "s3cret"}, **fast))
        assert await post(http_port(right), ingest_body(["s1"])) == 202
    finally:
        srv.stop()


def test_exporter_config_problems() -> None:
    d = Decoder({})
    raw = {"stream": {"name": "A.B", "replicas": 7}, "auth": {"token": "t", "user": "u"}}
    d.decode(NatsExporterConfig, raw, "exporters::nats")
    assert d.problems == [
        "exporters::nats::stream::name: must be non-empty without spaces, dots, *, >, / or \\",
        "exporters::nats::stream::replicas: must be between 1 and 5",
        "exporters::nats::auth::user: only one of token, user, nkey_seed_file, credentials_file may be set",
        "exporters::nats::auth::password: must be set together with user",
    ]
    d = Decoder({})
    d.decode(NatsExporterConfig, {"url": ["http://n1:4222"], "subject": "llm telemetry.{tenant}"}, "exporters::nats")
    assert d.problems == [
        "exporters::nats::url: 'http://n1:4222' must start with one of nats://, tls://, ws://, wss://",
        "exporters::nats::subject: 'llm telemetry.t' is not a NATS subject (dot-separated tokens without wildcards, "
        "spaces or empty tokens)",
    ]
    d = Decoder({})
    d.decode(NatsExporterConfig, {"subject": "a.{tenant}", "stream": {"subjects": ["b.>"]}}, "exporters::nats")
    assert d.problems == ["exporters::nats::subject: 'a.{tenant}' is not in stream::subjects ['b.>']"]


def test_receiver_config_problems() -> None:
    d = Decoder({})
    d.decode(
        NatsReceiverConfig,
        {"url": 5, "durable": "a.b", "fetch_size": 0, "nak_delay": "2s", "max_nak_delay": "1s"},
        "receivers::nats",
    )
    assert d.problems == [
        "receivers::nats::url: expected a URL or a list of URLs, like nats://127.0.0.1:4222",
        "receivers::nats::durable: must be non-empty without spaces, dots, * or >",
        "receivers::nats::fetch_size: must be at least 1",
        "receivers::nats::max_nak_delay: must not be less than nak_delay",
    ]


async def test_service_shuts_down_cleanly_without_nats(tmp_path: pathlib.Path) -> None:
    srv = NatsServer(tmp_path)  # never started: connect attempts are in flight at shutdown
    fake_url = "http://127.0.0.1:9"
    raw = {
        "receivers": {"nats": {"url": srv.url}, "foglamp": {"endpoint": "127.0.0.1:0"}},
        "exporters": {"nats": {"url": srv.url}, "foglamp": {"endpoint": fake_url, "api_key": "k"}},
        "service": {
            "pipelines": {
                "in": {"receivers": ["nats"], "exporters": ["foglamp"]},
                "out": {"receivers": ["foglamp"], "exporters": ["nats"]},
            }
        },
    }
    service = Service(load(raw, environ={}))
    await service.start()
    await asyncio.sleep(0.2)
    await asyncio.wait_for(service.shutdown(), 5)


async def test_nkey_seed_auth(tmp_path: pathlib.Path, start_gateway: StartGateway) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    conf = tmp_path / "server.conf"
    conf.write_text(f'authorization {{ users = [ {{ nkey: "{public}" }} ] }}\n')
    srv = NatsServer(tmp_path)
    srv.extra = ["-c", str(conf)]
    await srv.start()
    try:
        edge = await start_gateway(edge_config(srv.url, auth={"nkey_seed_file": str(seed_file)}))
        assert await post(http_port(edge), ingest_body(["s1"])) == 202
        (msg,) = await read_stream(srv.url, 1, nkeys_seed=str(seed_file))
        assert decode(msg.headers[HEADER], msg.data).records[0].span_id == "s1"
    finally:
        srv.stop()


async def test_credentials_file_auth(tmp_path: pathlib.Path, start_gateway: StartGateway) -> None:
    """Operator mode: the server knows only the operator and its preloaded accounts, so a user
    gets in with a .creds file of a user that one of them signed, and not otherwise."""
    operator = nats_jwt.Identity.new(nkeys.PREFIX_BYTE_OPERATOR)
    account, system, unknown = (nats_jwt.Identity.new(nkeys.PREFIX_BYTE_ACCOUNT) for _ in range(3))
    accounts = {
        account.public: nats_jwt.account_jwt(operator, account, "gateway"),
        system.public: nats_jwt.account_jwt(operator, system, "SYS", jetstream=False),
    }
    conf = tmp_path / "server.conf"
    conf.write_text(nats_jwt.server_config(nats_jwt.operator_jwt(operator, system.public), accounts))

    def creds_file(name: str, signer: nats_jwt.Identity) -> str:
        user = nats_jwt.Identity.new(nkeys.PREFIX_BYTE_USER)
        path = tmp_path / f"{name}.creds"
        path.write_text(nats_jwt.creds(nats_jwt.user_jwt(signer, user, name), user))
        return str(path)

    srv = NatsServer(tmp_path)
    srv.extra = ["-c", str(conf)]
    await srv.start()
    try:
        fast = {"timeout": "1s", "retry_on_failure": {"initial_interval": "50ms", "max_elapsed_time": "200ms"}}
        stranger = creds_file("stranger", unknown)  # its account was never preloaded
        wrong = await start_gateway(edge_config(srv.url, auth={"credentials_file": stranger}, **fast))
        assert await post(http_port(wrong), ingest_body(["s0"])) == 503
        creds = creds_file("gateway", account)
        right = await start_gateway(edge_config(srv.url, auth={"credentials_file": creds}, **fast))
        assert await post(http_port(right), ingest_body(["s1"])) == 202
        (msg,) = await read_stream(srv.url, 1, user_credentials=creds)
        assert decode(msg.headers[HEADER], msg.data).records[0].span_id == "s1"
    finally:
        srv.stop()


async def test_a_deleted_stream_and_consumer_are_made_again(
    server: NatsServer, start_gateway: StartGateway, foglamp: FakeFoglamp
) -> None:
    edge = await start_gateway(edge_config(server.url))
    await start_gateway(backend_config(server.url, foglamp))
    assert await post(http_port(edge), ingest_body(["s1"])) == 202
    await foglamp.wait_for(1)
    nc = await nats.connect(server.url)
    await nc.jsm().delete_stream("LLM_TELEMETRY")  # an operator's mistake: stream and consumer gone
    await nc.close()
    assert await post(http_port(edge), ingest_body(["s2"])) == 202  # the exporter made the stream again
    await foglamp.wait_for(2, timeout=15)  # the receiver bound a new consumer
    assert sorted(s["spanId"] for s in foglamp.spans()) == ["s1", "s2"]


async def test_sigil_batches_go_to_a_sigil_stream_as_they_came(server: NatsServer, start_gateway: StartGateway) -> None:
    edge = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {"nats": {"url": server.url, "encoding": "sigil_proto"}},
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["nats"]}}},
        }
    )
    generation = {"id": "g1", "model": {"provider": "openai", "name": "gpt-4o"}, "mode": "GENERATION_MODE_SYNC"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{http_port(edge)}/api/v1/generations:export",
            json={"generations": [generation]},
            headers={"X-Scope-OrgID": "team-a"},
        ) as resp,
    ):
        assert resp.status == 202, await resp.text()
    (msg,) = await read_stream(server.url, 1)
    assert msg.headers[HEADER] == "sigil/generations"
    (record,) = decode(msg.headers[HEADER], msg.data).records
    assert (record.id, record.model, record.provider) == ("g1", "gpt-4o", "openai")


async def test_a_permanent_refusal_terminates_the_message_to_the_dead_letter_subject(
    server: NatsServer, start_gateway: StartGateway, foglamp: FakeFoglamp
) -> None:
    nc = await nats.connect(server.url)
    await nc.jetstream().add_stream(api.StreamConfig(name="DEAD", subjects=["llm.dead"]))
    await nc.close()
    foglamp.inject = lambda n: Reply(400, {"error": "invalid payload"}) if n == 0 else None
    edge = await start_gateway(edge_config(server.url))
    backend = await start_gateway(backend_config(server.url, foglamp, dead_letter_subject="llm.dead"))
    assert await post(http_port(edge), ingest_body(["bad"])) == 202
    (dead,) = await read_stream(server.url, 1, stream="DEAD")
    assert dead.headers["Gateway-Dead-Letter-Reason"].startswith("refused: POST http://")
    assert dead.headers["Gateway-Tenant"] == "team-a"  # the original headers travel on
    assert [s.span_id for s in decode(dead.headers[HEADER], dead.data).records] == ["bad"]
    assert await post(http_port(edge), ingest_body(["good"])) == 202
    await foglamp.wait_for(1)
    assert [s["spanId"] for s in foglamp.spans()] == ["good"]  # "bad" was not redelivered
    labels = {"receiver": "nats", "transport": "nats", "reason": "refused"}
    assert backend.telemetry.registry.get_sample_value("gateway_receiver_refused_records_total", labels) == 1


async def test_batches_larger_than_a_message_are_split_and_an_oversized_record_is_dropped(
    server: NatsServer, start_gateway: StartGateway
) -> None:
    edge = await start_gateway(edge_config(server.url, max_message_bytes="1KiB"))
    ids = [f"s{i}" for i in range(40)]
    assert await post(http_port(edge), ingest_body(ids)) == 202
    nc = await nats.connect(server.url)
    info = await nc.jsm().stream_info("LLM_TELEMETRY")
    await nc.close()
    msgs = await read_stream(server.url, info.state.messages)
    assert len(msgs) > 1
    assert all(len(m.data) <= 1024 for m in msgs)
    assert sorted(r.span_id for m in msgs for r in decode(m.headers[HEADER], m.data).records) == sorted(ids)
    huge = orjson.loads(ingest_body(["big"]))
    huge["traces"][0]["spans"][0]["output"] = "x" * 2048
    assert await post(http_port(edge), orjson.dumps(huge)) == 202  # accepted, and counted as dropped
    labels = {"exporter": "nats", "reason": "too_large"}
    assert edge.telemetry.registry.get_sample_value("gateway_exporter_dropped_records_total", labels) == 1


async def test_mutual_tls(tmp_path: pathlib.Path, start_gateway: StartGateway) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("gateway@example.net")
    files = {
        "ca": ca.cert_pem,
        "server.crt": server_cert.cert_chain_pems[0],
        "server.key": server_cert.private_key_pem,
        "client.crt": client_cert.cert_chain_pems[0],
        "client.key": client_cert.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / name))
    srv = NatsServer(tmp_path)
    srv.extra = ["--tlsverify", "--tlscert", str(tmp_path / "server.crt"), "--tlskey", str(tmp_path / "server.key")]
    srv.extra += ["--tlscacert", str(tmp_path / "ca")]
    await srv.start()
    fast = {"timeout": "1s", "retry_on_failure": {"initial_interval": "50ms", "max_elapsed_time": "200ms"}}
    try:
        tls = {"ca_file": str(tmp_path / "ca"), "cert_file": str(tmp_path / "client.crt")}
        tls["key_file"] = str(tmp_path / "client.key")
        trusted = await start_gateway(edge_config(f"tls://127.0.0.1:{srv.port}", tls=tls, **fast))
        assert await post(http_port(trusted), ingest_body(["s1"])) == 202
        without_client_cert = await start_gateway(
            edge_config(srv.url, tls={"enabled": True, "ca_file": str(tmp_path / "ca")}, **fast)
        )
        assert await post(http_port(without_client_cert), ingest_body(["s2"])) == 503
    finally:
        srv.stop()
