"""OIDC / JWT bearer tokens: signatures checked against the issuer's JWKS.

The keys come from ``jwks_file`` (re-read when it changes) or from the issuer over HTTP:
``jwks_url`` when given, else the ``jwks_uri`` of ``<issuer_url>/.well-known/openid-configuration``.
Fetched keys are kept for ``refresh_interval``; a token naming an unknown key id triggers one
early refresh (at most every :data:`MIN_REFETCH` seconds, so a flood of made-up key ids cannot
turn into a flood of fetches). A failed fetch keeps the keys already known.

A token is accepted when its signature verifies with an asymmetric algorithm from
``algorithms`` (never ``none``, never an HMAC: the JWKS is public), ``iss`` is ``issuer_url``,
``aud`` contains ``audience``, ``exp`` is in the future (``leeway`` allowed) and the
``tenant_claim`` claim is a non-empty string (in ``allowed_tenants`` when that is set).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import time

import aiohttp
import jwt
import orjson

from gateway.errors import Unauthenticated
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_TENANT_CLAIM = "tenant"
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
DEFAULT_LEEWAY = 10.0  # seconds of clock skew tolerated on exp / nbf / iat
DEFAULT_REFRESH_INTERVAL = 300.0  # seconds a fetched JWKS is trusted before it is fetched again
MIN_REFETCH = 30.0  # seconds between fetches caused by unknown key ids
FETCH_TIMEOUT = 5.0  # seconds for one discovery or JWKS request
MAX_DOCUMENT = 1024 * 1024  # bytes: a discovery document or JWKS larger than this is refused
INVALID_TOKEN = "invalid bearer token"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OidcConfig:
    issuer_url: str  # the token's iss must equal it; discovery is at <issuer_url>/.well-known/openid-configuration
    audience: str  # the token's aud must contain it
    jwks_file: str = ""  # local JWKS (re-read when it changes) instead of fetching from the issuer
    jwks_url: str = ""  # JWKS location when it is not the discovery document's jwks_uri
    ca_file: str = ""  # PEM CA bundle for the issuer's HTTPS; empty: the system's
    tenant_claim: str = DEFAULT_TENANT_CLAIM  # claim whose string value is the tenant
    allowed_tenants: list[str] = dataclasses.field(default_factory=list)  # empty: any tenant the issuer names
    algorithms: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_ALGORITHMS))  # accepted signatures
    leeway: Duration = Duration(DEFAULT_LEEWAY)  # clock skew allowed on exp and nbf
    refresh_interval: Duration = Duration(DEFAULT_REFRESH_INTERVAL)  # how long fetched keys are used

    def validate(self) -> list[str]:
        problems = []
        if not self.issuer_url:
            problems.append("issuer_url: must not be empty")
        if not self.audience:
            problems.append("audience: must not be empty")
        symmetric = [a for a in self.algorithms if a not in DEFAULT_ALGORITHMS]
        if symmetric or not self.algorithms:
            problems.append(f"algorithms: must be a non-empty subset of {', '.join(DEFAULT_ALGORITHMS)}")
        for name in ("jwks_url", "issuer_url"):
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                problems.append(f"{name}: must be an http:// or https:// URL")
        if self.jwks_file:
            try:
                _parse_jwks(_read_file(self.jwks_file))
            except (OSError, ValueError) as exc:
                problems.append(f"jwks_file: {exc}")
        return problems


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(MAX_DOCUMENT + 1)


def _parse_jwks(raw: bytes) -> dict[str, jwt.PyJWK]:
    if len(raw) > MAX_DOCUMENT:
        raise ValueError(f"JWKS larger than {MAX_DOCUMENT} bytes")
    try:
        keyset = jwt.PyJWKSet.from_json(raw.decode("utf-8"))
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a usable JWKS: {exc}") from None
    return {k.key_id or "": k for k in keyset.keys}


class OidcVerifier:
    """Checks one token at a time; keys are shared by every request (one event loop)."""

    def __init__(self, cfg: OidcConfig, name: str) -> None:
        self._cfg = cfg
        self._name = name
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = -float("inf")
        self._last_fetch = -float("inf")
        self._file_mtime: int | None = None
        self._lock = asyncio.Lock()

    async def tenant(self, token: str) -> str:
        """The tenant a valid token names; raises Unauthenticated."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated(INVALID_TOKEN) from None
        kid = str(header.get("kid", ""))
        key = await self._key(kid)
        if key is None:
            raise Unauthenticated(INVALID_TOKEN)
        cfg = self._cfg
        alg = str(header.get("alg", ""))
        # The token's algorithm must be allowed and, when the JWK names one, be that one: a key
        # of one family never checks a signature of another (PyJWT would raise, not refuse).
        if alg not in cfg.algorithms or (key.algorithm_name and key.algorithm_name != alg):
            raise Unauthenticated(INVALID_TOKEN)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer_url,
                leeway=float(cfg.leeway),
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            log.debug("oidc %s: token refused: %s", self._name, exc)
            raise Unauthenticated(INVALID_TOKEN) from None
        tenant = claims.get(cfg.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthenticated(f"{INVALID_TOKEN}: no {cfg.tenant_claim} claim")
        if cfg.allowed_tenants and tenant not in cfg.allowed_tenants:
            raise Unauthenticated(INVALID_TOKEN)
        return tenant

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        if self._cfg.jwks_file:
            self._reload_file()
            return self._pick(kid)
        now = time.monotonic()
        stale = now - self._loaded_at > float(self._cfg.refresh_interval)
        unknown = self._pick(kid) is None and now - self._last_fetch > MIN_REFETCH
        if stale or unknown:
            async with self._lock:
                if self._last_fetch < now:  # nobody fetched while this request waited
                    await self._fetch()
        return self._pick(kid)

    def _pick(self, kid: str) -> jwt.PyJWK | None:
        if kid:
            return self._keys.get(kid)
        # A token without kid is accepted only when the JWKS leaves no choice.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _reload_file(self) -> None:
        path = self._cfg.jwks_file
        try:
            mtime = os.stat(path).st_mtime_ns
            if mtime != self._file_mtime:
                self._keys = _parse_jwks(_read_file(path))
                self._file_mtime = mtime
                log.info("oidc %s: loaded %d keys from %s", self._name, len(self._keys), path)
        except (OSError, ValueError) as exc:
            log.warning("oidc %s: cannot reload %s, keeping previous keys: %s", self._name, path, exc)

    async def _fetch(self) -> None:
        self._last_fetch = time.monotonic()
        cfg = self._cfg
        ssl_ctx: ssl.SSLContext | bool = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else True
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                url = cfg.jwks_url
                if not url:
                    discovery = cfg.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
                    doc = orjson.loads(await _get(session, discovery, ssl_ctx))
                    found = doc.get("jwks_uri") if isinstance(doc, dict) else None
                    if not isinstance(found, str) or not found:
                        raise ValueError(f"{discovery} names no jwks_uri")
                    url = found
                self._keys = _parse_jwks(await _get(session, url, ssl_ctx))
            self._loaded_at = time.monotonic()
            log.info("oidc %s: fetched %d keys from the issuer", self._name, len(self._keys))
        except (aiohttp.ClientError, TimeoutError, ValueError, orjson.JSONDecodeError) as exc:
            known = len(self._keys)
            log.warning("oidc %s: cannot fetch the issuer's keys, keeping %d known: %s", self._name, known, exc)


async def _get(session: aiohttp.ClientSession, url: str, ssl_ctx: ssl.SSLContext | bool) -> bytes:
    async with session.get(url, ssl=ssl_ctx) as resp:
        if resp.status != 200:
            raise ValueError(f"GET {url}: HTTP {resp.status}")
        body = await resp.content.read(MAX_DOCUMENT + 1)
    if len(body) > MAX_DOCUMENT:
        raise ValueError(f"GET {url}: larger than {MAX_DOCUMENT} bytes")
    return body


def token_shape(token: str) -> bool:
    """A compact JWS: three base64url parts."""
    return token.count(".") == 2
