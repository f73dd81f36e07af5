"""With --workers, every scrape shows the series of every worker, labelled by worker."""

from __future__ import annotations

import pathlib

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeSigilBackend
from tests.process import GatewayProcess, free_port

SCRAPES = 12


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_every_scrape_sums_every_worker(sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path) -> None:
    http_port, metrics_port = free_port(), free_port()
    proc = GatewayProcess(
        {
            "receivers": {"sigil": {"http": {"endpoint": f"127.0.0.1:{http_port}"}, "grpc": None}},
            "processors": {"auth": {"api_keys": [{"key": "k1", "tenant": "team-a"}]}},
            "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"}},
            "service": {
                "workers": 2,
                "pipelines": {"p": {"receivers": ["sigil"], "processors": ["auth"], "exporters": ["sigil"]}},
                "telemetry": {"metrics": {"endpoint": f"127.0.0.1:{metrics_port}"}},
            },
        },
        tmp_path,
    )
    await proc.start()
    await proc.wait_for_log("gateway started", 2)
    try:
        url = f"http://127.0.0.1:{http_port}/api/v1/generations:export"
        for i in range(7):  # fresh connections: the kernel spreads them over the workers
            body = orjson.dumps({"generations": [{"id": f"g{i}", "model": {"provider": "o", "name": "m"}}]})
            headers = {"Authorization": "Bearer k1"}
            async with aiohttp.ClientSession() as one, one.post(url, data=body, headers=headers) as r:
                assert r.status == 202
        await sigil_backend.wait_for(7)
        texts = []
        for _ in range(SCRAPES):
            async with aiohttp.ClientSession() as one, one.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                texts.append(await r.text())
        for text in texts:
            accepted = _samples(text, "gateway_receiver_accepted_records_total")
            assert sum(accepted.values()) == 7
            assert {dict(k)["worker"] for k in accepted} <= {"0", "1"}
            tenants = _samples(text, "gateway_pipeline_records_total")
            assert sum(v for k, v in tenants.items() if dict(k)["tenant"] == "team-a") == 7
            rss = _samples(text, "gateway_process_memory_rss_bytes")
            assert {dict(k)["worker"] for k in rss} == {"0", "1"} and all(v > 0 for v in rss.values())
            assert "_created" not in text
            assert _samples(text, "gateway_build_info")
        assert await proc.terminate() == 0
    finally:
        proc.stop()
