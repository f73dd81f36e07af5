"""``nats`` receiver: a durable pull consumer on a JetStream stream, feeding its pipelines.

Each message is one batch (see :mod:`gateway.nats_encodings` for the bodies; the
``Gateway-Encoding`` header says which, so one stream may carry several). The request context
comes from the headers the nats exporter wrote (``Gateway-Tenant``, ``Gateway-Header-<name>``);
the transport is ``nats`` and the receiver is this one.

A message is acknowledged only after its pipelines accepted it, that is when every exporter
took it: with an exporter's sending queue disabled that means delivered (the exporter's retries
run while the message is held, and the receiver tells the server it is still working on it, so
``ack_wait`` does not run out); with a persistent queue, on this gateway's disk; with a memory
queue, only in memory. Then:

* a retryable refusal (a backend down past the exporter's retries, a full queue, the memory
  limit) naks the message with a delay (``retry_after`` when the refusal has one, else
  ``nak_delay`` doubling per delivery up to ``max_nak_delay``): it comes back later, to this
  gateway or another;
* a permanent refusal, or a body that does not decode, terminates the message: counted in
  ``gateway_receiver_refused_records_total{transport="nats"}``, logged, and first published to
  ``dead_letter_subject`` when one is set (same body and headers, plus
  ``Gateway-Dead-Letter-Reason``);
* a message not acknowledged in time (this gateway died) is redelivered by the server after
  ``ack_wait``. So delivery is at least once: a gateway killed between its exporter's success and
  the ack delivers that message twice.

When every consumer of the receiver takes the native batch a body's format hands on untranslated
(``otlp_proto`` bodies of spans the records path would give back unchanged, ``sigil_proto``
generations the Sigil server takes; ``MessageCodec.native_decoders``), the body goes on as it
came, without records; any other body is decoded into records.

Gateways sharing one ``durable`` share its messages: each fetches up to ``fetch_size`` at a time,
at most ``max_ack_pending`` unacknowledged across all of them.

.. code-block:: yaml

    receivers:
      nats:
        url: [nats://nats-0:4222, nats://nats-1:4222, nats://nats-2:4222]
        stream: LLM_TELEMETRY
        durable: gateway-backend
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any, Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from gateway.component import Consumer, ReceiverSettings, receiver_factory
from gateway.errors import ConsumeError, RetryableError
from gateway.exporters._helper import REPORT_FAILURES
from gateway.exporters.nats import (
    DEFAULT_STREAM,
    DEFAULT_TIMEOUT,
    HEADER_KEPT_PREFIX,
    HEADER_TENANT,
)
from gateway.formats import MessageItems
from gateway.model import Context
from gateway.nats_client import DEFAULT_URL, NatsAuthConfig, NatsTlsConfig, connect, url_problems
from gateway.nats_encodings import HEADER, UndecodableBody, decode, decode_native
from gateway.receivers._common import deliver, refusal_reason
from gateway.telemetry import RateLimitedLog
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_DURABLE: Final = "gateway"
DEFAULT_ACK_WAIT: Final = 30.0
DEFAULT_MAX_ACK_PENDING: Final = 1000
DEFAULT_FETCH_SIZE: Final = 16
DEFAULT_FETCH_WAIT: Final = 1.0
DEFAULT_NAK_DELAY: Final = 1.0
DEFAULT_MAX_NAK_DELAY: Final = 60.0
RESUBSCRIBE_WAIT: Final = 1.0  # seconds between attempts to bind the consumer
TRANSPORT: Final = "nats"
HEADER_DEAD_LETTER_REASON: Final = "Gateway-Dead-Letter-Reason"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NatsReceiverConfig:
    url: Any = DEFAULT_URL  # a server URL, or a list of them (a cluster); nats:// or tls://
    stream: str = DEFAULT_STREAM  # the stream to consume (created by the nats exporter)
    subject: str = ""  # filter subject (wildcards allowed); empty: every subject of the stream
    durable: str = DEFAULT_DURABLE  # consumer name; gateways sharing it share the messages
    max_ack_pending: int = DEFAULT_MAX_ACK_PENDING  # unacknowledged messages across the durable
    ack_wait: Duration = Duration(DEFAULT_ACK_WAIT)  # redelivery after this without an ack (a dead gateway)
    max_deliver: int = 0  # deliveries of one message before the server gives up; 0 = no limit
    fetch_size: int = DEFAULT_FETCH_SIZE  # messages fetched, and worked on concurrently, at once
    fetch_wait: Duration = Duration(DEFAULT_FETCH_WAIT)  # how long one fetch waits for messages
    nak_delay: Duration = Duration(DEFAULT_NAK_DELAY)  # redelivery delay after a retryable refusal
    max_nak_delay: Duration = Duration(DEFAULT_MAX_NAK_DELAY)  # cap of that delay, doubling per delivery
    dead_letter_subject: str = ""  # where terminated messages are published first; empty: nowhere
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # Gateway-Header-* names to keep
    auth: NatsAuthConfig = dataclasses.field(default_factory=NatsAuthConfig)  # one of token, user, NKey, creds
    tls: NatsTlsConfig = dataclasses.field(default_factory=NatsTlsConfig)  # TLS to the servers
    timeout: Duration = Duration(DEFAULT_TIMEOUT)  # connect and JetStream API calls, seconds

    def validate(self) -> list[str]:
        problems = url_problems(self.url)
        if not self.stream.strip():
            problems.append("stream: must not be empty")
        if not self.durable.strip() or any(c in self.durable for c in " .*>"):
            problems.append("durable: must be non-empty without spaces, dots, * or >")
        if self.max_ack_pending < 1:
            problems.append("max_ack_pending: must be at least 1")
        if self.fetch_size < 1:
            problems.append("fetch_size: must be at least 1")
        if self.max_deliver < 0:
            problems.append("max_deliver: must not be negative")
        if self.ack_wait < 1:
            problems.append("ack_wait: must be at least 1s")
        if self.fetch_wait <= 0:
            problems.append("fetch_wait: must be greater than 0")
        if self.max_nak_delay < self.nak_delay:
            problems.append("max_nak_delay: must not be less than nak_delay")
        return problems


class NatsReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: NatsReceiverConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._next = next_
        self._nc = Client()
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._warn = RateLimitedLog(log)
        self._keep = {name.lower() for name in cfg.keep_headers}
        # Bodies handed on untranslated when every consumer takes their native kind.
        self._native = settings.native
        if self._native:
            kinds = ", ".join(sorted(self._native))
            log.info("%s: message bodies of %s pass on as they came when their format would", self._id, kinds)

    async def start(self) -> None:
        if self._task is None:
            self._closing.clear()
            self._task = asyncio.create_task(self._run(), name=f"{self._id}-consume")

    async def shutdown(self) -> None:
        """Stops fetching, finishes (acks or naks) the messages in hand, closes the connection.
        Cut short by the service's deadline, what was not acknowledged is redelivered."""
        self._closing.set()
        task, self._task = self._task, None
        try:
            if task is not None:
                try:
                    await task
                except asyncio.CancelledError:
                    task.cancel()
                    raise
        finally:
            if not self._nc.is_closed:
                await self._nc.close()

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._consume()
        except Exception:  # never silently: without this task the receiver takes nothing
            log.exception("receiver %s: consumer stopped", self._id)
            raise

    async def _consume(self) -> None:
        cfg = self._cfg
        connecting = asyncio.create_task(
            connect(self._nc, cfg.url, cfg.auth, cfg.tls, name=f"gateway {self._id}", timeout=float(cfg.timeout))
        )
        closing = asyncio.create_task(self._closing.wait())
        await asyncio.wait({connecting, closing}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            await asyncio.wait({connecting, closing})
            return
        closing.cancel()
        connecting.result()
        sub = await self._subscribe()
        # Up to fetch_size messages in hand; a slot freed by one is filled by the next fetch, so a
        # message whose delivery is slow (exporter retries) does not hold up the others.
        in_hand: set[asyncio.Task[None]] = set()
        try:
            while sub is not None and not self._closing.is_set():
                if len(in_hand) >= cfg.fetch_size:
                    _, in_hand = await asyncio.wait(in_hand, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs = await sub.fetch(cfg.fetch_size - len(in_hand), timeout=float(cfg.fetch_wait))
                except nats.errors.TimeoutError:
                    continue
                except (nats.errors.Error, TimeoutError) as exc:  # a reconnect, a node going away
                    self._warn.warning("fetch", "receiver %s: fetch failed: %r", self._id, exc)
                    await self._sleep(RESUBSCRIBE_WAIT)
                    # Bind again: a consumer that was deleted (or lost with its servers) is recreated.
                    with contextlib.suppress(nats.errors.Error, TimeoutError):
                        await sub.unsubscribe()
                    sub = await self._subscribe()
                    continue
                in_hand.update(asyncio.create_task(self._handle_safely(m)) for m in msgs)
                in_hand = {t for t in in_hand if not t.done()}
        except asyncio.CancelledError:
            # Shutdown's deadline: stop now; what was not acknowledged is redelivered.
            for task in in_hand:
                task.cancel()
            if in_hand:
                await asyncio.wait(in_hand)
            raise
        if in_hand:  # closing: finish what is in hand (ack or nak)
            await asyncio.wait(in_hand)

    async def _subscribe(self) -> Any:
        """Binds the durable (creating it when absent); waits for the stream to exist."""
        cfg = self._cfg
        config = api.ConsumerConfig(
            durable_name=cfg.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=float(cfg.ack_wait),
            max_ack_pending=cfg.max_ack_pending,
            max_deliver=cfg.max_deliver or -1,
            filter_subject=cfg.subject or None,
        )
        while not self._closing.is_set():
            try:
                return await self._nc.jetstream(timeout=float(cfg.timeout)).pull_subscribe(
                    cfg.subject, durable=cfg.durable, stream=cfg.stream, config=config
                )
            except (nats.errors.Error, TimeoutError) as exc:
                self._warn.warning(
                    "subscribe",
                    "receiver %s: cannot bind consumer %s on %s yet: %r",
                    self._id,
                    cfg.durable,
                    cfg.stream,
                    exc,
                )
                await self._sleep(RESUBSCRIBE_WAIT)
        return None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- one message -------------------------------------------------------------------------

    async def _handle_safely(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except Exception as exc:  # a bug downstream: keep the message (redelivered later), keep going
            log.exception("receiver %s: unexpected error on message %s", self._id, msg.metadata.sequence.stream)
            await self._nak(msg, RetryableError(f"unexpected {type(exc).__name__}"))

    async def _handle(self, msg: Msg) -> None:
        headers = msg.headers or {}
        kind = headers.get(HEADER, "")
        native = decode_native(kind, msg.data, self._native) if self._native else None
        decoded = MessageItems([])
        if native is None:
            try:
                decoded = decode(kind, msg.data)
            except UndecodableBody as exc:
                self._t.receiver_refused.labels(self._id, TRANSPORT, "bad_input").inc()
                await self._terminate(msg, str(exc))
                return
            if decoded.rejected:
                self._t.receiver_refused.labels(self._id, TRANSPORT, "bad_input").inc(decoded.rejected)
                self._warn.warning("rejected", "receiver %s: %d items of a message refused", self._id, decoded.rejected)
        ctx = Context(
            receiver=self._id,
            transport=TRANSPORT,
            tenant=headers.get(HEADER_TENANT, ""),
            headers={
                name: value
                for key, value in headers.items()
                if key.startswith(HEADER_KEPT_PREFIX) and (name := key[len(HEADER_KEPT_PREFIX) :].lower()) in self._keep
            },
        )
        keepalive = asyncio.create_task(self._in_progress(msg))
        token = REPORT_FAILURES.set(True)  # an exporter without a queue reports what it gave up on
        try:
            await deliver(
                self._next,
                decoded.records if native is None else None,
                ctx,
                self._t,
                self._id,
                scores=decoded.scores,
                ratings=decoded.ratings,
                native=native,
            )
        except RetryableError as exc:
            await self._nak(msg, exc)
            return
        except ConsumeError as exc:
            await self._terminate(msg, f"{refusal_reason(exc)}: {exc}")
            return
        finally:
            REPORT_FAILURES.reset(token)
            keepalive.cancel()
        await self._reply(msg, msg.ack())

    async def _in_progress(self, msg: Msg) -> None:
        """Tells the server the message is being worked on (exporter retries may outlast ack_wait)."""
        interval = max(0.5, float(self._cfg.ack_wait) / 3)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(nats.errors.Error):
                await msg.in_progress()

    async def _nak(self, msg: Msg, exc: RetryableError) -> None:
        delay = exc.retry_after
        if delay is None:
            deliveries = msg.metadata.num_delivered or 1
            delay = min(float(self._cfg.max_nak_delay), float(self._cfg.nak_delay) * 2 ** min(deliveries - 1, 30))
        self._warn.warning("nak", "receiver %s: redelivery in %.1fs: %s", self._id, delay, exc)
        await self._reply(msg, msg.nak(delay))

    async def _terminate(self, msg: Msg, reason: str) -> None:
        subject = self._cfg.dead_letter_subject
        if subject:
            headers = {**(msg.headers or {}), HEADER_DEAD_LETTER_REASON: reason[:500].replace("\n", " ")}
            headers.pop("Nats-Msg-Id", None)  # the dead-letter stream has its own duplicate window
            try:
                await self._nc.jetstream().publish(subject, msg.data, headers=headers, timeout=float(self._cfg.timeout))
            except nats.js.errors.NoStreamResponseError:
                await self._nc.publish(subject, msg.data, headers=headers)  # no stream: subscribers only
            except (nats.errors.Error, TimeoutError) as exc:
                self._warn.warning("dlq", "receiver %s: dead-letter publish failed, retrying later: %r", self._id, exc)
                await self._reply(msg, msg.nak(float(self._cfg.nak_delay)))
                return
        self._warn.warning(
            "term", "receiver %s: message %s terminated: %s", self._id, msg.metadata.sequence.stream, reason
        )
        await self._reply(msg, msg.term())

    async def _reply(self, msg: Msg, reply: Any) -> None:
        try:
            await reply
        except nats.errors.Error as exc:  # the server redelivers after ack_wait
            self._warn.warning("ack", "receiver %s: cannot answer a message: %r", self._id, exc)


def _create(settings: ReceiverSettings, cfg: NatsReceiverConfig, next_: Consumer) -> NatsReceiver:
    return NatsReceiver(settings, cfg, next_)


FACTORY = receiver_factory(
    "nats",
    NatsReceiverConfig,
    _create,
    "Consumes batches from a NATS JetStream stream (durable pull consumer, ack after delivery).",
)
