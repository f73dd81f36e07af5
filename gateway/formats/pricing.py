"""USD cost of a model call, from the price table bundled with the ``genai-prices`` package.

Used where a wire needs a cost the source did not send (LumiqTrace's required ``cost_usd``).

* Offline only. Prices come from the data shipped inside the installed ``genai-prices`` wheel.
  The package fetches newer prices only when its ``UpdatePrices`` is started, which this module
  never does; it also prices against its own snapshot of the bundled data, so an updater started
  elsewhere in the process cannot change the gateway's numbers between two runs of one version.
* No guessing. A model the table does not know, a call without any token count, or counts the
  table rejects (cache reads above the input) give ``usd=None`` with a reason; callers decide
  what "unpriced" looks like on their wire. When the provider is empty or unknown to the table
  (LumiqTrace's ``custom``, a proxy name), the model id alone is matched; when the provider is
  known but does not list the model, the call is unpriced rather than priced as someone else's.
* Token semantics. genai-prices counts cache reads and writes inside ``input_tokens`` and bills
  them at their own rates; reasoning tokens inside ``output_tokens``. A record whose
  ``Usage.input_includes_cache`` is not True (Anthropic/Sigil style) therefore has its cache
  counts added to the input first, so the cache is never billed twice nor left out. Reasoning
  tokens are passed only when they fit inside the output count, so a model with a separate
  reasoning price bills them there and nothing is double counted. ``web_search_count`` is
  priced; image counts have no per-call price in the table and are ignored.

:class:`PriceTable` memoises the table lookup per ``(provider, model)``: pricing runs per record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from genai_prices import Usage as GenaiUsage
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, Provider

from gateway.model import Record, Usage

MAX_CACHED_MODELS: Final = 4096  # distinct (provider, model) pairs remembered; then the cache restarts
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

REASON_UNKNOWN_MODEL: Final = "unknown_model"
REASON_NO_USAGE: Final = "no_usage"
REASON_INVALID_USAGE: Final = "invalid_usage"


@dataclass(frozen=True, slots=True)
class Price:
    """A computed cost: ``usd`` is None when the call cannot be priced, and ``reason`` says why."""

    usd: float | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Counts:
    """What ``genai_usage`` hands genai-prices, as plain numbers (its ``Usage`` infers missing
    values on every attribute read, which is slow)."""

    input: int
    output: int | None
    cache_read: int
    cache_write: int
    reasoning: int | None
    web_searches: int

    @classmethod
    def of(cls, usage: Usage) -> _Counts | None:
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_write_input_tokens or 0
        input_tokens = usage.input_tokens or 0
        if usage.input_includes_cache is not True:
            input_tokens += cache_read + cache_write
        output = usage.output_tokens
        reasoning = usage.reasoning_tokens
        if not output or not reasoning or reasoning > output:
            reasoning = None  # outside the output count: cannot be split out without double counting
        return cls(input_tokens, output, cache_read, cache_write, reasoning, usage.web_search_count or 0)

    def genai(self) -> GenaiUsage:
        return GenaiUsage(
            input_tokens=self.input,
            output_tokens=self.output,
            cache_read_tokens=self.cache_read or None,
            cache_write_tokens=self.cache_write or None,
            output_reasoning_tokens=self.reasoning,
            web_searches=self.web_searches or None,
        )

    def ordinary(self) -> bool:
        """Inside the region where a flat price list is linear: whole non-negative counts, the
        cache inside the input (the table rejects or clamps the rest)."""
        values = (self.input, self.output or 0, self.cache_read, self.cache_write, self.reasoning or 0)
        return (
            all(type(v) is int and v >= 0 for v in values)
            and type(self.web_searches) is int
            and self.web_searches >= 0
            and self.input >= self.cache_read + self.cache_write
        )


def genai_usage(usage: Usage) -> GenaiUsage | None:
    """The usage in genai-prices' terms (input includes cache), or None when no token is known."""
    counts = _Counts.of(usage)
    return None if counts is None else counts.genai()


