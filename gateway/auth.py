"""Authentication at the receiver: authenticators, and the gate every receiver checks a request
against before it reads (let alone decodes) the body.

An authenticator is an ``auth`` entry under ``processors:`` (its id, ``auth`` or
``auth/<name>``, is what receivers refer to). It accepts, in this order:

1. ``mtls``: a verified client certificate whose common name or subject alternative name is
   listed, mapped to its tenant (needs ``tls.client_ca_file`` on the listener);
2. an API key: the Bearer token, else ``x-api-key``, else the Basic password, looked up in
   ``api_keys`` and ``keys_file`` (re-read when it changes) in constant time;
3. ``basic``: a Basic ``username:password`` pair listed in ``basic.users``;
4. ``oidc``: a Bearer JWT signed by a key of the issuer's JWKS, naming the tenant in a claim;
5. with ``allow_tenant_header``, no credentials but an ``X-Scope-OrgID`` in ``allowed_tenants``.

Anything else is refused: 401 (``UNAUTHENTICATED``) with ``missing API key`` when nothing was
presented, ``invalid or revoked API key`` (or ``invalid bearer token``) otherwise.

A receiver is guarded by the authenticator its config names (``auth: {authenticator: auth/x}``)
and by every ``auth`` processor of every pipeline it feeds: a request must satisfy all of them,
so a receiver shared by an authenticated and an open pipeline accepts nothing unauthenticated.
The checks run at the door (HTTP headers; gRPC metadata, before the message is read); the
processor in the pipeline then only reads the result from the batch's context.

.. code-block:: yaml

    processors:
      auth/tenants:
        keys_file: /etc/gateway/keys.yaml
        oidc: {issuer_url: https://idp.example, audience: llm-gateway}
    receivers:
      otlp:
        auth: {authenticator: auth/tenants}
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import yaml
from aiohttp import web

from gateway._oidc import OidcConfig, OidcVerifier, token_shape
from gateway.component import ComponentId
from gateway.errors import Unauthenticated
from gateway.listeners import GrpcHandler
from gateway.model import Context
from gateway.telemetry import RateLimitedLog, Telemetry
from gateway.tls import PeerIdentity, grpc_peer_identity, http_peer_identity
from gateway.units import Duration

if TYPE_CHECKING:
    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

DEFAULT_RELOAD_INTERVAL = 5.0
MISSING = "missing API key"
INVALID = "invalid or revoked API key"
AUTHENTICATOR_TYPE = "auth"


# -- configuration -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key: str  # the secret as clients present it
    tenant: str  # tenant set on batches that present this key


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BasicUser:
    username: str  # as sent in Authorization: Basic
    password: str  # the password (use ${env:…}); compared in constant time
    tenant: str  # tenant of requests with this pair


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BasicConfig:
    users: list[BasicUser] = dataclasses.field(default_factory=list)  # accepted username:password pairs


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MtlsIdentity:
    name: str  # a client certificate's subject common name or one of its subject alternative names
    tenant: str  # tenant of requests over a connection with that certificate


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MtlsConfig:
    identities: list[MtlsIdentity] = dataclasses.field(default_factory=list)  # certificate name → tenant


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    api_keys: list[ApiKey] = dataclasses.field(default_factory=list)  # inline keys
    keys_file: str = ""  # YAML list of {key, tenant}, re-read when it changes
    reload_interval: Duration = Duration(DEFAULT_RELOAD_INTERVAL)  # how often keys_file is checked
    basic: BasicConfig | None = None  # HTTP Basic username:password pairs
    oidc: OidcConfig | None = None  # Bearer JWTs from an OIDC issuer
    mtls: MtlsConfig | None = None  # client certificate identities (tls.client_ca_file on the listener)
    allow_tenant_header: bool = False  # accept X-Scope-OrgID alone for allowed_tenants
    allowed_tenants: list[str] = dataclasses.field(default_factory=list)  # for allow_tenant_header
    receiver_tenants: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # receiver id → tenants

    def validate(self) -> list[str]:
        problems = []
        methods = (self.api_keys, self.keys_file, self.allow_tenant_header, self.basic, self.oidc, self.mtls)
        if not any(methods):
            problems.append("one of api_keys, keys_file, basic, oidc, mtls or allow_tenant_header is required")
        for i, k in enumerate(self.api_keys):
            if not k.key:
                problems.append(f"api_keys::{i}::key: must not be empty (is the environment variable set?)")
            if not k.tenant:
                problems.append(f"api_keys::{i}::tenant: must not be empty")
        if self.basic is not None:
            for i, u in enumerate(self.basic.users):
                if not (u.username and u.password and u.tenant):
                    problems.append(f"basic::users::{i}: username, password and tenant must not be empty")
        if self.mtls is not None:
            for i, m in enumerate(self.mtls.identities):
                if not (m.name and m.tenant):
                    problems.append(f"mtls::identities::{i}: name and tenant must not be empty")
        if self.allow_tenant_header and not self.allowed_tenants:
            problems.append("allowed_tenants: must list tenants when allow_tenant_header is true")
        if self.keys_file:
            try:
                load_keys_file(self.keys_file)
            except (OSError, ValueError) as exc:
                problems.append(f"keys_file: {exc}")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverAuthConfig:
    authenticator: str  # id of an `auth` entry under processors (auth or auth/<name>)


def load_keys_file(path: str) -> list[ApiKey]:
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML: {exc}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of {{key, tenant}}")
    keys = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("tenant"), str)):
            raise ValueError(f"{path}: entry {i}: expected {{key: string, tenant: string}}")
        keys.append(ApiKey(key=item["key"], tenant=item["tenant"]))
    return keys


# -- credentials -------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, kw_only=True)
class Credentials:
    """What a client presented (never logged)."""

    receiver: str = ""
    bearer_token: str = ""
    api_key: str = ""
    basic_user: str = ""
    basic_password: str = ""
    tenant_header: str = ""
    peer: PeerIdentity | None = None  # verified client certificate

    def presented(self) -> bool:
        return bool(self.bearer_token or self.api_key or self.basic_password or self.basic_user or self.peer)


def parse_authorization(value: str, creds: Credentials | Context) -> None:
    """Fills the bearer token or Basic pair from an ``Authorization`` value."""
    # Any run of whitespace separates scheme and credentials (as the ingest APIs match `Bearer\s+<key>`).
    scheme, rest = [*value.split(None, 1), "", ""][:2]
    rest = rest.strip()
    if scheme.lower() == "bearer" and rest:
        creds.bearer_token = rest
    elif scheme.lower() == "basic" and rest:
        try:
            user, _, password = base64.b64decode(rest, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return
        creds.basic_user, creds.basic_password = user, password


def http_credentials(request: web.Request, receiver: str) -> Credentials:
    h = request.headers
    creds = Credentials(receiver=receiver, api_key=h.get("x-api-key", ""), tenant_header=h.get("X-Scope-OrgID", ""))
    parse_authorization(h.get("Authorization", ""), creds)
    transport = request.transport
    if transport is not None:
        creds.peer = http_peer_identity(transport.get_extra_info("peercert"))
    return creds


def grpc_credentials(context: grpc.aio.ServicerContext[Any, Any], receiver: str) -> Credentials:
    first: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            first.setdefault(key.lower(), value)
    creds = Credentials(
        receiver=receiver, api_key=first.get("x-api-key", ""), tenant_header=first.get("x-scope-orgid", "")
    )
    parse_authorization(first.get("authorization", ""), creds)
    creds.peer = grpc_peer_identity(context.auth_context())
    return creds


def context_credentials(ctx: Context) -> Credentials:
    return Credentials(
        receiver=ctx.receiver,
        bearer_token=ctx.bearer_token,
        api_key=ctx.api_key,
        basic_user=ctx.basic_user,
        basic_password=ctx.basic_password,
        tenant_header=ctx.tenant,
    )


# -- authenticators ----------------------------------------------------------------------------


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class KeyTable:
    """Digest → tenant, searched in constant time with respect to the presented secret."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._entries = [(_digest(k.key), k.tenant) for k in keys]

    def lookup(self, presented: str) -> str | None:
        digest = _digest(presented)
        found: str | None = None
        for candidate, tenant in self._entries:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = tenant
        return found


