"""``auth`` processor: checks the credentials a receiver captured and sets the tenant.

The key a client presents is its Bearer token, its ``x-api-key`` header, or its Basic password
(first present wins, in that order). It is compared with every configured key in constant time
(SHA-256 digests through ``hmac.compare_digest``, all keys every time); a match sets the batch's
tenant to the key's tenant. With ``allow_tenant_header: true`` a client without a key may name
its tenant in ``X-Scope-OrgID`` instead, if that tenant is in ``allowed_tenants``.
``receiver_tenants`` restricts which tenants may arrive through which receiver.

Keys come inline (use ``${env:…}``) and/or from ``keys_file`` (YAML list of ``{key, tenant}``),
re-read when the file changes. A refusal raises :class:`~gateway.errors.Unauthenticated`,
which every receiver answers in its own shape (401 / ``UNAUTHENTICATED``). Keys never appear in
logs or metric labels.

.. code-block:: yaml

    processors:
      auth:
        api_keys:
          - {key: "${env:TEAM_A_KEY}", tenant: team-a}
        keys_file: /etc/gateway/keys.yaml
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import time

import yaml

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.errors import Unauthenticated
from gateway.model import Batch, Context
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_RELOAD_INTERVAL = 5.0
MISSING = "missing API key"
INVALID = "invalid or revoked API key"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key: str  # the secret as clients present it
    tenant: str  # tenant set on batches that present this key


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    api_keys: list[ApiKey] = dataclasses.field(default_factory=list)  # inline keys
    keys_file: str = ""  # YAML list of {key, tenant}, re-read when it changes
    reload_interval: Duration = Duration(DEFAULT_RELOAD_INTERVAL)  # how often keys_file is checked
    allow_tenant_header: bool = False  # accept X-Scope-OrgID alone for allowed_tenants
    allowed_tenants: list[str] = dataclasses.field(default_factory=list)  # for allow_tenant_header
    receiver_tenants: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # receiver id → tenants

    def validate(self) -> list[str]:
        problems = []
        if not self.api_keys and not self.keys_file and not self.allow_tenant_header:
            problems.append("one of api_keys, keys_file or allow_tenant_header is required")
        for i, k in enumerate(self.api_keys):
            if not k.key:
                problems.append(f"api_keys::{i}::key: must not be empty (is the environment variable set?)")
            if not k.tenant:
                problems.append(f"api_keys::{i}::tenant: must not be empty")
        if self.allow_tenant_header and not self.allowed_tenants:
            problems.append("allowed_tenants: must list tenants when allow_tenant_header is true")
        if self.keys_file:
            try:
                load_keys_file(self.keys_file)
            except (OSError, ValueError) as exc:
                problems.append(f"keys_file: {exc}")
        return problems


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


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyTable:
    """Digest → tenant, searched in constant time with respect to the presented key."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._entries = [(_digest(k.key), k.tenant) for k in keys]

    def lookup(self, presented: str) -> str | None:
        digest = _digest(presented)
        found: str | None = None
        for candidate, tenant in self._entries:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = tenant
        return found


def presented_key(ctx: Context) -> str:
    return ctx.bearer_token or ctx.api_key or ctx.basic_password


class AuthProcessor:
    # Reads only the context (a pass-through may go on through it) and sets its tenant in place.
    capabilities = Capabilities(passes_native=True, mutates_data=True)

    def __init__(self, settings: CreateSettings, cfg: AuthConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._next = next_
        self._id = str(settings.id)
        self._pipeline = settings.pipeline
        self._t = settings.telemetry
        self._file_mtime: float | None = None
        self._file_keys: list[ApiKey] = []
        self._next_check = 0.0
        self._table = KeyTable(cfg.api_keys)
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
                self._file_keys = load_keys_file(self._cfg.keys_file)
                self._file_mtime = mtime
                self._table = KeyTable([*self._cfg.api_keys, *self._file_keys])
                log.info("auth %s: loaded %d keys from %s", self._id, len(self._file_keys), self._cfg.keys_file)
        except (OSError, ValueError) as exc:
            # Keep the last good keys: a half-written file must not lock every client out.
            log.warning("auth %s: cannot reload %s, keeping previous keys: %s", self._id, self._cfg.keys_file, exc)

    def authenticate(self, ctx: Context) -> str:
        """Returns the tenant for this request or raises Unauthenticated."""
        self._maybe_reload()
        key = presented_key(ctx)
        if key:
            tenant = self._table.lookup(key)
            if tenant is None:
                raise Unauthenticated(INVALID)
        elif self._cfg.allow_tenant_header and ctx.tenant and ctx.tenant in self._cfg.allowed_tenants:
            tenant = ctx.tenant
        else:
            raise Unauthenticated(MISSING)
        allowed = self._cfg.receiver_tenants.get(ctx.receiver)
        if allowed is not None and tenant not in allowed:
            raise Unauthenticated(INVALID)
        return tenant

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        try:
            batch.context.tenant = self.authenticate(batch.context)
            batch.context.tenant_is_default = False
        except Unauthenticated as exc:
            reason = "missing_key" if str(exc) == MISSING else "invalid_key"
            self._t.processor_dropped.labels(self._id, self._pipeline, reason).inc(len(batch))
            raise
        await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: AuthConfig, next_: Consumer) -> AuthProcessor:
    return AuthProcessor(settings, cfg, next_)


FACTORY = processor_factory("auth", AuthConfig, _create, "Checks API keys / bearer tokens; sets the tenant.")
