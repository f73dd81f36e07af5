"""``auth``: an authenticator (see :mod:`gateway.auth`), and the processor that applies it.

An ``auth`` entry declares who may send: API keys / bearer tokens mapped to tenants (inline
and from ``keys_file``, re-read when it changes), HTTP Basic pairs, OIDC JWTs checked against
the issuer's JWKS, client certificate identities (mTLS). Receivers name it with
``auth: {authenticator: auth/<name>}``.

Listed in a pipeline, as before, it protects every receiver of that pipeline the same way: the
receiver checks the credentials *before reading the body* (401 / ``UNAUTHENTICATED``, nothing
decoded, nothing delivered), and the processor sets the batch's tenant from that verdict. A
batch that reached the processor without the receiver's check (none does today) is checked
here from the credentials its context carries. Keys never appear in logs or metric labels.

.. code-block:: yaml

    processors:
      auth:
        api_keys:
          - {key: "${env:TEAM_A_KEY}", tenant: team-a}
        keys_file: /etc/gateway/keys.yaml
"""

from __future__ import annotations

from gateway.auth import (
    INVALID,
    MISSING,
    ApiKey,
    AuthConfig,
    Authenticator,
    KeyTable,
    context_credentials,
    load_keys_file,
)
from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.errors import Unauthenticated
from gateway.model import Batch, Context


class AuthProcessor:
    # Reads only the context (a pass-through may go on through it) and sets its tenant in place.
    capabilities = Capabilities(passes_native=True, mutates_data=True)

    def __init__(self, settings: CreateSettings, cfg: AuthConfig, next_: Consumer) -> None:
        self._next = next_
        self._id = str(settings.id)
        self._pipeline = settings.pipeline
        self._t = settings.telemetry
        self._authenticator = Authenticator(self._id, cfg)

    async def authenticate(self, ctx: Context) -> str:
        """The tenant for this batch (the receiver's verdict when it checked); raises Unauthenticated."""
        checked = ctx.auth.get(self._id)
        if checked is not None:
            return checked
        return await self._authenticator.authenticate(context_credentials(ctx))

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        try:
            batch.context.tenant = await self.authenticate(batch.context)
            batch.context.tenant_is_default = False
        except Unauthenticated as exc:
            reason = "missing_key" if str(exc) == MISSING else "invalid_key"
            self._t.processor_dropped.labels(self._id, self._pipeline, reason).inc(len(batch))
            raise
        await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: AuthConfig, next_: Consumer) -> AuthProcessor:
    return AuthProcessor(settings, cfg, next_)


FACTORY = processor_factory(
    "auth",
    AuthConfig,
    _create,
    "An authenticator (API keys, Basic, OIDC, mTLS → tenant); receivers check it before reading a body.",
)

__all__ = ["INVALID", "MISSING", "ApiKey", "AuthConfig", "AuthProcessor", "KeyTable", "load_keys_file"]
