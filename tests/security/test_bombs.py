"""Compression bombs and truncated streams on every HTTP receiver, and over gRPC: 413 or 400 (or
``RESOURCE_EXHAUSTED``), never a 2xx or a 5xx, with the process's memory bounded (printed)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
import zstandard

from gateway.receivers._http import BadEncoding, BodyTooLarge, _Inflater
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import (
    FOGLAMP,
    GOOD,
    GRPC,
    HTTP,
    HTTP_ROUTES,
    HttpRoute,
    Spy,
    compress,
    config,
    rss_mb,
    spy_on,
)

# The bound is 300 MB for the gateway process. Here the gateway shares the test process,
# whose resident memory depends on what the suite ran before (a fresh gateway is ~100 MB), so the
# test bounds what the attack adds: a gateway that starts at 100 MB stays under 300 MB.
RSS_GROWTH_LIMIT_MB = 200
_POSTS = [r for r in HTTP_ROUTES if r.method == "POST" and r.name not in ("otlp-json", "otlp-non-genai")]


def _zstd_bomb() -> bytes:
    """~1 GiB of zeros in ~30 KB: eight frames of 128 MiB (several frames are one valid stream)."""
    frame = zstandard.ZstdCompressor(level=3).compress(bytes(128 * 1024 * 1024))
    return frame * 8


def _gzip_bomb() -> bytes:
    """256 MiB in ~250 KB: sixteen gzip members of 16 MiB each."""
    return gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9) * 16


def _deflate_bomb() -> bytes:
    return zlib.compress(bytes(256 * 1024 * 1024), 9)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"zstd": _zstd_bomb(), "gzip": _gzip_bomb(), "deflate": _deflate_bomb()}


@pytest.fixture
async def gateway(start_gateway: StartGateway, tmp_path: Path) -> AsyncIterator[tuple[Service, Spy]]:
    service = await start_gateway(config(tmp_path, form="receiver"))
    yield service, spy_on(service)


def _url(service: Service, route: HttpRoute) -> str:
    if route.foglamp:
        return f"http://127.0.0.2:{http_port(service, FOGLAMP)}{route.path}"
    return f"http://127.0.0.1:{http_port(service, HTTP)}{route.path}"


def _headers(route: HttpRoute, encoding: str) -> dict[str, str]:
    return {**route.headers, **GOOD, "x-api-key": "key-a", "Content-Encoding": encoding}


async def test_bombs_are_refused_with_bounded_memory(gateway: tuple[Service, Spy], bombs: dict[str, bytes]) -> None:
    service, spy = gateway
    start = peak = rss_mb()
    print(f"\nRSS before the bombs: {peak:.0f} MB")
    async with aiohttp.ClientSession() as session:
        for encoding, bomb in bombs.items():
            for route in _POSTS:
                async with session.post(_url(service, route), data=bomb, headers=_headers(route, encoding)) as resp:
                    await resp.read()
                    assert resp.status == 413, (encoding, route.name, resp.status)
                rss = rss_mb()
                peak = max(peak, rss)
            print(f"RSS after the {encoding} bomb ({len(bomb) // 1024} KiB) on {len(_POSTS)} routes: {rss:.0f} MB")
    print(f"peak RSS through the bombs: {peak:.0f} MB (+{peak - start:.0f} MB)")
    assert peak - start < RSS_GROWTH_LIMIT_MB
    assert spy.items == 0


async def test_truncated_streams_are_refused(gateway: tuple[Service, Spy]) -> None:
    service, spy = gateway
    async with aiohttp.ClientSession() as session:
        for encoding in ("gzip", "deflate", "zstd"):
            for route in _POSTS:
                whole = compress(encoding, route.body)
                for cut in (whole[: len(whole) // 2], whole[:-1], b""):
                    async with session.post(_url(service, route), data=cut, headers=_headers(route, encoding)) as resp:
                        await resp.read()
                        assert resp.status == 400, (encoding, route.name, len(cut), resp.status)
                # The whole stream is taken: the refusals were about the cut.
                async with session.post(_url(service, route), data=whole, headers=_headers(route, encoding)) as resp:
                    assert resp.status in (200, 202), (encoding, route.name, resp.status)
    # Three whole bodies per route: generations, OTLP and Foglamp deliver one item each time;
    # steps and scores bodies hold none; a resent rating and LumiqTrace event go on once.
    assert spy.items == 3 + 3 + 3 + 1 + 1


async def test_grpc_gzip_bomb_is_refused(gateway: tuple[Service, Spy]) -> None:
    service, spy = gateway
    before = rss_mb()
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{grpc_port(service, GRPC)}", compression=grpc.Compression.Gzip
    ) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(bytes(64 * 1024 * 1024), metadata=(("authorization", "Bearer key-a"),), timeout=20)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    print(f"\nRSS around the gRPC gzip bomb (64 MiB inflated): {before:.0f} → {rss_mb():.0f} MB")
    assert rss_mb() - before < RSS_GROWTH_LIMIT_MB
    assert spy.items == 0


# -- the inflater itself ------------------------------------------------------------------------


def _inflate(encoding: str, data: bytes, limit: int, step: int = 65536) -> bytes:
    inflater = _Inflater(encoding, limit)
    for i in range(0, len(data), step):
        inflater.feed(data[i : i + step])
    return inflater.finish()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_inflater_round_trip_in_small_pieces(encoding: str) -> None:
    data = b"".join(b"line %d\n" % i for i in range(50_000))
    assert _inflate(encoding, compress(encoding, data), len(data), step=7) == data
    with pytest.raises(BodyTooLarge):
        _inflate(encoding, compress(encoding, data), len(data) - 1)


def test_zstd_stops_at_the_limit_without_inflating_the_rest() -> None:
    # One frame of 256 MiB of zeros fed whole: the output never gets far past the limit.
    frame = zstandard.ZstdCompressor().compress(bytes(256 * 1024 * 1024))
    inflater = _Inflater("zstd", 1024 * 1024)
    with pytest.raises(BodyTooLarge):
        inflater.feed(frame)
    assert inflater.size < 4 * 1024 * 1024


def test_concatenated_streams_and_garbage() -> None:
    assert _inflate("gzip", gzip.compress(b"ab") + gzip.compress(b"cd"), 100) == b"abcd"
    two = zstandard.ZstdCompressor().compress(b"ab") + zstandard.ZstdCompressor().compress(b"cd")
    assert _inflate("zstd", two, 100) == b"abcd"
    for encoding in ("gzip", "zstd"):
        with pytest.raises(BadEncoding):
            _inflate(encoding, compress(encoding, b"ab") + b"garbage", 100)