class Authenticator:
    """One ``auth`` config, ready to check credentials (shared by receivers and processors)."""

    def __init__(self, name: str, cfg: AuthConfig) -> None:
        self.name = name
        self._cfg = cfg
        self._file_mtime: int | None = None
        self._next_check = 0.0
        self._table = KeyTable(cfg.api_keys)
        # Basic pairs as one secret each: "user\0password" cannot collide with another pair.
        users = cfg.basic.users if cfg.basic is not None else []
        self._basic = KeyTable([ApiKey(key=f"{u.username}\0{u.password}", tenant=u.tenant) for u in users])
        self._mtls = {m.name: m.tenant for m in cfg.mtls.identities} if cfg.mtls is not None else {}
        self._oidc = OidcVerifier(cfg.oidc, name) if cfg.oidc is not None else None
        self._maybe_reload(force=True)

    def _maybe_reload(self, force: bool = False) -> None:
        if not self._cfg.keys_file:
            return
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        self._next_check = now + float(self._cfg.reload_interval)
        try:
            mtime = os.stat(self._cfg.keys_file).st_mtime_ns
            if mtime != self._file_mtime:
                file_keys = load_keys_file(self._cfg.keys_file)
                self._file_mtime = mtime
                self._table = KeyTable([*self._cfg.api_keys, *file_keys])
                log.info("auth %s: loaded %d keys from %s", self.name, len(file_keys), self._cfg.keys_file)
        except (OSError, ValueError) as exc:
            # Keep the last good keys: a half-written file must not lock every client out.
            log.warning("auth %s: cannot reload %s, keeping previous keys: %s", self.name, self._cfg.keys_file, exc)

    async def authenticate(self, creds: Credentials) -> str:
        """Returns the tenant for these credentials or raises Unauthenticated."""
        tenant = await self._tenant(creds)
        allowed = self._cfg.receiver_tenants.get(creds.receiver)
        if allowed is not None and tenant not in allowed:
            raise Unauthenticated(INVALID)
        return tenant

    async def _tenant(self, creds: Credentials) -> str:
        if creds.peer is not None and self._mtls:
            for name in creds.peer.names():
                if name in self._mtls:
                    return self._mtls[name]
        self._maybe_reload()
        key = creds.bearer_token or creds.api_key or creds.basic_password
        if key and (tenant := self._table.lookup(key)) is not None:
            return tenant
        if creds.basic_user and (tenant := self._basic.lookup(f"{creds.basic_user}\0{creds.basic_password}")):
            return tenant
        if self._oidc is not None and token_shape(creds.bearer_token):
            return await self._oidc.tenant(creds.bearer_token)
        if key or creds.basic_user:
            raise Unauthenticated(INVALID)
        tenant = creds.tenant_header.strip()
        if self._cfg.allow_tenant_header and tenant and tenant in self._cfg.allowed_tenants:
            return tenant
        raise Unauthenticated(INVALID if creds.peer is not None and self._mtls else MISSING)


