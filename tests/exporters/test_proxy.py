"""HTTP exporters go through a proxy: ``tls.proxy_url``, or HTTP(S)_PROXY / NO_PROXY."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.config import load
from gateway.errors import ConfigError
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend


class ForwardProxy:
    """A plain-HTTP forward proxy that records the URLs it forwarded."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _forward(self, request: web.Request) -> web.Response:
        self.seen.append(str(request.url))
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as s,
            s.request(request.method, request.url, data=body, headers=headers) as r,
        ):
            return web.Response(status=r.status, body=await r.read(), content_type=r.content_type)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    p = ForwardProxy()
    await p.start()
    yield p
    await p.stop()


def _config(backend_port: int, proxy_url: str = "") -> dict[str, object]:
    tls = {"proxy_url": proxy_url} if proxy_url else {}
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}}},
        "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{backend_port}", "protocol": "http", "tls": tls}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
    }


async def _send(port: int) -> None:
    body = orjson.dumps({"generations": [{"id": "g1", "model": {"provider": "openai", "name": "gpt-4o"}}]})
    url = f"http://127.0.0.1:{port}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as r:
        assert r.status == 202


async def test_proxy_url(start_gateway: StartGateway, sigil_backend: FakeSigilBackend, proxy: ForwardProxy) -> None:
    service = await start_gateway(_config(sigil_backend.http_port, f"http://127.0.0.1:{proxy.port}"))
    await _send(http_port(service))
    await sigil_backend.wait_for(1)
    assert proxy.seen == [f"http://127.0.0.1:{sigil_backend.http_port}/api/v1/generations:export"]


@pytest.mark.parametrize("bypass", [False, True])
async def test_proxy_environment(
    start_gateway: StartGateway,
    sigil_backend: FakeSigilBackend,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    bypass: bool,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    if bypass:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    service = await start_gateway(_config(sigil_backend.http_port))
    await _send(http_port(service))
    await sigil_backend.wait_for(1)
    assert len(proxy.seen) == (0 if bypass else 1)


def test_proxy_url_is_checked() -> None:
    with pytest.raises(ConfigError) as info:
        load(_config(1, "socks5://proxy:1080"), environ={})
    assert info.value.problems == ["exporters::sigil::tls::proxy_url: expected http://host:port or https://host:port"]
