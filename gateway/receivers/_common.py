"""What every receiver does after decoding: hand records to the pipeline and count the outcome."""

from __future__ import annotations

from gateway.component import Consumer
from gateway.errors import BadInput, ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.model import Batch, Context, Record
from gateway.telemetry import Telemetry


def refusal_reason(exc: ConsumeError) -> str:
    """A metric label for why the pipeline refused a batch."""
    if isinstance(exc, Overloaded):
        return "overloaded"
    if isinstance(exc, Unauthenticated):
        return "unauthenticated"
    if isinstance(exc, BadInput):
        return "bad_input"
    if isinstance(exc, RetryableError):
        return "unavailable"
    return "refused"


async def deliver(next_: Consumer, records: list[Record], ctx: Context, telemetry: Telemetry, receiver: str) -> None:
    """Passes records on; counts accepted or refused. Re-raises the pipeline's refusal."""
    if not records:
        return
    try:
        await next_.consume(Batch(records, ctx))
    except ConsumeError as exc:
        telemetry.receiver_refused.labels(receiver, ctx.transport, refusal_reason(exc)).inc(len(records))
        raise
    telemetry.receiver_accepted.labels(receiver, ctx.transport).inc(len(records))
