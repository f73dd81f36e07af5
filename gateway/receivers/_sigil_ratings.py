"""Where the sigil receiver keeps conversation ratings, so that it can answer like the server.

Sigil answers a rating with the stored rating *and the conversation's summary* (counts, latest
rating, latest bad rating), and it recognises a resent ``rating_id``: the same payload returns
the stored rating (200), another payload is ``409 idempotency conflict``. The SDK refuses a
reply without the summary, so the gateway keeps the state itself instead of waiting for the
backend, which it reaches later and perhaps not at all.

The store is in memory, per receiver, keyed by tenant: it knows the ratings this process
accepted. The tenant is the authenticated one when the receiver has an authenticator, so a
tenant reads and replays only its own ratings. What is kept is the rating as the pipeline's
processors left it (``content`` blanks comments, ``redact`` masks them), so a read never shows
what they took out; resends are recognised by comparing with the rating as it was received.

It is bounded: at most ``max_conversations`` conversations and ``max_bytes`` in all (the least
recently rated conversation is forgotten first), and ``max_ratings_per_conversation`` ratings
each (the oldest is forgotten first; the summary's counts keep including it). A forgotten
rating, or one from before a restart, is not recognised as a resend; the backend still is,
since ratings are forwarded with their ids.
"""

from __future__ import annotations

import collections
import dataclasses

import orjson

from gateway.formats.sigil.scores import RatingInvalid, RatingSummary
from gateway.model import Rating
from gateway.units import ByteSize

DEFAULT_MAX_CONVERSATIONS = 10_000
DEFAULT_MAX_RATINGS_PER_CONVERSATION = 100
DEFAULT_PAGE_LIMIT = 50  # the server's defaults for GET …/ratings
MAX_PAGE_LIMIT = 200
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_OVERHEAD = 400  # bytes a rating costs besides its strings: objects, dict slots, the deque


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RatingsConfig:
    enabled: bool = True  # off: the ratings route answers 404, as a server with ratings off
    max_conversations: int = DEFAULT_MAX_CONVERSATIONS  # conversations remembered, LRU
    max_ratings_per_conversation: int = DEFAULT_MAX_RATINGS_PER_CONVERSATION  # ratings kept each
    max_bytes: ByteSize = ByteSize(DEFAULT_MAX_BYTES)  # memory for all ratings (estimated), LRU past it

    def validate(self) -> list[str]:
        problems = []
        if self.max_bytes < 64 * 1024:
            problems.append("max_bytes: must be at least 64KiB")
        if self.max_conversations < 1:
            problems.append("max_conversations: must be at least 1")
        if self.max_ratings_per_conversation < 1:
            problems.append("max_ratings_per_conversation: must be at least 1")
        return problems


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRating:
    rating: Rating  # as the processors left it: what reads and replies show
    sent_as: Rating  # as the client sent it: what a resend is compared with
    size: int  # estimated bytes held


def _size(r: Rating) -> int:
    texts = (r.id, r.conversation_id, r.comment, r.generation_id, r.rater_id, r.source)
    metadata = len(orjson.dumps(r.metadata, default=str)) if r.metadata else 0
    return _OVERHEAD + sum(len(t) for t in texts) + metadata


@dataclasses.dataclass(slots=True)
class _Conversation:
    ratings: collections.deque[StoredRating] = dataclasses.field(default_factory=collections.deque)  # oldest first
    summary: RatingSummary = dataclasses.field(default_factory=RatingSummary)
    size: int = 0


class RatingStore:
    """Bounded ratings by tenant (see the module docstring). Not thread-safe: one event loop."""

    def __init__(self, cfg: RatingsConfig) -> None:
        self._cfg = cfg
        self._conversations: collections.OrderedDict[tuple[str, str], _Conversation] = collections.OrderedDict()
        self._by_id: dict[tuple[str, str], StoredRating] = {}
        self.size = 0  # estimated bytes held

    def get(self, tenant: str, rating_id: str) -> StoredRating | None:
        return self._by_id.get((tenant, rating_id))

    def summary(self, tenant: str, conversation_id: str) -> RatingSummary:
        conv = self._conversations.get((tenant, conversation_id))
        return dataclasses.replace(conv.summary) if conv is not None else RatingSummary()

    def add(self, tenant: str, rating: Rating, *, sent_as: Rating | None = None) -> StoredRating:
        """Records a new rating (the caller checked that its id is unknown): ``rating`` as the
        processors left it, ``sent_as`` as received when they changed it."""
        size = _size(rating) + (_size(sent_as) if sent_as is not None and sent_as is not rating else 0)
        entry = StoredRating(rating, sent_as if sent_as is not None else rating, size)
        key = (tenant, rating.conversation_id)
        conv = self._conversations.get(key)
        if conv is None:
            while len(self._conversations) >= self._cfg.max_conversations:
                self._evict_conversation()
            conv = self._conversations[key] = _Conversation()
        else:
            self._conversations.move_to_end(key)
        if len(conv.ratings) >= self._cfg.max_ratings_per_conversation:
            self._drop_oldest(tenant, conv)
        conv.ratings.append(entry)
        conv.size += size
        self.size += size
        conv.summary.add(rating)
        self._by_id[(tenant, rating.id)] = entry
        # The byte budget: other conversations go first, least recently rated first; then this
        # one's oldest ratings (its summary keeps counting them).
        while self.size > self._cfg.max_bytes and len(self._conversations) > 1:
            self._evict_conversation()
        while self.size > self._cfg.max_bytes and len(conv.ratings) > 1:
            self._drop_oldest(tenant, conv)
        return entry

    def _evict_conversation(self) -> None:
        (tenant, _), evicted = self._conversations.popitem(last=False)
        for old in evicted.ratings:
            self._by_id.pop((tenant, old.rating.id), None)
        self.size -= evicted.size

    def _drop_oldest(self, tenant: str, conv: _Conversation) -> None:
        old = conv.ratings.popleft()
        self._by_id.pop((tenant, old.rating.id), None)
        conv.size -= old.size
        self.size -= old.size

    def page(self, tenant: str, conversation_id: str, limit: int, cursor: int) -> tuple[list[Rating], int]:
        """Newest first, ``limit`` from offset ``cursor``; the next cursor, 0 at the end."""
        conv = self._conversations.get((tenant, conversation_id))
        rows = [e.rating for e in reversed(conv.ratings)] if conv is not None else []
        end = min(cursor + limit, len(rows))
        return rows[cursor:end], (end if end < len(rows) else 0)


def parse_page(limit: str, cursor: str) -> tuple[int, int]:
    """``limit`` and ``cursor`` query values as the server reads them; raises RatingInvalid."""
    limit, cursor = limit.strip(), cursor.strip()
    page = DEFAULT_PAGE_LIMIT
    if limit:
        if not _is_int(limit) or int(limit) <= 0:
            raise RatingInvalid("invalid limit")
        page = min(int(limit), MAX_PAGE_LIMIT)
    offset = 0
    if cursor:
        if not cursor.isascii() or not cursor.isdigit() or int(cursor) >= 2**64:
            raise RatingInvalid("invalid cursor")
        offset = int(cursor)
    return page, offset


def _is_int(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isascii() and digits.isdigit()
