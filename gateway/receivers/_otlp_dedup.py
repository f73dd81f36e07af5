"""The ``otlp`` receiver's de-duplication of one model call reported by two instrumentations.

Some instrumentations overlap and both are on by default: OpenLLMetry's (Traceloop) anthropic
instrumentation and the anthropic SDK's own tracing each send a span for the same call, which
downstream would be two generations (twice the tokens, twice the cost). A *pair* names the two
instrumentation scopes; records from them are compared, and one call reported twice is sent once.

Two records are the same call when they come from the two scopes of a pair, have the same
provider and requested model, overlap in time, and agree on what both of them say of the response
id, the input and output token counts and the outcome. The record of the pair's first scope is
kept and takes from the other whatever it lacks (tool definitions, cache counts, ...).

A record of a pair's scope waits up to ``wait`` for its twin, but only once the other scope of its
pair has been seen by this receiver (an application running one of the two never waits). A twin
arriving after its partner was sent is dropped (it is remembered for ``wait``). At most
``max_pending`` records wait or are remembered; past that they go on unchecked. Each merge is
counted in ``gateway_receiver_joins_total{outcome="duplicate_merged"}`` (or
``duplicate_dropped`` for a late twin).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.errors import ConsumeError
from gateway.model import Context, Kind, Record, Usage
from gateway.telemetry import RateLimitedLog, Telemetry

_log = logging.getLogger(__name__)
SCOPE_EXTRA = "otlp.scope.name"
MIN_TICK = 0.05  # seconds between expiry checks, at least
MAX_TICK = 1.0  # and at most

Send = Callable[[list[Record], Context], Awaitable[None]]


@dataclass(slots=True)
class _Waiting:
    record: Record
    ctx: Context
    deadline: float
    sent: bool  # already sent: only remembered, to drop a late twin


class Dedup:
    def __init__(
        self,
        *,
        receiver: str,
        pairs: Sequence[Sequence[str]],
        wait: float,
        max_pending: int,
        send: Send,
        telemetry: Telemetry,
    ) -> None:
        self._receiver = receiver
        self._wait = wait
        self._max = max_pending
        self._send = send
        self._count = telemetry.receiver_joins
        # scope -> (its partner, whether it is the pair's preferred scope)
        self._partner: dict[str, tuple[str, bool]] = {}
        for first, second in pairs:
            self._partner[first] = (second, True)
            self._partner[second] = (first, False)
        self._seen: set[str] = set()
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None
        self._warn = RateLimitedLog(_log)

    def __len__(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        if self._task is None and self._partner:
            self._task = asyncio.create_task(self._expire_loop(), name=f"{self._receiver} dedup")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.expire(float("inf"))

    def watches(self, scopes: Iterable[str]) -> bool:
        """Whether records from any of these instrumentation scopes would be compared."""
        return not self._partner.keys().isdisjoint(scopes)

    def records(self, records: list[Record], ctx: Context) -> list[Record]:
        """The records to send now: the others wait for their twin or were one."""
        out: list[Record] = []
        now = time.monotonic()
        for record in records:
            scope = record.extra.get(SCOPE_EXTRA)
            if record.kind is not Kind.LLM or not isinstance(scope, str) or scope not in self._partner:
                out.append(record)
                continue
            self._seen.add(scope)
            partner, preferred = self._partner[scope]
            candidates = (w for w in self._waiting if w.record.extra.get(SCOPE_EXTRA) == partner)
            twin = next((w for w in candidates if same_call(w.record, record)), None)
            if twin is not None:
                self._waiting.remove(twin)
                if twin.sent:
                    self._counted("duplicate_dropped")
                    continue
                kept, other = (record, twin.record) if preferred else (twin.record, record)
                merge(kept, other)
                self._counted("duplicate_merged")
                out.append(kept)
            elif len(self._waiting) >= self._max:
                self._counted("duplicate_not_held_full")
                out.append(record)
            elif partner in self._seen and self._wait > 0:
                self._waiting.append(_Waiting(record, ctx, now + self._wait, sent=False))
            else:
                self._waiting.append(_Waiting(record, ctx, now + self._wait, sent=True))
                out.append(record)
        return out

    async def expire(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        due = [w for w in self._waiting if w.deadline <= now]
        if not due:
            return
        self._waiting = [w for w in self._waiting if w.deadline > now]
        for item in due:
            if item.sent:
                continue
            self._counted("duplicate_not_found")
            try:
                await self._send([item.record], item.ctx)
            except ConsumeError as exc:
                self._counted("span_refused")
                self._warn.warning("refused", "%s: a span held for its twin was refused: %s", self._receiver, exc)

    async def _expire_loop(self) -> None:
        tick = max(MIN_TICK, min(MAX_TICK, self._wait / 10))
        while True:
            await asyncio.sleep(tick)
            try:
                await self.expire()
            except Exception:  # one bad record must not end the loop
                _log.exception("%s: dedup expiry failed", self._receiver)

    def _counted(self, outcome: str) -> None:
        self._count.labels(self._receiver, outcome).inc()


def same_call(a: Record, b: Record) -> bool:
    """Whether two records from a pair's scopes report one model call (see the module docstring)."""
    if (a.provider, a.model) != (b.provider, b.model) or a.status is not b.status:
        return False
    if None in (a.start_ns, a.end_ns, b.start_ns, b.end_ns):
        return False
    assert a.start_ns is not None and a.end_ns is not None and b.start_ns is not None and b.end_ns is not None
    if a.start_ns > b.end_ns or b.start_ns > a.end_ns:
        return False
    if a.response_id and b.response_id and a.response_id != b.response_id:
        return False
    for name in ("input_tokens", "output_tokens"):
        x, y = getattr(a.usage, name), getattr(b.usage, name)
        if x is not None and y is not None and x != y:
            return False
    return True


_SKIP = frozenset({"id", "trace_id", "span_id", "parent_span_id", "name", "extra", "usage", "kind", "status"})


def merge(kept: Record, other: Record) -> None:
    """Fills what ``kept`` lacks from ``other``: empty fields, unknown counts, extra keys."""
    default = Record()
    for f in dataclasses.fields(Record):
        if f.name in _SKIP:
            continue
        mine = getattr(kept, f.name)
        if mine == getattr(default, f.name) and getattr(other, f.name) != mine:
            setattr(kept, f.name, getattr(other, f.name))
    for f in dataclasses.fields(Usage):
        if getattr(kept.usage, f.name) is None:
            setattr(kept.usage, f.name, getattr(other.usage, f.name))
    for key, value in other.extra.items():
        kept.extra.setdefault(key, value)
