"""What every receiver does after decoding: hand records (scores, ratings) to the pipeline and count
the outcome."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.auth import parse_authorization
from gateway.component import Consumer
from gateway.errors import BadInput, ConsumeError, Overloaded, RetryableError, Unauthenticated
from gateway.model import Batch, Context, Native, Rating, Record, Score
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
    records: list[Record] | None,
    ctx: Context,
    telemetry: Telemetry,
    receiver: str,
    *,
    scores: list[Score] | None = None,
    ratings: list[Rating] | None = None,
    native: Native | None = None,
) -> None:
    """Passes records or their native form (and any scores or ratings, which may come alone) on;
    counts every item accepted or refused. Re-raises the pipeline's refusal."""
    batch = Batch(records, ctx, scores=scores or [], ratings=ratings or [], native=native)
    n = len(batch) + len(batch.scores) + len(batch.ratings)
    if not n:
        return
    try:
        await next_.consume(batch)
    except ConsumeError as exc:
        telemetry.receiver_refused.labels(receiver, ctx.transport, refusal_reason(exc)).inc(n)
        raise
    telemetry.receiver_accepted.labels(receiver, ctx.transport).inc(n)


def grpc_context(receiver: str, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[Context, dict[str, list[str]]]:
    """The Context of a gRPC call (tenant, Bearer or Basic credentials, x-api-key) and its metadata by
    lower-case key, every value kept (a receiver may have to refuse a repeated ``x-scope-orgid``)."""
    md: dict[str, list[str]] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            md.setdefault(key.lower(), []).append(value)
    first = {k: v[0] for k, v in md.items()}
    ctx = Context(receiver=receiver, transport="grpc", tenant=first.get("x-scope-orgid", "").strip())
    # Bearer or Basic, as over HTTP (SDKs send Basic tenant:token on gRPC too).
    parse_authorization(first.get("authorization", ""), ctx)
    ctx.api_key = first.get("x-api-key", "")
    return ctx, md
