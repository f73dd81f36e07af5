"""What the nats exporter and receiver share: server URLs, auth, TLS, the connection, subjects.

Auth is one of: a ``token``; ``user`` + ``password``; an NKey seed file (``nkey_seed_file``);
a credentials file with a user JWT and its seed (``credentials_file``, NATS decentralized auth).
``tls`` turns TLS on (so do ``tls://`` URLs), with a CA bundle, a client certificate for mutual
TLS, or no verification for a test server. The connection reconnects forever (every URL of a
cluster, and the servers the cluster announces), so a node that goes away is survived by the
client without a restart; while no server is reachable publishes fail and are retried.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import ssl
from typing import Any, Final

from nats.aio.client import Client

from gateway.telemetry import RateLimitedLog

log = logging.getLogger(__name__)

DEFAULT_URL: Final = "nats://127.0.0.1:4222"
DEFAULT_CONNECT_TIMEOUT: Final = 2  # seconds, per server tried
RECONNECT_WAIT: Final = 0.5  # seconds between reconnect rounds
_SCHEMES: Final = ("nats://", "tls://", "ws://", "wss://")
_TOKEN_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_\-]")
EMPTY_TENANT_TOKEN: Final = "_"  # the subject token of a batch without a tenant


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NatsAuthConfig:
    token: str = ""  # a server token (authorization { token })
    user: str = ""  # user name; needs password
    password: str = ""  # password of user
    nkey_seed_file: str = ""  # file holding an NKey user seed (SU...)
    credentials_file: str = ""  # a .creds file: user JWT and NKey seed (decentralized auth)

    def validate(self) -> list[str]:
        chosen = [
            name
            for name, on in (
                ("token", bool(self.token)),
                ("user", bool(self.user)),
                ("nkey_seed_file", bool(self.nkey_seed_file)),
                ("credentials_file", bool(self.credentials_file)),
            )
            if on
        ]
        problems = []
        if len(chosen) > 1:
            problems.append(f"{chosen[1]}: only one of token, user, nkey_seed_file, credentials_file may be set")
        if bool(self.user) != bool(self.password):
            problems.append("password: must be set together with user")
        return problems

    def connect_options(self) -> dict[str, Any]:
        if self.token:
            return {"token": self.token}
        if self.user:
            return {"user": self.user, "password": self.password}
        if self.nkey_seed_file:
            return {"nkeys_seed": self.nkey_seed_file}
        if self.credentials_file:
            return {"user_credentials": self.credentials_file}
        return {}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NatsTlsConfig:
    enabled: bool = False  # TLS to the servers (tls:// URLs turn it on too)
    ca_file: str = ""  # PEM bundle to verify the servers with; system roots when empty
    cert_file: str = ""  # client certificate (mutual TLS), PEM
    key_file: str = ""  # client key (mutual TLS), PEM
    insecure_skip_verify: bool = False  # do not verify the server certificate (tests only)

    def validate(self) -> list[str]:
        if bool(self.cert_file) != bool(self.key_file):
            return ["cert_file: must be set together with key_file"]
        return []

    def context(self, urls: list[str]) -> ssl.SSLContext | None:
        on = self.enabled or self.ca_file or self.cert_file or any(u.startswith(("tls://", "wss://")) for u in urls)
        if not on:
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def url_list(url: object) -> list[str]:
    """The ``url`` option (one URL or a list) as a list; [] when it is neither."""
    if isinstance(url, str):
        return [url]
    if isinstance(url, list) and all(isinstance(u, str) for u in url):
        return list(url)
    return []


def url_problems(url: object) -> list[str]:
    urls = url_list(url)
    if not urls:
        return ["url: expected a URL or a list of URLs, like nats://127.0.0.1:4222"]
    return [f"url: {u!r} must start with one of {', '.join(_SCHEMES)}" for u in urls if not u.startswith(_SCHEMES)]


def subject_token(tenant: str) -> str:
    """A tenant as one subject token: NATS subjects split on dots and reserve ``*``, ``>`` and
    whitespace, so anything but letters, digits, ``_`` and ``-`` becomes ``_`` (the exact tenant
    travels in a header)."""
    return _TOKEN_UNSAFE.sub("_", tenant) or EMPTY_TENANT_TOKEN


async def connect(
    nc: Client, url: object, auth: NatsAuthConfig, tls: NatsTlsConfig, *, name: str, timeout: float
) -> None:
    """Connects ``nc`` and keeps it connected: it tries the servers until one answers (so this
    returns only then; cancel it to give up, then close ``nc``) and reconnects forever after."""
    urls = url_list(url)

    warn = RateLimitedLog(log)

    async def on_error(exc: Exception) -> None:
        # nats-py reports each failed connect attempt; while a server is down that is one a second.
        warn.warning("error", "nats %s: %s: %s", name, type(exc).__name__, exc)

    async def on_disconnect() -> None:
        if not nc.is_closed:  # closing on shutdown reports a disconnect too
            log.warning("nats %s: disconnected; reconnecting", name)

    async def on_reconnect() -> None:
        log.info("nats %s: reconnected to %s", name, nc.connected_url.netloc if nc.connected_url else "?")

    await nc.connect(
        servers=urls,
        name=name,
        connect_timeout=max(1, round(timeout)),
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT,  # type: ignore[arg-type]  # annotated int, takes seconds
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        tls=tls.context(urls),
        **auth.connect_options(),
    )
