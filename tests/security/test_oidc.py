"""OIDC bearer tokens: checked against the issuer's JWKS, discovered from the issuer (served here
on loopback) or read from a file; forged, expired, foreign and algorithm-swapped tokens refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import GENERATION, GRPC, HTTP, Spy, config, otlp_body, spy_on

AUDIENCE = "llm-gateway"


class Issuer:
    """An OIDC issuer on loopback: discovery document and JWKS, counting fetches."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.fetches = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, key: Any = None, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "exp": now + 300, "iat": now, "tenant": "team-oidc", **claims}
        return jwt.encode(body, key if key is not None else self.key, algorithm=alg, headers={"kid": kid or self.kid})

    async def start(self) -> None:
        async def discovery(request: web.Request) -> web.Response:
            return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})

        async def keys(request: web.Request) -> web.Response:
            self.fetches += 1
            return web.json_response(self.jwks())

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/keys", keys)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    iss = Issuer()
    await iss.start()
    yield iss
    await iss.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_with_public_key(issuer: Issuer, claims: dict[str, Any]) -> str:
    """The classic algorithm swap: HS256 keyed with the issuer's public key (which is public)."""
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


async def _gateway(start_gateway: StartGateway, tmp_path: Path, oidc: dict[str, Any]) -> tuple[Service, Spy]:
    service = await start_gateway(config(tmp_path, form="receiver", auth={"api_keys": [], "oidc": oidc}))
    return service, spy_on(service)


async def _post(service: Service, token: str) -> int:
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, json={"generations": [GENERATION]}, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status


async def test_tokens_checked_against_the_discovered_jwks(
    start_gateway: StartGateway, tmp_path: Path, issuer: Issuer
) -> None:
    service, spy = await _gateway(start_gateway, tmp_path, {"issuer_url": issuer.url, "audience": AUDIENCE})
    assert await _post(service, issuer.token()) == 202
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    refused = {
        "forged signature": issuer.token(key=forged_key),
        "expired": issuer.token(exp=now - 3600),
        "other audience": issuer.token(aud="someone-else"),
        "other issuer": issuer.token(iss="https://evil.example"),
        "no tenant": issuer.token(tenant=""),
        "unknown kid": issuer.token(kid="k-unknown"),
        "alg none": jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": now + 60, "tenant": "x"}, "", "none"),
        "alg swap": _hmac_with_public_key(issuer, {"iss": issuer.url, "aud": AUDIENCE, "exp": now + 60, "tenant": "x"}),
        "other curve key": issuer.token(key=ec.generate_private_key(ec.SECP256R1()), alg="ES256"),
        "garbage": "a.b.c",
    }
    for name, token in refused.items():
        assert await _post(service, token) == 401, name
    assert spy.tenants() == {"team-oidc"} and spy.items == 1
    # Unknown key ids cause one early refresh at most, not one fetch per request.
    assert issuer.fetches <= 2
    # Over gRPC too.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service, GRPC)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        await call(otlp_body(), metadata=(("authorization", f"Bearer {issuer.token()}"),), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(otlp_body(), metadata=(("authorization", f"Bearer {refused['expired']}"),), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_key_rotation_is_picked_up(
    start_gateway: StartGateway, tmp_path: Path, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unknown kid refetches the JWKS (at most every MIN_REFETCH seconds; here at once).
    monkeypatch.setattr("gateway._oidc.MIN_REFETCH", 0.0)
    service, _ = await _gateway(
        start_gateway, tmp_path, {"issuer_url": issuer.url, "audience": AUDIENCE, "jwks_url": f"{issuer.url}/keys"}
    )
    assert await _post(service, issuer.token()) == 202
    old = issuer.token()
    issuer.key, issuer.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "k2"
    assert await _post(service, issuer.token()) == 202
    assert await _post(service, old) == 401  # its key is no longer published
    assert issuer.fetches == 3  # the first token, the new kid, the old kid once more


async def test_jwks_file(start_gateway: StartGateway, tmp_path: Path, issuer: Issuer) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks()))
    service, spy = await _gateway(
        start_gateway, tmp_path, {"issuer_url": issuer.url, "audience": AUDIENCE, "jwks_file": str(jwks)}
    )
    assert await _post(service, issuer.token()) == 202
    assert issuer.fetches == 0  # nothing fetched
    # Rotated in the file: new tokens pass, old ones no longer.
    old = issuer.token()
    issuer.key, issuer.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "k2"
    jwks.write_text(json.dumps(issuer.jwks()))
    os.utime(jwks, ns=(10**9, 10**9))
    assert await _post(service, issuer.token()) == 202
    assert await _post(service, old) == 401
    assert spy.items == 2