class PriceTable:
    """Prices model calls offline; one instance per exporter (it holds the lookup cache)."""

    def __init__(self) -> None:
        self._snapshot: data_snapshot.DataSnapshot | None = None
        self._models: dict[tuple[str, str], tuple[Provider, ModelInfo] | None] = {}
        # (provider, model, id of the prices in force) -> (those prices, kept alive; their rates)
        self._linear: dict[tuple[str, str, int], tuple[object, _Rates | None]] = {}

    def _table(self) -> data_snapshot.DataSnapshot:
        if self._snapshot is None:
            from genai_prices.data import providers  # ~0.5 s import: only when first needed

            self._snapshot = data_snapshot.DataSnapshot(providers=providers, from_auto_update=False)
        return self._snapshot

    def lookup(self, provider: str, model: str) -> tuple[Provider, ModelInfo] | None:
        """The table's provider and model for a call, or None when the model is not in the table."""
        key = (provider.strip().lower(), model)
        if key in self._models:
            return self._models[key]
        if len(self._models) >= MAX_CACHED_MODELS:
            # Unknown names are remembered by genai-prices too; a fresh snapshot bounds both.
            self._models.clear()
            self._linear.clear()
            self._snapshot = None
        table = self._table()
        provider_id = key[0] or None
        found: tuple[Provider, ModelInfo] | None = None
        if model:
            try:
                found = table.find_provider_model(model, None, provider_id, None)
            except LookupError:
                if provider_id is not None and data_snapshot.find_provider_by_id(table.providers, provider_id) is None:
                    try:
                        found = table.find_provider_model(model, None, None, None)
                    except LookupError:
                        found = None
        self._models[key] = found
        return found

    def price(self, provider: str, model: str, usage: Usage, *, start_ns: int | None = None) -> Price:
        """Cost of one call; ``start_ns`` picks the prices in force then (default: now)."""
        counts = _Counts.of(usage)
        if counts is None:
            return Price(None, REASON_NO_USAGE)
        genai: GenaiUsage | None = None
        if not counts.ordinary():
            checked = genai_usage_or_error(usage)
            if isinstance(checked, Price):
                return checked
            genai = checked
        found = self.lookup(provider, model)
        if found is None:
            return Price(None, REASON_UNKNOWN_MODEL)
        table_provider, table_model = found
        when = None
        if start_ns is not None:
            try:
                when = _EPOCH + timedelta(microseconds=start_ns // 1000)
            except OverflowError:
                when = None
        if genai is None:
            rates = self._rates(table_provider, table_model, when)
            if rates is not None:
                return Price(rates.apply(counts))
            genai = counts.genai()
        return _calc(table_provider, table_model, genai, when)

    def _rates(self, provider: Provider, model: ModelInfo, when: datetime | None) -> _Rates | None:
        """The linear form of the prices in force at ``when``, or None when they are not linear."""
        prices = model.get_prices(when or datetime.now(tz=UTC))
        key = (provider.id, model.id, id(prices))
        entry = self._linear.get(key)
        if entry is None:
            if len(self._linear) >= MAX_CACHED_MODELS:
                self._linear.clear()
            entry = (prices, _Rates.derive(provider, model, when))
            self._linear[key] = entry
        return entry[1]

    def price_record(self, record: Record) -> Price:
        return self.price(record.provider, record.model, record.usage, start_ns=record.start_ns)


def genai_usage_or_error(usage: Usage) -> GenaiUsage | Price:
    """:func:`genai_usage`, with the two reasons it can fail as an unpriced :class:`Price`."""
    try:
        counts = genai_usage(usage)
    except ValueError:  # negative or non-numeric counts
        return Price(None, REASON_INVALID_USAGE)
    return Price(None, REASON_NO_USAGE) if counts is None else counts


def _calc(provider: Provider, model: ModelInfo, counts: GenaiUsage, when: datetime | None) -> Price:
    total = _calc_decimal(provider, model, counts, when)
    return Price(None, REASON_INVALID_USAGE) if total is None else Price(float(total))


def _calc_decimal(provider: Provider, model: ModelInfo, counts: GenaiUsage, when: datetime | None) -> Decimal | None:
    try:
        calc = model.calc_price(counts, provider, genai_request_timestamp=when)
    except (ValueError, TypeError, ArithmeticError):  # counts the table's arithmetic rejects
        return None
    return calc.total_price


_PROBE: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class _Rates:
    """A price list as USD per request plus USD per unit of each count ``genai_usage`` sets.

    ``calc_price`` walks a generic unit registry with Decimal arithmetic (65-130 us a call); for a
    price list without tiers the cost is linear in the counts, so the rates are read once from
    ``calc_price`` itself (one probe per count) and every later call is a dot product (~4 us;
    ``python -m bench.micro``).
    Mixed probes must then agree with ``calc_price``, else the prices are treated as not linear
    and every call goes to ``calc_price`` (tests/formats/test_pricing.py checks every model of
    the bundled table).
    """

    base: Decimal
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    reasoning: Decimal
    web_search: Decimal

    def apply(self, c: _Counts) -> float:
        # Decimal like calc_price, so the float is the one calc_price's total rounds to.
        total = (
            self.base
            + self.input * c.input
            + self.output * (c.output or 0)
            + self.cache_read * c.cache_read
            + self.cache_write * c.cache_write
            + self.reasoning * (c.reasoning or 0)
            + self.web_search * c.web_searches
        )
        return float(total)

    @classmethod
    def derive(cls, provider: Provider, model: ModelInfo, when: datetime | None) -> _Rates | None:
        def cost(counts: _Counts) -> Decimal | None:
            return _calc_decimal(provider, model, counts.genai(), when)

        n = _PROBE
        probes = (
            cost(_Counts(0, 0, 0, 0, None, 0)),
            cost(_Counts(n, None, 0, 0, None, 0)),
            cost(_Counts(0, n, 0, 0, None, 0)),
            cost(_Counts(n, None, n, 0, None, 0)),
            cost(_Counts(n, None, 0, n, None, 0)),
            cost(_Counts(0, n, 0, 0, n, 0)),
            cost(_Counts(0, None, 0, 0, None, 1)),
        )
        if any(p is None for p in probes):
            return None
        base, i, o, icr, icw, orr, w = (p for p in probes if p is not None)
        rates = cls(
            base=base,
            input=(i - base) / n,
            output=(o - base) / n,
            cache_read=(icr - i) / n,
            cache_write=(icw - i) / n,
            reasoning=(orr - o) / n,
            web_search=w - base,
        )
        # Tiers, caps and anything else non-linear show up as a mismatch on a mixed call.
        for mixed in (
            _Counts(3_700_001, 2_300_003, 1_100_007, 500_009, 700_011, 3),
            _Counts(1324, 143, 512, 0, None, 0),
            _Counts(250_000, 1, 0, 0, None, 0),
        ):
            expected = cost(mixed)
            if expected is None or not math.isclose(rates.apply(mixed), float(expected), rel_tol=1e-12, abs_tol=1e-15):
                return None
        return rates
