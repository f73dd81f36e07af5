"""``forward_tenant`` forwards the client's tenant, never the receiver's placeholder: a client
that sends no X-Scope-OrgID used to reach the backend as tenant ``fake`` instead of the
configured one."""

from __future__ import annotations

import pathlib

import aiohttp
import orjson
import pytest

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend


@pytest.mark.parametrize("storage", [False, True])
async def test_placeholder_tenant_is_not_forwarded(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path, storage: bool
) -> None:
    queue = {"storage": str(tmp_path / "q")} if storage else {}  # the flag survives the disk
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "auth": {"mode": "tenant", "tenant_id": "configured"},
                    "forward_tenant": True,
                    "sending_queue": queue,
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s:
        for gid, headers in (("none", {}), ("sent", {"X-Scope-OrgID": "team-b"})):
            body = orjson.dumps({"generations": [{"id": gid, "model": {"provider": "p", "name": "m"}}]})
            async with s.post(url, data=body, headers=headers) as resp:
                assert resp.status == 202
            await sigil_backend.wait_for(1 if gid == "none" else 2)
    tenants = [{k.lower(): v for k, v in r.headers.items()}["x-scope-orgid"] for r in sigil_backend.requests]
    assert tenants == ["configured", "team-b"]
