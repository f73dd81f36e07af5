"""Offline pricing with genai-prices' bundled table: hand-checked arithmetic and the unpriced rule."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from gateway.formats import pricing
from gateway.formats.pricing import Price, PriceTable, genai_usage
from gateway.model import Record, Usage

T0_NS = 1_776_679_200_000_000_000  # 2026-04-20T10:00:00Z


@pytest.fixture
def table() -> PriceTable:
    return PriceTable()


def test_gpt_4o_with_cache_reads(table: PriceTable) -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per million tokens.
    # Inclusive usage (OpenAI, Foglamp): 1000 input of which 200 cached, 500 output
    # = 800 x 2.50e-6 + 200 x 1.25e-6 + 500 x 10e-6 = 0.002 + 0.00025 + 0.005
    usage = Usage(input_tokens=1000, cache_read_input_tokens=200, output_tokens=500, input_includes_cache=True)
    assert table.price("openai", "gpt-4o", usage, start_ns=T0_NS).usd == pytest.approx(0.00725, rel=1e-12)


def test_claude_sonnet_4_with_cache_reads_and_writes(table: PriceTable) -> None:
    # claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million.
    # Anthropic/Sigil usage: 1000 uncached input, 2000 cache reads, 500 cache writes, 300 output
    # = 1000 x 3e-6 + 2000 x 0.3e-6 + 500 x 3.75e-6 + 300 x 15e-6 = 0.003 + 0.0006 + 0.001875 + 0.0045
    exclusive = Usage(input_tokens=1000, cache_read_input_tokens=2000, cache_write_input_tokens=500, output_tokens=300)
    expected = 0.009975
    assert table.price("anthropic", "claude-sonnet-4", exclusive).usd == pytest.approx(expected, rel=1e-12)
    # The same call with the cache counted inside the input costs the same: nothing billed twice.
    inclusive = Usage(
        input_tokens=3500,
        cache_read_input_tokens=2000,
        cache_write_input_tokens=500,
        output_tokens=300,
        input_includes_cache=True,
    )
    assert table.price("anthropic", "claude-sonnet-4-20250514", inclusive).usd == pytest.approx(expected, rel=1e-12)


def test_reasoning_tokens_are_not_double_counted(table: PriceTable) -> None:
    # Reasoning is part of the output: 100 output tokens cost the same with or without a breakdown.
    plain = table.price("openai", "gpt-4o", Usage(input_tokens=0, output_tokens=100))
    detailed = table.price("openai", "gpt-4o", Usage(input_tokens=0, output_tokens=100, reasoning_tokens=80))
    assert plain.usd == detailed.usd == pytest.approx(0.001, rel=1e-12)
    # A reasoning count larger than the output cannot be a part of it; it is ignored, not added.
    odd = table.price("openai", "gpt-4o", Usage(input_tokens=0, output_tokens=100, reasoning_tokens=300))
    assert odd.usd == plain.usd


def test_embeddings_and_web_searches(table: PriceTable) -> None:
    # text-embedding-3-small: $0.02 per million input tokens.
    assert table.price("openai", "text-embedding-3-small", Usage(input_tokens=1_000_000)).usd == pytest.approx(0.02)
    # gpt-4o web search: $10 per thousand calls, on top of the tokens.
    searched = table.price("openai", "gpt-4o", Usage(input_tokens=0, output_tokens=0, web_search_count=2))
    assert searched.usd == pytest.approx(0.02, rel=1e-12)


@pytest.mark.parametrize(
    ("provider", "model", "usage", "expected"),
    [
        ("openai", "my-finetune-v3", Usage(input_tokens=10), Price(None, "unknown_model")),
        ("openai", "", Usage(input_tokens=10), Price(None, "unknown_model")),
        # A known provider that does not list the model: not priced as some other provider's.
        ("openai", "claude-sonnet-4", Usage(input_tokens=10), Price(None, "unknown_model")),
        ("anthropic", "claude-sonnet-4", Usage(), Price(None, "no_usage")),
        ("openai", "gpt-4o", Usage(input_tokens=-1), Price(None, "invalid_usage")),
        (
            "openai",
            "gpt-4o",
            Usage(input_tokens=10, cache_read_input_tokens=20, input_includes_cache=True),
            Price(None, "invalid_usage"),
        ),
    ],
)
def test_what_cannot_be_priced_is_unpriced_not_zero(
    table: PriceTable, provider: str, model: str, usage: Usage, expected: Price
) -> None:
    assert table.price(provider, model, usage) == expected


@pytest.mark.parametrize("provider", ["", "custom", "some-proxy"])
def test_unknown_provider_falls_back_to_the_model_id(table: PriceTable, provider: str) -> None:
    assert table.price(provider, "gpt-4o", Usage(input_tokens=1_000_000)).usd == pytest.approx(2.5)


def test_provider_aliases(table: PriceTable) -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert table.price("gcp.vertex_ai", "gemini-2.5-flash", usage).usd == pytest.approx(0.3)
    assert table.price("Azure", "gpt-4o", usage).usd == pytest.approx(2.5)


def test_price_record_uses_the_record_fields(table: PriceTable) -> None:
    record = Record(provider="openai", model="gpt-4o", usage=Usage(input_tokens=1000), start_ns=T0_NS)
    assert table.price_record(record) == Price(0.0025)


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[Any]:
    """Wraps ``owner.name`` to record its calls; returns the list they are recorded in."""
    calls: list[Any] = []
    original = getattr(owner, name)

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_lookups_are_memoised_per_provider_and_model(table: PriceTable, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = Usage(input_tokens=10)
    table.price("openai", "gpt-4o", usage)
    calls = _count_calls(monkeypatch, table._table(), "find_provider_model")
    for _ in range(3):
        table.price("openai", "gpt-4o", usage)
        table.price("OpenAI ", "gpt-4o", usage)
        table.price("openai", "unknown-model", usage)
    assert len(calls) == 1  # only the first unknown-model lookup reached the table


def test_the_cache_is_bounded(table: PriceTable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "MAX_CACHED_MODELS", 3)
    for i in range(10):
        table.lookup("openai", f"model-{i}")
        assert len(table._models) <= 3
    assert table.lookup("openai", "gpt-4o") is not None


def test_pricing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = PriceTable()
    assert fresh.price("anthropic", "claude-sonnet-4", Usage(input_tokens=1000, output_tokens=10)).usd is not None
    assert fresh.price("x", "not-a-model", Usage(input_tokens=1)).usd is None


def test_genai_usage_translation() -> None:
    assert genai_usage(Usage()) is None
    usage = genai_usage(Usage(input_tokens=5, cache_read_input_tokens=7, cache_write_input_tokens=1, output_tokens=0))
    assert usage is not None
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (13, 7, 1)


# --------------------------------------------------------------------------- the linear cache


def _reference(table: PriceTable, provider: str, model: str, usage: Usage, start_ns: int) -> float | None:
    """What genai-prices' calc_price says, bypassing the rate cache."""
    found = table.lookup(provider, model)
    if found is None:  # a model whose own id does not match its match rules
        return None
    counts = genai_usage(usage)
    assert counts is not None
    when = pricing._EPOCH + timedelta(microseconds=start_ns // 1000)
    return pricing._calc(found[0], found[1], counts, when).usd


USAGES = [
    Usage(input_tokens=812, output_tokens=143, cache_read_input_tokens=512),
    Usage(input_tokens=1000, cache_read_input_tokens=200, output_tokens=500, input_includes_cache=True),
    Usage(input_tokens=1, output_tokens=0),
    Usage(input_tokens=0, output_tokens=7, reasoning_tokens=5),
    Usage(input_tokens=90_000, cache_write_input_tokens=150_000, output_tokens=30_000, web_search_count=2),
    Usage(input_tokens=1_500_000, output_tokens=64_000, reasoning_tokens=10_000),  # past every input tier
]
TIMES = [1_700_000_000_000_000_000, T0_NS, T0_NS + 13 * 3600 * 10**9]  # 2023, 2026 10:00Z, 23:00Z


def test_every_model_prices_as_calc_price_does() -> None:
    """The rates read from calc_price reproduce it for every model of the bundled table, at
    several dates and times of day; tiered or otherwise non-linear prices must fall back."""
    table = PriceTable()
    snapshot = table._table()
    checked = fell_back = 0
    for provider in snapshot.providers:
        for model in provider.models:
            for start_ns in TIMES:
                for usage in USAGES:
                    expected = _reference(table, provider.id, model.id, usage, start_ns)
                    got = table.price(provider.id, model.id, usage, start_ns=start_ns).usd
                    if expected is None:
                        assert got is None, (provider.id, model.id, usage)
                    else:
                        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (provider.id, model.id, usage)
                    checked += 1
    fell_back = sum(1 for _, rates in table._linear.values() if rates is None)
    assert checked > 5000
    assert fell_back > 0  # tiered prices exist in the table and were recognised as such


def test_rates_are_read_once_per_price_list(table: PriceTable, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, pricing, "_calc_decimal")
    for i in range(50):
        table.price("openai", "gpt-4o", Usage(input_tokens=100 + i, output_tokens=i), start_ns=T0_NS)
    probes = len(calls)
    assert 0 < probes <= 12  # the probes and the mixed checks, once
    # Counts outside the linear region still go to calc_price.
    table.price("openai", "gpt-4o", Usage(input_tokens=10, cache_read_input_tokens=50, input_includes_cache=True))
    assert len(calls) == probes + 1
