"""Transport pieces shared by exporters: TLS and proxy settings, HTTP sessions, gRPC channels,
which failures to retry.

Proxies: without ``tls.proxy_url`` every exporter honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``NO_PROXY`` from the environment, over HTTP (aiohttp's ``trust_env``) as over gRPC (the gRPC
core reads them itself); with it, that proxy is used for every connection of the exporter and
the environment is not consulted.
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import ssl
import time
from urllib.parse import urlsplit

import aiohttp
import grpc

# gRPC codes worth retrying (OTLP spec); RESOURCE_EXHAUSTED is retried too, because a gateway
# or backend under load answers it and gives up nothing by waiting.
_RETRYABLE_GRPC = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    insecure: bool = False  # gRPC: plaintext for a bare host:port (http:// is always plaintext)
    ca_file: str = ""  # PEM bundle to verify the server with; system roots when empty
    cert_file: str = ""  # client certificate (mTLS), PEM
    key_file: str = ""  # client key (mTLS), PEM
    insecure_skip_verify: bool = False  # HTTP only: do not verify the server certificate
    # http://[user:password@]host:port of a proxy for this exporter (HTTP and gRPC); empty:
    # HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment
    proxy_url: str = ""

    def validate(self) -> list[str]:
        problems = []
        if bool(self.cert_file) != bool(self.key_file):
            problems.append("cert_file: must be set together with key_file")
        if self.proxy_url:
            parts = urlsplit(self.proxy_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append("proxy_url: expected http://host:port or https://host:port")
        return problems

    def ssl_context(self) -> ssl.SSLContext | bool:
        """For aiohttp: True (default verification) or a configured context, built once per
        distinct TLS config (loading certificates per request cost a file read and a parse)."""
        return _ssl_context(self)


@functools.lru_cache(maxsize=64)
def _ssl_context(tls: TlsConfig) -> ssl.SSLContext | bool:
    if not (tls.ca_file or tls.cert_file or tls.insecure_skip_verify):
        return True
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _read(path: str) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


def grpc_target(endpoint: str, tls: TlsConfig) -> tuple[str, bool]:
    """Endpoint → (target, secure). ``http://`` is plaintext, ``https://`` TLS; a bare
    ``host:port`` is TLS unless ``tls.insecure`` (the Collector's rule)."""
    if endpoint.startswith("http://"):
        return endpoint[7:].rstrip("/"), False
    if endpoint.startswith("https://"):
        return endpoint[8:].rstrip("/"), True
    return endpoint, not tls.insecure


def http_session(tls: TlsConfig, timeout: float, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """The one place HTTP exporters make their session (see the module docstring on proxies)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers=headers,
        proxy=tls.proxy_url or None,
        trust_env=not tls.proxy_url,
    )


def grpc_channel(endpoint: str, tls: TlsConfig, user_agent: str) -> grpc.aio.Channel:
    target, secure = grpc_target(endpoint, tls)
    options: list[tuple[str, str | int]] = [
        ("grpc.primary_user_agent", user_agent),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]
    if tls.proxy_url:
        options.append(("grpc.http_proxy", tls.proxy_url))
    if not secure:
        return grpc.aio.insecure_channel(target, options=options)
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file),
        private_key=_read(tls.key_file),
        certificate_chain=_read(tls.cert_file),
    )
    return grpc.aio.secure_channel(target, creds, options=options)


def is_retryable_grpc(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() in _RETRYABLE_GRPC


# HTTP statuses worth retrying when a protocol lists them exactly (OTLP/HTTP): the request may
# succeed later. Other protocols also retry 408 and every 5xx (a backend's transient failures).
_RETRYABLE_HTTP_LISTED = frozenset({429, 502, 503, 504})


def is_retryable_http(status: int, *, listed_only: bool = False) -> bool:
    """The one rule for every HTTP exporter path: 429, 502, 503, 504 always; 408 and the other
    5xx too unless the protocol lists its retryable statuses (``listed_only``, OTLP)."""
    if status in _RETRYABLE_HTTP_LISTED:
        return True
    return not listed_only and (status == 408 or status >= 500)


def http_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds, from delta-seconds or an HTTP-date; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
