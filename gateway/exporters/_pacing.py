"""Client-side pacing: a token bucket that makes senders wait instead of being refused.

Backends with a per-key rate limit (Foglamp: 100 spans/s; LumiqTrace: 1000 requests/min) answer
429 past it. Waiting here first keeps a backlog flowing at the allowed rate instead of bouncing
off the limit and backing off exponentially. The bucket mirrors the server's: it starts full,
refills continuously, and a cost above the capacity is clamped to it (Foglamp charges a big batch
"the whole window", never refuses it forever).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` banked; :meth:`take` waits for tokens."""

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._last = clock()
        # Waiters queue on the lock, so senders are served in arrival order and a big cost is
        # not starved by a stream of small ones.
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def take(self, cost: float) -> float:
        """Takes ``cost`` tokens (clamped to [1, capacity]), waiting as needed; returns the wait."""
        cost = min(max(cost, 1.0), self.capacity)
        async with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < cost:
                waited = (cost - self._tokens) / self.rate
                await self._sleep(waited)
                self._refill()
            # After the wait the refill covers the cost; `max` absorbs a clock that ran short.
            self._tokens = max(0.0, self._tokens - cost)
            return waited
