"""The ``otlp`` receiver's join buffer: GenAI events (OTLP logs) meet the span they belong to.

An instrumentation that sends content as events exports spans and logs separately, in requests
of their own, in either order. The buffer holds the side that came first, keyed by trace and span
id, for at most ``join_wait``:

* events whose span has not come yet wait; the span, when it comes, takes them and goes on;
* a span of an LLM call without content waits for its events, but only if its service has
  sent GenAI events to this receiver before (an application that captures no content never
  waits); it goes on when the events that end a call arrive (``gen_ai.choice``, the
  operation-details event).

What waits longer is let go: a span is sent without content, events are dropped; both counted in
``gateway_receiver_joins_total{outcome}`` and logged at most every few seconds. At most
``max_pending`` spans and ``max_pending`` event groups wait; past that a span goes on at once
and new events are dropped (counted). At shutdown the waiting spans are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from gateway.errors import ConsumeError
from gateway.formats.otlp.decode_logs import GenAiEvent, apply_events
from gateway.model import Context, Kind, Record
from gateway.telemetry import RateLimitedLog, Telemetry

_log = logging.getLogger(__name__)
_SERVICE_NAME_EXTRA = "otlp.resource.service.name"
MIN_TICK = 0.05  # seconds between expiry checks, at least
MAX_TICK = 1.0  # and at most

Send = Callable[[list[Record], Context], Awaitable[None]]
Key = tuple[str, str]


@dataclass(slots=True)
class _Held:
    record: Record
    ctx: Context
    deadline: float
    events: list[GenAiEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    deadline: float
    events: list[GenAiEvent] = field(default_factory=list)


class JoinBuffer:
    def __init__(self, *, receiver: str, wait: float, max_pending: int, send: Send, telemetry: Telemetry) -> None:
        self._receiver = receiver
        self._wait = wait
        self._max = max_pending
        self._send = send
        self._count = telemetry.receiver_joins
        self._held: dict[Key, _Held] = {}
        self._pending: dict[Key, _Pending] = {}
        self._event_services: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._warn = RateLimitedLog(_log)

    def __len__(self) -> int:
        return len(self._held) + len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._expire_loop(), name=f"{self._receiver} join buffer")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        held, self._held = list(self._held.values()), {}
        self._pending.clear()
        for item in held:
            self._counted("span_flushed")
            await self.deliver([item.record], item.ctx)

    def spans(self, records: list[Record], ctx: Context) -> list[Record]:
        """The records to send now; the others wait for their events."""
        if not self._pending and not self._event_services:
            return records  # no events are waiting and no span would wait: nothing to look up
        out: list[Record] = []
        deadline = time.monotonic() + self._wait
        for record in records:
            key = (record.trace_id, record.span_id)
            pending = self._pending.pop(key, None)
            if pending is not None:
                apply_events(record, pending.events)
                self._counted("joined")
                out.append(record)
            elif self._waits(record):
                if len(self._held) >= self._max:
                    self._counted("span_not_held_full")
                    out.append(record)
                else:
                    self._held[key] = _Held(record, ctx, deadline)
            else:
                out.append(record)
        return out

    def concerns(self, services: Iterable[str], keys: Callable[[], Iterable[Key]]) -> bool:
        """Whether spans of these services, with these (trace id, span id) keys, could take
        waiting events or wait for theirs (``keys`` is called only while events wait)."""
        if self._wait > 0 and not self._event_services.isdisjoint(services):
            return True
        return bool(self._pending) and any(key in self._pending for key in keys())

    def events(self, events: list[GenAiEvent]) -> list[tuple[Record, Context]]:
        """Takes events; the waiting spans they complete, with content, to be sent."""
        released: list[tuple[Record, Context]] = []
        deadline = time.monotonic() + self._wait
        for event in events:
            if event.service:
                self._event_services.add(event.service)
            key = event.key
            held = self._held.get(key)
            if held is not None:
                held.events.append(event)
                if event.final:
                    del self._held[key]
                    apply_events(held.record, held.events)
                    self._counted("joined")
                    released.append((held.record, held.ctx))
                continue
            pending = self._pending.get(key)
            if pending is None:
                if len(self._pending) >= self._max:
                    self._counted("events_dropped_full")
                    self._warn.warning("full", "%s: join buffer full; GenAI events dropped", self._receiver)
                    continue
                pending = self._pending[key] = _Pending(deadline)
            pending.events.append(event)
        return released

    def _waits(self, record: Record) -> bool:
        if record.kind is not Kind.LLM or record.input or record.output or self._wait <= 0:
            return False
        return record.extra.get(_SERVICE_NAME_EXTRA, "") in self._event_services

    async def expire(self, now: float | None = None) -> None:
        """Lets go of what waited past its deadline."""
        now = time.monotonic() if now is None else now
        late = [key for key, item in self._held.items() if item.deadline <= now]
        for key in late:
            item = self._held.pop(key)
            if item.events:
                apply_events(item.record, item.events)  # input events came, the output never did
            self._counted("span_timeout")
            self._warn.warning(
                "span", "%s: no GenAI events came for a span within the join wait; sent without them", self._receiver
            )
            await self.deliver([item.record], item.ctx)
        stale = [key for key, item in self._pending.items() if item.deadline <= now]
        for key in stale:
            self._counted("events_expired", len(self._pending.pop(key).events))
        if stale:
            self._warn.warning("events", "%s: GenAI events whose span never came were dropped", self._receiver)

    async def _expire_loop(self) -> None:
        tick = max(MIN_TICK, min(MAX_TICK, self._wait / 10))
        while True:
            await asyncio.sleep(tick)
            try:
                await self.expire()
            except Exception:  # one bad record must not end the loop
                _log.exception("%s: join buffer expiry failed", self._receiver)

    async def deliver(self, records: list[Record], ctx: Context) -> None:
        try:
            await self._send(records, ctx)
        except ConsumeError as exc:
            # The client was answered long ago; nobody is left to retry.
            self._counted("span_refused", len(records))
            self._warn.warning("refused", "%s: a span held for its events was refused: %s", self._receiver, exc)

    def _counted(self, outcome: str, n: int = 1) -> None:
        self._count.labels(self._receiver, outcome).inc(n)
