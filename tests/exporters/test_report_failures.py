"""Without a sending queue the exporter helper tells a caller that asks (REPORT_FAILURES) that a
batch was given up on, and keeps answering as before for every other caller."""

from __future__ import annotations

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._helper import REPORT_FAILURES, ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.model import Batch, Record
from gateway.telemetry import Telemetry
from gateway.units import Duration


def helper(error: Exception) -> ExporterHelper:
    async def send(payload: Payload) -> None:
        raise error

    return ExporterHelper(
        CreateSettings(id=ComponentId("x"), telemetry=Telemetry()),
        lambda batch: [Payload(len(batch), b"")],
        send,
        retry=RetryConfig(
            initial_interval=Duration(0.01), max_interval=Duration(0.01), max_elapsed_time=Duration(0.05)
        ),
        queue=QueueConfig(enabled=False),
    )


@pytest.mark.parametrize("error", [PermanentError("400"), RetryableError("503")])
async def test_a_caller_that_asks_gets_the_error(error: Exception) -> None:
    token = REPORT_FAILURES.set(True)
    try:
        with pytest.raises(type(error)):
            await helper(error).consume(Batch([Record()]))
    finally:
        REPORT_FAILURES.reset(token)


@pytest.mark.parametrize("error", [PermanentError("400"), RetryableError("503")])
async def test_other_callers_get_no_error(error: Exception) -> None:
    await helper(error).consume(Batch([Record()]))  # counted and dropped, as before
