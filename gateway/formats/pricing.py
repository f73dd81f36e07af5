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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def genai_usage(usage: Usage) -> GenaiUsage | None:
    """The usage in genai-prices' terms (input includes cache), or None when no token is known."""
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
    return GenaiUsage(
        input_tokens=input_tokens,
        output_tokens=output,
        cache_read_tokens=cache_read or None,
        cache_write_tokens=cache_write or None,
        output_reasoning_tokens=reasoning,
        web_searches=usage.web_search_count or None,
    )


class PriceTable:
    """Prices model calls offline; one instance per exporter (it holds the lookup cache)."""

    def __init__(self) -> None:
        self._snapshot: data_snapshot.DataSnapshot | None = None
        self._models: dict[tuple[str, str], tuple[Provider, ModelInfo] | None] = {}

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
        counts = genai_usage_or_error(usage)
        if isinstance(counts, Price):
            return counts
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
        try:
            calc = table_model.calc_price(counts, table_provider, genai_request_timestamp=when)
        except (ValueError, TypeError, ArithmeticError):  # counts the table's arithmetic rejects
            return Price(None, REASON_INVALID_USAGE)
        return Price(float(calc.total_price))

    def price_record(self, record: Record) -> Price:
        return self.price(record.provider, record.model, record.usage, start_ns=record.start_ns)


def genai_usage_or_error(usage: Usage) -> GenaiUsage | Price:
    """:func:`genai_usage`, with the two reasons it can fail as an unpriced :class:`Price`."""
    try:
        counts = genai_usage(usage)
    except ValueError:  # negative or non-numeric counts
        return Price(None, REASON_INVALID_USAGE)
    return Price(None, REASON_NO_USAGE) if counts is None else counts