# -- the gate ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a request was authenticated as: the tenant, and each authenticator's verdict."""

    tenant: str
    by: dict[str, str]  # authenticator id → tenant

    def apply(self, ctx: Context) -> None:
        ctx.tenant = self.tenant
        ctx.auth.update(self.by)


GrpcUnaryFn = Callable[[bytes, grpc.aio.ServicerContext[Any, Any], "Principal | None"], Awaitable[bytes]]


class Gate:
    """The authenticators guarding one receiver (none: the receiver is open)."""

    def __init__(self, receiver: str, authenticators: list[Authenticator], telemetry: Telemetry | None = None) -> None:
        self.receiver = receiver
        self.authenticators = authenticators
        self._t = telemetry
        self._warn = RateLimitedLog(log)

    @property
    def active(self) -> bool:
        return bool(self.authenticators)

    async def check(self, creds: Credentials, transport: str) -> Principal | None:
        """The principal, None for an open receiver; raises Unauthenticated (counted, logged)."""
        if not self.authenticators:
            return None
        by: dict[str, str] = {}
        try:
            for a in self.authenticators:
                by[a.name] = await a.authenticate(creds)
        except Unauthenticated as exc:
            if self._t is not None:
                self._t.receiver_refused.labels(self.receiver, transport, "unauthenticated").inc()
            self._warn.warning(
                "refused", "receiver %s: refused a %s request before reading it: %s", self.receiver, transport, exc
            )
            raise
        return Principal(by[self.authenticators[0].name], by)

    async def http(self, request: web.Request) -> Principal | None:
        if not self.authenticators:
            return None
        return await self.check(http_credentials(request, self.receiver), "http")

    def grpc_unary(self, fn: GrpcUnaryFn) -> GrpcHandler:
        """A gRPC handler that checks credentials, then reads the one request message and calls
        ``fn``; a refused call ends ``UNAUTHENTICATED`` with its message never read. An open
        receiver's is a plain unary handler (gRPC reads the message; slightly cheaper)."""
        if not self.authenticators:

            async def open_(message: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
                return await fn(message, context, None)

            return GrpcHandler(unary=open_)

        async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            principal = None
            try:
                principal = await self.check(grpc_credentials(context, self.receiver), "grpc")
            except Unauthenticated as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            message: bytes | None = None
            async for item in requests:
                if message is not None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected one request message")
                message = item
            if message is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
            assert message is not None
            return await fn(message, context, principal)

        return GrpcHandler(stream=handle)


def receiver_gates(cfg: GatewayConfig, telemetry: Telemetry) -> tuple[dict[ComponentId, Gate], list[str]]:
    """Each receiver's gate: its own ``auth.authenticator`` and the ``auth`` processors of every
    pipeline it feeds (one :class:`Authenticator` per id, shared); and the problems found."""
    problems: list[str] = []
    made: dict[ComponentId, Authenticator] = {}

    def authenticator(pid: ComponentId) -> Authenticator:
        if pid not in made:
            made[pid] = Authenticator(str(pid), cfg.processors[pid].config)
        return made[pid]

    gates: dict[ComponentId, Gate] = {}
    for rid, rc in cfg.receivers.items():
        ids: list[ComponentId] = []
        own = getattr(rc.config, "auth", None)
        # Only an inbound authenticator reference (a nats receiver's `auth` is its own client login).
        if isinstance(own, ReceiverAuthConfig):
            try:
                pid = ComponentId.parse(own.authenticator)
            except ValueError as exc:
                problems.append(f"receivers::{rid}::auth::authenticator: {exc}")
            else:
                if pid.type != AUTHENTICATOR_TYPE or pid not in cfg.processors:
                    problems.append(
                        f'receivers::{rid}::auth::authenticator: "{own.authenticator}" is not defined under '
                        f"processors (an authenticator is an {AUTHENTICATOR_TYPE} or {AUTHENTICATOR_TYPE}/<name> entry)"
                    )
                else:
                    ids.append(pid)
        for p in cfg.service.pipelines.values():
            if str(rid) not in p.receivers:
                continue
            for ref in p.processors:
                pid = ComponentId.parse(ref)
                if pid.type == AUTHENTICATOR_TYPE and pid in cfg.processors and pid not in ids:
                    ids.append(pid)
        gates[rid] = Gate(str(rid), [authenticator(pid) for pid in ids], telemetry)
    return gates, problems
