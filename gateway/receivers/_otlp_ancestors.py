"""The ``otlp`` receiver's ``keep_genai_ancestors`` mode: non-GenAI spans that are ancestors of
GenAI spans travel with them, so trees stay whole downstream (a forwarded GenAI span points at a
parent that arrives too); other non-GenAI spans are still refused.

A parent span ends after its children, so it usually comes in a later request. The receiver
remembers the parent ids of the GenAI spans (and of the ancestors it kept) for ``ANCESTOR_TTL``
seconds, at most ``max_pending`` of them (the oldest forgotten first); a non-GenAI span whose id is
remembered is kept, as a pass-through record. A parent that comes before any of its GenAI
descendants is not known to be one and is refused.

The cost: the non-GenAI spans of those trees (HTTP handlers, framework spans) go downstream as
pass-through records, which only ``otlp`` exporters send; and one remembered id per GenAI span.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gateway.formats.otlp import is_passthrough
from gateway.model import Record

ANCESTOR_TTL = 300.0  # seconds a parent id is remembered (a long agent run's root ends late)

Key = tuple[str, str]


class Ancestors:
    def __init__(self, max_pending: int, ttl: float = ANCESTOR_TTL) -> None:
        self._max = max_pending
        self._ttl = ttl
        self._wanted: OrderedDict[Key, float] = OrderedDict()  # (trace, span id) -> deadline

    def __len__(self) -> int:
        return len(self._wanted)

    def filter(self, records: list[Record]) -> tuple[list[Record], int]:
        """The GenAI records and the pass-through ones that are wanted ancestors; how many others
        were refused."""
        now = time.monotonic()
        while self._wanted and next(iter(self._wanted.values())) <= now:
            self._wanted.popitem(last=False)
        genai = [r for r in records if not is_passthrough(r)]
        others = {(r.trace_id, r.span_id): r for r in records if is_passthrough(r)}
        for record in genai:
            self._want(record, now)
        kept: list[Record] = []
        # Walk up within the request too: a kept span's own parent may be in the same request.
        progress = True
        while progress:
            progress = False
            for key in [k for k in others if k in self._wanted]:
                record = others.pop(key)
                del self._wanted[key]
                kept.append(record)
                self._want(record, now)
                progress = True
        return genai + kept, len(others)

    def _want(self, record: Record, now: float) -> None:
        if not record.parent_span_id:
            return
        key = (record.trace_id, record.parent_span_id)
        self._wanted[key] = now + self._ttl
        self._wanted.move_to_end(key)
        while len(self._wanted) > self._max:
            self._wanted.popitem(last=False)
