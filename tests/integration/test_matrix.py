"""Every ordered pair of {Sigil, Foglamp, LumiqTrace} through a running gateway: raw requests into
the receiver of A, a fake backend of B recording what arrives.

What arrives must be exactly what the pure translation gives (``tests/formats/test_matrix.py``
pins that field by field against ``docs/mapping.md``), so these tests show the live path (HTTP
receiver, pipeline, exporter queue, wire client) adds and loses nothing of its own. Records the
target cannot hold are dropped and counted, never an error for the client: each test also checks
the client's 2xx and the exporter's drop counter.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp
import orjson
import pytest
from google.protobuf.message import Message

from gateway.formats import sigil as sf
from gateway.formats.sigil.targets import DEFAULT_SCHEMA, SCHEMAS
from gateway.model import Kind, Record
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend
from tests.fakes_http import FakeFoglamp, FakeLumiqTrace
from tests.formats.test_matrix import (
    FOGLAMP_BODY,
    LUMIQ_BODY,
    SIGIL_GENERATION,
    SIGIL_STEP,
    foglamp_records,
    lumiq_records,
    sigil_records,
    to_foglamp,
    to_lumiq,
)

FOGLAMP_KEY = "fl_test"
LUMIQ_KEY = "lqt_test"
RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "30s"}

# -- sources: receiver config, and the requests a client of that format sends --------------------


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> None:
    async with session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()


SOURCES: dict[str, dict[str, Any]] = {
    "sigil": {
        "receiver": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None},
        "requests": [
            (
                "/api/v1/generations:export",
                orjson.dumps({"generations": [SIGIL_GENERATION]}),
                {"Content-Type": "application/json"},
            ),
            (
                "/api/v1/workflow-steps:export",
                orjson.dumps({"workflow_steps": [SIGIL_STEP]}),
                {"Content-Type": "application/json"},
            ),
        ],
        "records": sigil_records,
    },
    "foglamp": {
        "receiver": {"endpoint": "127.0.0.1:0"},
        "requests": [
            (
                "/ingest",
                orjson.dumps(FOGLAMP_BODY),
                {"Authorization": f"Bearer {FOGLAMP_KEY}", "Content-Type": "application/json"},
            )
        ],
        "records": foglamp_records,
    },
    "lumiqtrace": {
        "receiver": {"endpoint": "127.0.0.1:0"},
        "requests": [
            (
                "/v1/ingest",
                gzip.compress(LUMIQ_BODY),
                {"x-api-key": LUMIQ_KEY, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
            )
        ],
        "records": lumiq_records,
    },
}


# -- targets ----------------------------------------------------------------------------------------


class Target(Protocol):
    """A fake backend of one format, the exporter config pointing at it, and what it received."""

    name: str
    dropped_reason: str  # the exporter's drop reason for records the format cannot hold

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def exporter(self) -> dict[str, Any]: ...
    async def wait_for(self, n: int) -> None: ...
    def received(self) -> Any: ...
    def expected(self, records: list[Record]) -> tuple[Any, int]: ...


class SigilTarget:
    name = "sigil"
    dropped_reason = "unsupported_kind"

    def __init__(self) -> None:
        self.fake = FakeSigilBackend()

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def exporter(self) -> dict[str, Any]:
        return {
            "endpoint": f"http://127.0.0.1:{self.fake.grpc_port}",
            "protocol": "grpc",
            # Scores (LumiqTrace eval_scores) go over HTTP: to the fake's HTTP port, not its gRPC one.
            "api_endpoint": f"http://127.0.0.1:{self.fake.http_port}",
            "retry_on_failure": RETRY,
        }

    async def wait_for(self, n: int) -> None:
        await self.fake.wait_for(n)

    def received(self) -> Any:
        return list(self.fake.generations()), list(self.fake.workflow_steps())

    def expected(self, records: list[Record]) -> tuple[Any, int]:
        generations = [r for r in records if r.kind is Kind.LLM]
        steps = [r for r in records if r.kind is Kind.WORKFLOW_STEP]
        wire = (
            # The exporter's default schema target (sigil-2026-03) leaves out what that server lacks.
            list(sf.generations_request(generations, SCHEMAS[DEFAULT_SCHEMA]).generations),
            list(sf.workflow_steps_request(steps).workflow_steps),
        )
        return wire, len(generations) + len(steps)


class FoglampTarget:
    name = "foglamp"
    dropped_reason = "non_llm_kind"  # never used: Foglamp has a span type for every kind

    def __init__(self, fake: FakeFoglamp | None = None) -> None:
        self.fake = fake or FakeFoglamp({FOGLAMP_KEY})

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def exporter(self) -> dict[str, Any]:
        return {"endpoint": self.fake.url, "api_key": FOGLAMP_KEY, "retry_on_failure": RETRY}

    async def wait_for(self, n: int) -> None:
        await self.fake.wait_for(n)

    def received(self) -> Any:
        return self.fake.spans()

    def expected(self, records: list[Record]) -> tuple[Any, int]:
        bodies, _ = to_foglamp(records)
        spans = [
            {**span, "trace": {k: v for k, v in trace.items() if k != "spans"}}
            for body in bodies
            for trace in body["traces"]
            for span in trace["spans"]
        ]
        return spans, len(spans)


class LumiqTarget:
    name = "lumiqtrace"
    dropped_reason = "non_llm_kind"

    def __init__(self, fake: FakeLumiqTrace | None = None) -> None:
        self.fake = fake or FakeLumiqTrace({LUMIQ_KEY})

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def exporter(self) -> dict[str, Any]:
        return {"endpoint": self.fake.url, "api_key": LUMIQ_KEY, "retry_on_failure": RETRY}

    async def wait_for(self, n: int) -> None:
        await self.fake.wait_for(n)

    def received(self) -> Any:
        return self.fake.events()

    def expected(self, records: list[Record]) -> tuple[Any, int]:
        events, _ = to_lumiq(records)
        return events, len(events)


TARGETS: dict[str, Callable[[], Target]] = {"sigil": SigilTarget, "foglamp": FoglampTarget, "lumiqtrace": LumiqTarget}
PAIRS = [(a, b) for a in SOURCES for b in TARGETS]


@pytest.fixture
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    made = TARGETS[request.param]()
    await made.start()
    yield made
    await made.stop()


def _unordered(value: Any) -> Any:
    """Lists (of lists) of wire items in one order: by their JSON."""
    if isinstance(value, tuple):
        return tuple(_unordered(part) for part in value)
    return sorted(value, key=_sort_key)


def _sort_key(item: Any) -> bytes:
    if isinstance(item, Message):
        return item.SerializeToString(deterministic=True)
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


def dropped(service: Service, exporter: str, reason: str) -> float:
    labels = {"exporter": exporter, "reason": reason}
    return service.telemetry.registry.get_sample_value("gateway_exporter_dropped_records_total", labels) or 0.0


@pytest.mark.parametrize(("source", "target"), PAIRS, indirect=["target"], ids=[f"{a}-to-{b}" for a, b in PAIRS])
async def test_pair_through_a_running_gateway(target: Target, start_gateway: StartGateway, source: str) -> None:
    src = SOURCES[source]
    service = await start_gateway(
        {
            "receivers": {source: src["receiver"]},
            "exporters": {target.name: target.exporter()},
            "service": {"pipelines": {"p": {"receivers": [source], "exporters": [target.name]}}},
        }
    )
    base = f"http://127.0.0.1:{http_port(service)}"
    async with aiohttp.ClientSession() as session:
        for path, body, headers in src["requests"]:
            await _post(session, base + path, body, headers)

    records: list[Record] = src["records"]()
    expected, count = target.expected(records)
    await target.wait_for(count)
    # Requests are exported concurrently, so what arrives is compared without its order.
    assert _unordered(target.received()) == _unordered(expected)
    assert count > 0
    if target.name != "foglamp":  # Foglamp takes every kind; the others drop and count the rest
        assert dropped(service, target.name, target.dropped_reason) == len(records) - count
    assert sum(dropped(service, target.name, r) for r in ("unsupported_kind", "non_llm_kind")) == len(records) - count


async def test_identity_round_trips_keep_every_field(start_gateway: StartGateway) -> None:
    """Foglamp -> Foglamp and LumiqTrace -> LumiqTrace through one gateway: what arrives is
    what was sent (Foglamp: the same body; LumiqTrace: the same events, unknown keys included)."""
    foglamp, lumiq = FakeFoglamp({FOGLAMP_KEY}), FakeLumiqTrace({LUMIQ_KEY})
    await foglamp.start()
    await lumiq.start()
    try:
        service = await start_gateway(
            {
                "receivers": {
                    "foglamp": SOURCES["foglamp"]["receiver"],
                    "lumiqtrace": SOURCES["lumiqtrace"]["receiver"],
                },
                "exporters": {
                    "foglamp": FoglampTarget(foglamp).exporter(),
                    "lumiqtrace": LumiqTarget(lumiq).exporter(),
                },
                "service": {
                    "pipelines": {
                        "f": {"receivers": ["foglamp"], "exporters": ["foglamp"]},
                        "l": {"receivers": ["lumiqtrace"], "exporters": ["lumiqtrace"]},
                    }
                },
            }
        )
        base = f"http://127.0.0.1:{http_port(service)}"
        async with aiohttp.ClientSession() as session:
            for source in ("foglamp", "lumiqtrace"):
                for path, body, headers in SOURCES[source]["requests"]:
                    await _post(session, base + path, body, headers)
        await foglamp.wait_for(6)
        await lumiq.wait_for(8)
        assert foglamp.bodies == [FOGLAMP_BODY]
        assert lumiq.events() == [orjson.loads(line) for line in LUMIQ_BODY.splitlines()]
    finally:
        await foglamp.stop()
        await lumiq.stop()
