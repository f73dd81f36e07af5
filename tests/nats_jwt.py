"""NATS decentralized auth made offline for tests: NKey pairs, signed v2 JWTs, a .creds file.

An operator signs an account JWT (with JetStream limits on), the account signs a user JWT; a
nats-server in operator mode trusts the operator JWT and preloads the account JWTs (``resolver:
MEMORY``), and a client proves itself with a .creds file: the user JWT and the user's seed, with
which it signs the server's nonce. A JWT here is ``header.claims.signature``, each part base64url
without padding, the signature an ed25519 one by the issuer's NKey over ``header.claims``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import time
from typing import Any, Final

import nkeys
import orjson

HEADER: Final = {"typ": "JWT", "alg": "ed25519-nkey"}
UNLIMITED: Final = -1
# An account's limits; JetStream is off for an account without mem_storage and disk_storage.
JETSTREAM_LIMITS: Final = ("mem_storage", "disk_storage", "streams", "consumer")
ACCOUNT_LIMITS: Final = {
    "subs": UNLIMITED,
    "data": UNLIMITED,
    "payload": UNLIMITED,
    "imports": UNLIMITED,
    "exports": UNLIMITED,
    "wildcards": True,
    "conn": UNLIMITED,
    "leaf": UNLIMITED,
    "mem_storage": UNLIMITED,
    "disk_storage": UNLIMITED,
    "streams": UNLIMITED,
    "consumer": UNLIMITED,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """One NKey pair: its seed (``S...``) and public key (``O...``, ``A...`` or ``U...``)."""

    seed: bytes
    public: str

    @classmethod
    def new(cls, prefix: int) -> Identity:
        seed = bytes(nkeys.encode_seed(os.urandom(32), prefix))
        return cls(seed, nkeys.from_seed(bytearray(seed)).public_key.decode())

    def sign(self, data: bytes) -> bytes:
        return bytes(nkeys.from_seed(bytearray(self.seed)).sign(data))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(issuer: Identity, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A v2 JWT for ``subject`` signed by ``issuer``; ``nats`` holds ``type`` and its claims."""
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject}
    # The id only has to be unique; nats tools make it a hash of the other claims, so does this.
    digest = hashlib.new("sha512_256", orjson.dumps(claims, option=orjson.OPT_SORT_KEYS)).digest()
    claims["jti"] = base64.b32encode(digest).rstrip(b"=").decode()
    claims["nats"] = {**nats, "version": 2}
    signed = f"{_b64(orjson.dumps(HEADER))}.{_b64(orjson.dumps(claims))}"
    return f"{signed}.{_b64(issuer.sign(signed.encode()))}"


def operator_jwt(operator: Identity, system_account: str = "") -> str:
    """Self-signed, as an operator JWT is; naming the system account when given (a server with
    JetStream needs one)."""
    nats: dict[str, Any] = {"type": "operator"}
    if system_account:
        nats["system_account"] = system_account
    return encode(operator, operator.public, "test-operator", nats)


def account_jwt(operator: Identity, account: Identity, name: str, *, jetstream: bool = True) -> str:
    """Signed by the operator, every limit off (-1); JetStream off when told (a system account)."""
    limits = ACCOUNT_LIMITS if jetstream else {k: v for k, v in ACCOUNT_LIMITS.items() if k not in JETSTREAM_LIMITS}
    return encode(operator, account.public, name, {"type": "account", "limits": limits})


def user_jwt(account: Identity, user: Identity, name: str) -> str:
    """Signed by the account, the user allowed every subject without limits."""
    limits = {"subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED}
    return encode(account, user.public, name, {"type": "user", "pub": {}, "sub": {}, **limits})


def creds(jwt: str, user: Identity) -> str:
    """A .creds file's text: the user JWT, then the user's seed, each between marker lines."""
    return (
        f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n"
    )


def server_config(operator: str, accounts: dict[str, str]) -> str:
    """A nats-server configuration in operator mode: the operator JWT trusted, the account JWTs
    (public key to JWT) preloaded in a memory resolver."""
    lines = [f"operator: {operator}", "resolver: MEMORY", "resolver_preload: {"]
    lines += [f"  {public}: {jwt}" for public, jwt in accounts.items()]
    return "\n".join([*lines, "}"]) + "\n"
