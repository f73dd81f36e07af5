"""TLS for receivers: server certificates reloaded when their files change, a TLS floor, and
client certificates (mTLS) checked against a CA and turned into an identity.

The same ``tls:`` block serves an HTTP listener (an :class:`ssl.SSLContext` whose certificate
is reloaded in place, so connections made after a change get the new one) and a gRPC listener
(``grpc.dynamic_ssl_server_credentials``, whose fetcher gRPC calls on each new handshake).
With ``client_ca_file`` a client must present a certificate signed by that CA; the identity it
carries (subject common name and subject alternative names) is what an ``mtls`` authenticator
maps to a tenant.

.. code-block:: yaml

    receivers:
      otlp:
        http:
          endpoint: 0.0.0.0:4318
          tls:
            cert_file: /etc/gateway/tls/server.crt
            key_file: /etc/gateway/tls/server.key
            client_ca_file: /etc/gateway/tls/clients-ca.crt   # optional: require client certs
            min_version: "1.2"
"""

from __future__ import annotations

import dataclasses
import logging
import os
import ssl
import time
import typing
from typing import Any

import grpc

from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_MIN_VERSION: typing.Final = "1.2"
DEFAULT_RELOAD_INTERVAL = 30.0  # seconds between looks at the certificate files' times
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TlsServerConfig:
    cert_file: str  # PEM certificate chain the listener presents
    key_file: str  # PEM private key of cert_file
    client_ca_file: str = ""  # PEM CA bundle: clients must present a certificate it signed (mTLS)
    min_version: typing.Literal["1.2", "1.3"] = DEFAULT_MIN_VERSION  # lowest TLS version accepted
    reload_interval: Duration = Duration(DEFAULT_RELOAD_INTERVAL)  # how often the files are checked; 0 = never

    def validate(self) -> list[str]:
        problems = []
        for name in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                problems.append(f"{name}: no such file {path!r}")
        if not problems:
            try:
                _context(self)
            except (ssl.SSLError, OSError, ValueError) as exc:
                problems.append(f"cannot load the certificate, key or CA: {exc}")
        return problems


@dataclasses.dataclass(frozen=True, slots=True)
class PeerIdentity:
    """What a verified client certificate says about its holder."""

    common_name: str = ""
    alt_names: tuple[str, ...] = ()  # DNS names, URIs, e-mail addresses, as written

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.common_name, *self.alt_names) if n)


def _mtimes(cfg: TlsServerConfig) -> tuple[int, ...]:
    return tuple(os.stat(p).st_mtime_ns for p in (cfg.cert_file, cfg.key_file, cfg.client_ca_file) if p)


def _context(cfg: TlsServerConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[cfg.min_version]
    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    if cfg.client_ca_file:
        ctx.load_verify_locations(cfg.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


class ServerTls:
    """One listener's TLS state: the current files, checked at most every ``reload_interval``.

    A change that does not load (a half-written key) keeps the previous certificate and is
    logged; the next check tries again.
    """

    def __init__(self, cfg: TlsServerConfig, endpoint: str) -> None:
        self.cfg = cfg
        self._endpoint = endpoint
        self._mtimes = _mtimes(cfg)
        self._next_check = time.monotonic() + float(cfg.reload_interval)
        self.ssl_context = _context(cfg)

    def _changed(self) -> bool:
        if not self.cfg.reload_interval:
            return False
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + float(self.cfg.reload_interval)
        try:
            mtimes = _mtimes(self.cfg)
        except OSError as exc:
            log.warning("tls %s: cannot stat the certificate files, keeping the loaded ones: %s", self._endpoint, exc)
            return False
        if mtimes == self._mtimes:
            return False
        self._mtimes = mtimes
        return True

    def maybe_reload(self) -> bool:
        """Reloads the HTTP context in place when the files changed; True when it did."""
        if not self._changed():
            return False
        try:
            self.ssl_context.load_cert_chain(self.cfg.cert_file, self.cfg.key_file)
            if self.cfg.client_ca_file:
                self.ssl_context.load_verify_locations(self.cfg.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            log.warning("tls %s: cannot reload the certificate, keeping the previous one: %s", self._endpoint, exc)
            return False
        log.info("tls %s: reloaded certificate %s", self._endpoint, self.cfg.cert_file)
        return True

    # -- gRPC --------------------------------------------------------------------------------

    def _grpc_config(self) -> Any:
        cfg = self.cfg
        return grpc.ssl_server_certificate_configuration(
            [(_read(cfg.key_file), _read(cfg.cert_file))],
            root_certificates=_read(cfg.client_ca_file) if cfg.client_ca_file else None,
        )

    def grpc_credentials(self) -> grpc.ServerCredentials:
        def fetch() -> Any:
            # Called by gRPC on every new handshake: None keeps the current certificate.
            if not self._changed():
                return None
            try:
                config = self._grpc_config()
            except OSError as exc:
                log.warning("tls %s: cannot reload the certificate, keeping the previous one: %s", self._endpoint, exc)
                return None
            log.info("tls %s: reloaded certificate %s", self._endpoint, self.cfg.cert_file)
            return config

        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(), fetch, require_client_authentication=bool(self.cfg.client_ca_file)
        )


def http_peer_identity(peercert: Any) -> PeerIdentity | None:
    """The identity in ``ssl.SSLObject.getpeercert()`` (present only once verified)."""
    if not peercert:
        return None
    cn = ""
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
    alt = tuple(value for _kind, value in peercert.get("subjectAltName", ()))
    return PeerIdentity(cn, alt)


def grpc_peer_identity(auth_context: dict[str, list[bytes]]) -> PeerIdentity | None:
    """The identity in a gRPC call's ``auth_context()`` (TLS with a verified client cert)."""
    cn = [v.decode() for v in auth_context.get("x509_common_name", [])]
    alt = [v.decode() for v in auth_context.get("x509_subject_alternative_name", [])]
    if not cn and not alt:
        return None
    return PeerIdentity(cn[0] if cn else "", tuple(alt))
