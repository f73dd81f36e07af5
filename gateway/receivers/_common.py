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


# What every exporter (and the persistent queue) can write: a signed 64-bit count of nanoseconds,
# 1677-09-21 to 2262-04-11. Refused at the door, so nothing is acknowledged and dropped later.
MIN_TIMESTAMP_NS = -(2**63)
MAX_TIMESTAMP_NS = 2**63 - 1
_TIMESTAMP_RANGE = "1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z"


def timestamp_problem(
    records: list[Record] | None, scores: list[Score] | None, ratings: list[Rating] | None
) -> str | None:
    """Why a batch cannot be taken: the first timestamp outside the range exporters can write."""
    items: list[tuple[str, str, int | None]] = []
    for r in records or ():
        items.append(("start time", r.id, r.start_ns))
        items.append(("end time", r.id, r.end_ns))
    items.extend(("created_at", s.id, s.created_ns) for s in scores or ())
    items.extend(("created_at", r.id, r.created_ns) for r in ratings or ())
    for what, item_id, ns in items:
        if ns is not None and not MIN_TIMESTAMP_NS <= ns <= MAX_TIMESTAMP_NS:
            name = f" of {item_id!r}" if item_id else ""
            return f"{what}{name} is outside the range the gateway can store and send ({_TIMESTAMP_RANGE})"
    return None


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
    problem = timestamp_problem(records, scores, ratings)
    if problem:
        telemetry.receiver_refused.labels(receiver, ctx.transport, "bad_input").inc(n)
        raise BadInput(problem)
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
