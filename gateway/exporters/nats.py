"""``nats`` exporter: publishes each batch to a NATS JetStream stream.

A batch is one message (or several, when it is larger than ``max_message_bytes``: a record
that alone is larger is dropped and counted as ``reason="too_large"``) on the
subject ``subject`` with ``{tenant}`` replaced by the batch's tenant (as one subject token: see
:func:`gateway.nats_client.subject_token`; ``_`` without a tenant). A publish succeeds only when
the stream answered with its PubAck: the message is stored (on ``replicas`` servers). By default
the exporter has no sending queue, so a receiver's 2xx means "in the stream"; enabling
``sending_queue`` trades that for latency (a 2xx then means "in this process's queue").

Every message carries:

* ``Nats-Msg-Id``: a SHA-256 of the subject, the encoding and the body, so a retried publish
  (after a lost PubAck, or a client resending the same batch) is stored once within the
  stream's ``duplicate_window``;
* ``Gateway-Encoding`` (what the body is, see :mod:`gateway.nats_encodings`) and ``Content-Type``;
* the request context: ``Gateway-Tenant``, ``Gateway-Receiver``, ``Gateway-Transport``, and each
  header the receiver kept as ``Gateway-Header-<name>``. Credentials are never published.

The stream is created when absent (``stream.create``) with ``subjects`` (default: the subject
with ``{tenant}`` as ``*``), ``replicas``, ``max_age``, ``max_bytes``, ``storage`` and
``discard: new`` by default (a full stream refuses new messages, which reach the client as 503,
instead of deleting old ones nobody has read); an existing stream is used as it is.

.. code-block:: yaml

    exporters:
      nats:
        url: [nats://nats-0:4222, nats://nats-1:4222, nats://nats-2:4222]
        subject: llm.telemetry.{tenant}
        stream: {name: LLM_TELEMETRY, replicas: 3, max_age: 72h, max_bytes: 50GiB}
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import logging
import re
from typing import Any, Final, Literal

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import api

from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._helper import REPORT_FAILURES, ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.formats import MessageBody
from gateway.model import Batch, Context, Rating, Record, Score
from gateway.nats_client import DEFAULT_URL, NatsAuthConfig, NatsTlsConfig, connect, subject_token, url_problems
from gateway.nats_encodings import (
    DEFAULT_ENCODING,
    HEADER,
    content_type,
    encode,
    encode_native,
    encoding_problem,
    native_kinds,
    takes_scores,
)
from gateway.telemetry import RateLimitedLog
from gateway.units import ByteSize, Duration

log = logging.getLogger(__name__)

DEFAULT_SUBJECT: Final = "llm.telemetry.{tenant}"
DEFAULT_STREAM: Final = "LLM_TELEMETRY"
DEFAULT_TIMEOUT: Final = 5.0  # seconds: connect, and the wait for one PubAck
DEFAULT_MAX_MESSAGE: Final = 1024 * 1024  # the NATS server's default max_payload
DEFAULT_DUPLICATE_WINDOW: Final = 120.0  # JetStream's default
DEFAULT_REPLICAS: Final = 1
MAX_REPLICAS: Final = 5  # JetStream's limit
# The client waits for the PubAck, so retries are short: a NATS node failing over takes a few
# seconds; past that the client is told 503 and retries itself.
DEFAULT_RETRY: Final = RetryConfig(
    initial_interval=Duration(0.1), max_interval=Duration(2.0), max_elapsed_time=Duration(15.0)
)
HEADER_TENANT: Final = "Gateway-Tenant"
HEADER_RECEIVER: Final = "Gateway-Receiver"
HEADER_TRANSPORT: Final = "Gateway-Transport"
HEADER_KEPT_PREFIX: Final = "Gateway-Header-"
HEADER_ITEMS: Final = "Gateway-Items"
_SUBJECT_TOKEN: Final = re.compile(r"^[^\s.*>]+$")
_STREAM_NAME: Final = re.compile(r"^[^\s.*>/\\]+$")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    name: str = DEFAULT_STREAM  # JetStream stream the subjects belong to
    create: bool = True  # create the stream when absent (an existing one is never changed)
    subjects: list[str] = dataclasses.field(default_factory=list)  # default: the subject, {tenant} as *
    replicas: int = DEFAULT_REPLICAS  # servers holding each message (3 in a 3-node cluster)
    max_age: Duration = Duration(0)  # oldest message kept; 0 = no limit
    max_bytes: ByteSize = ByteSize(0)  # stream size limit; 0 = no limit
    storage: Literal["file", "memory"] = "file"  # memory: lost when every replica restarts
    discard: Literal["new", "old"] = "new"  # when full: refuse new messages, or delete the oldest
    duplicate_window: Duration = Duration(DEFAULT_DUPLICATE_WINDOW)  # Nats-Msg-Id de-duplication span

    def validate(self) -> list[str]:
        problems = []
        if not _STREAM_NAME.match(self.name):
            problems.append("name: must be non-empty without spaces, dots, *, >, / or \\")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            problems.append(f"replicas: must be between 1 and {MAX_REPLICAS}")
        problems.extend(f"subjects::{i}: {p}" for i, s in enumerate(self.subjects) if (p := _subject_problem(s, True)))
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NatsExporterConfig:
    url: Any = DEFAULT_URL  # a server URL, or a list of them (a cluster); nats:// or tls://
    subject: str = DEFAULT_SUBJECT  # where batches go; {tenant} is the batch's tenant
    stream: StreamConfig = dataclasses.field(default_factory=StreamConfig)  # the stream; created when absent
    # A registered format's message encoding: record (lossless) or a wire format others can read.
    encoding: str = DEFAULT_ENCODING  # record | sigil_proto | otlp_proto | foglamp_json | lumiqtrace_ndjson
    max_message_bytes: ByteSize = ByteSize(DEFAULT_MAX_MESSAGE)  # larger batches are split (server max_payload)
    deduplicate: bool = True  # Nats-Msg-Id from the content: a resent batch is stored once
    auth: NatsAuthConfig = dataclasses.field(default_factory=NatsAuthConfig)  # one of token, user, NKey, creds
    tls: NatsTlsConfig = dataclasses.field(default_factory=NatsTlsConfig)  # TLS to the servers
    timeout: Duration = Duration(DEFAULT_TIMEOUT)  # connect, and the wait for each PubAck, seconds
    retry_on_failure: RetryConfig = dataclasses.field(default_factory=lambda: DEFAULT_RETRY)  # short: the client waits
    # No queue by default: the client's answer waits for the PubAck.
    sending_queue: QueueConfig = dataclasses.field(default_factory=lambda: QueueConfig(enabled=False))

    def validate(self) -> list[str]:
        problems = url_problems(self.url)
        if problem := encoding_problem(self.encoding):
            problems.append(f"encoding: {problem}")
        problem = _subject_problem(self.subject.replace("{tenant}", "t"), False)
        if problem:
            problems.append(f"subject: {problem}")
        elif self.stream.subjects and not any(
            subject_matches(s, self.subject.replace("{tenant}", "t")) for s in self.stream.subjects
        ):
            problems.append(f"subject: {self.subject!r} is not in stream::subjects {self.stream.subjects}")
        if self.max_message_bytes < 1024:
            problems.append("max_message_bytes: must be at least 1KiB")
        return problems

    def stream_subjects(self) -> list[str]:
        return list(self.stream.subjects) or [self.subject.replace("{tenant}", "*")]


def _subject_problem(subject: str, wildcards: bool) -> str:
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if wildcards and (token == "*" or (token == ">" and i == len(tokens) - 1)):
            continue
        if not _SUBJECT_TOKEN.match(token):
            what = "wildcards, " if not wildcards else ""
            return f"{subject!r} is not a NATS subject (dot-separated tokens without {what}spaces or empty tokens)"
    return ""


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


@dataclasses.dataclass(frozen=True, slots=True)
class _Message:
    subject: str
    headers: dict[str, str]
    body: bytes


class NatsExporter:
    def __init__(self, settings: CreateSettings, cfg: NatsExporterConfig) -> None:
        self._cfg = cfg
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._nc = Client()
        self._ready = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None
        self._warn = RateLimitedLog(log)
        # A pass-through batch goes out as it came when the stream speaks its format.
        self.capabilities = Capabilities(native_kinds=native_kinds(cfg.encoding))
        scores = takes_scores(cfg.encoding)
        self._helper = ExporterHelper(
            settings,
            self._encode,
            self._send,
            retry=cfg.retry_on_failure,
            queue=cfg.sending_queue,
            takes_scores=scores,
            takes_ratings=scores,
        )

    # -- encoding ----------------------------------------------------------------------------

    def _encode(self, batch: Batch) -> list[Payload]:
        subject = self._cfg.subject.replace("{tenant}", subject_token(batch.context.tenant))
        headers = _context_headers(batch.context)
        dropped: collections.Counter[str] = collections.Counter()
        native = encode_native(self._cfg.encoding, batch)
        if native is not None and all(len(b.data) <= self._cfg.max_message_bytes for b in native.bodies):
            bodies = native.bodies
        else:
            bodies = self._bodies(batch.records, batch.scores, batch.ratings, dropped)
        for reason, n in dropped.items():
            self._t.exporter_dropped.labels(self._id, reason).inc(n)
        return [Payload(b.count, self._message(subject, headers, b)) for b in bodies]

    def _bodies(
        self, records: list[Record], scores: list[Score], ratings: list[Rating], dropped: collections.Counter[str]
    ) -> list[MessageBody]:
        """Bodies within ``max_message_bytes``: a batch too large for one message is halved until
        its parts fit; a single record that alone is too large is dropped and counted."""
        try:
            encoded = encode(self._cfg.encoding, records, scores, ratings)
        except (ValueError, TypeError) as exc:  # RecordEncodeError; a value a wire schema refuses
            raise PermanentError(f"cannot encode as {self._cfg.encoding}: {exc}") from None
        if all(len(b.data) <= self._cfg.max_message_bytes for b in encoded.bodies):
            dropped.update(encoded.dropped)
            return encoded.bodies
        if len(records) > 1:
            half = len(records) // 2
            return self._bodies(records[:half], scores, ratings, dropped) + self._bodies(
                records[half:], [], [], dropped
            )
        if records and (scores or ratings):
            return self._bodies(records, [], [], dropped) + self._bodies([], scores, ratings, dropped)
        dropped["too_large"] += len(records) + len(scores) + len(ratings)
        return []

    def _message(self, subject: str, headers: dict[str, str], body: MessageBody) -> _Message:
        out = {HEADER: body.kind, "Content-Type": content_type(body.kind), HEADER_ITEMS: str(body.count), **headers}
        if self._cfg.deduplicate:
            digest = hashlib.sha256()
            for part in (subject.encode(), b"\0", body.kind.encode(), b"\0", body.data):
                digest.update(part)
            out["Nats-Msg-Id"] = digest.hexdigest()
        return _Message(subject, out, body.data)

    # -- sending -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        cfg = self._cfg
        await connect(self._nc, cfg.url, cfg.auth, cfg.tls, name=f"gateway {self._id}", timeout=float(cfg.timeout))
        while True:
            try:
                await self._ensure_stream()
                break
            except (nats.errors.Error, TimeoutError) as exc:
                # A cluster still electing its meta leader answers "JetStream not ready" for a while.
                self._warn.warning("stream", "exporter %s: stream %s not ready: %r", self._id, cfg.stream.name, exc)
                await asyncio.sleep(0.5)
        self._ready.set()

    async def _ensure_stream(self) -> None:
        s = self._cfg.stream
        jsm = self._nc.jsm(timeout=float(self._cfg.timeout))
        try:
            await jsm.stream_info(s.name)
            return
        except nats.js.errors.NotFoundError:
            if not s.create:
                raise
        await jsm.add_stream(
            api.StreamConfig(
                name=s.name,
                subjects=self._cfg.stream_subjects(),
                num_replicas=s.replicas,
                max_age=float(s.max_age) or None,
                max_bytes=int(s.max_bytes) or None,
                storage=api.StorageType.FILE if s.storage == "file" else api.StorageType.MEMORY,
                discard=api.DiscardPolicy.NEW if s.discard == "new" else api.DiscardPolicy.OLD,
                duplicate_window=float(s.duplicate_window),
            )
        )
        log.info("exporter %s: created stream %s (replicas=%d)", self._id, s.name, s.replicas)

    async def _send(self, payload: Payload) -> None:
        msg: _Message = payload.data
        timeout = float(self._cfg.timeout)
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                raise RetryableError(f"not connected to NATS at {self._cfg.url}") from None
        try:
            ack = await self._nc.jetstream().publish(msg.subject, msg.body, timeout=timeout, headers=msg.headers)
        except (nats.errors.MaxPayloadError, nats.errors.BadSubjectError) as exc:
            raise PermanentError(f"publish to {msg.subject}: {type(exc).__name__}: {exc}") from None
        except nats.js.errors.NoStreamResponseError:
            if self._cfg.stream.create:  # the stream was deleted: make it again for the retry
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await self._ensure_stream()
            raise RetryableError(
                f"publish to {msg.subject}: no stream answered (is it in {self._cfg.stream.name}?)"
            ) from None
        except (nats.errors.Error, TimeoutError) as exc:
            # Timeouts, reconnects, and JetStream refusals (a full stream, no quorum) may pass.
            raise RetryableError(f"publish to {msg.subject}: {type(exc).__name__}: {exc}") from None
        if ack.duplicate:
            log.debug("exporter %s: stream already had message %s", self._id, msg.headers["Nats-Msg-Id"])
        self._t.exporter_sent.labels(self._id).inc(payload.count)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect(), name=f"{self._id}-connect")
        await self._helper.start()

    async def consume(self, batch: Batch) -> None:
        # Without a queue the caller's answer waits for the PubAck, and learns of a failure.
        token = REPORT_FAILURES.set(True)
        try:
            await self._helper.consume(batch)
        finally:
            REPORT_FAILURES.reset(token)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        try:
            await self._helper.shutdown()
        finally:
            task, self._connecting = self._connecting, None
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task})
            if not self._nc.is_closed:
                await self._nc.close()


def _context_headers(ctx: Context) -> dict[str, str]:
    headers = {HEADER_RECEIVER: ctx.receiver, HEADER_TRANSPORT: ctx.transport}
    if ctx.tenant:
        headers[HEADER_TENANT] = ctx.tenant
    for name, value in ctx.headers.items():
        headers[HEADER_KEPT_PREFIX + name] = value
    # A header value cannot hold a line break (it would end the header block).
    return {k: v.replace("\r", " ").replace("\n", " ") for k, v in headers.items() if v}


def _create(settings: CreateSettings, cfg: NatsExporterConfig) -> NatsExporter:
    return NatsExporter(settings, cfg)


FACTORY = exporter_factory(
    "nats",
    NatsExporterConfig,
    _create,
    "Publishes batches to a NATS JetStream stream (success after the stream's PubAck).",
)
