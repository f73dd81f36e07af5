"""Metric label bounds and the rate-limited log."""

from __future__ import annotations

import logging

import pytest

from gateway.telemetry import MAX_TENANTS, OTHER_TENANT, RateLimitedLog, Telemetry


def test_tenant_labels_are_bounded() -> None:
    t = Telemetry()
    names = [t.tenant(f"t{i}") for i in range(MAX_TENANTS + 5)]
    assert names[:MAX_TENANTS] == [f"t{i}" for i in range(MAX_TENANTS)]
    assert names[MAX_TENANTS:] == [OTHER_TENANT] * 5
    assert t.tenant("t0") == "t0"  # a known tenant keeps its label


def test_rate_limited_log_counts_the_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "test.ratelimit")
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), interval=3600)
    for _ in range(3):
        limited.log(logging.DEBUG, "k", "refused %s", "x")
    assert [r.getMessage() for r in caplog.records] == ["refused x"]
    limited._last["k"] -= 7200  # as if the interval had passed
    limited.log(logging.DEBUG, "k", "refused %s", "x")
    assert caplog.records[-1].__dict__["suppressed"] == 2
