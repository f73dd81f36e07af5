"""What every receiver does after decoding: hand records (scores, ratings) to the pipeline and count
the outcome."""

from __future__ import annotations

from gateway.component import Consumer
from gateway.errors import BadInput, ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.model import Batch, Context, Rating, Record, Score
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


async def deliver(
    next_: Consumer,
    records: list[Record],
    ctx: Context,
    telemetry: Telemetry,
    receiver: str,
    *,
    scores: list[Score] | None = None,
    ratings: list[Rating] | None = None,
) -> None:
    """Passes records (and any scores or ratings, which may come alone) on; counts every item
    accepted or refused. Re-raises the pipeline's refusal."""
    batch = Batch(records, ctx, scores=scores or [], ratings=ratings or [])
    n = len(batch.records) + len(batch.scores) + len(batch.ratings)
    if not n:
        return
    try:
        await next_.consume(batch)
    except ConsumeError as exc:
        telemetry.receiver_refused.labels(receiver, ctx.transport, refusal_reason(exc)).inc(n)
        raise
    telemetry.receiver_accepted.labels(receiver, ctx.transport).inc(n)
