"""``sigil`` receiver: Grafana Sigil generation ingest over HTTP (protojson) and gRPC.

HTTP: ``POST /api/v1/generations:export`` and ``/api/v1/workflow-steps:export``; scores on
``POST /api/v1/scores:export`` (the March 2026 server's shape and SDK 0.9.3's); conversation
ratings on ``POST`` and ``GET /api/v1/conversations/{conversation_id}/ratings``.
gRPC: ``GenerationIngestService/ExportGenerations`` and
``WorkflowStepIngestService/ExportWorkflowSteps`` under both ``sigil.v1`` and ``agento11y.v1``
(like the server, no score service: ``ScoreIngestService`` answers ``UNIMPLEMENTED``).

It answers as the Sigil server does (``wire/sigil.md``): 202 with per-item results (accepted
and rejected items side by side) on HTTP, OK with per-item results on gRPC; decode errors are
400 text (``INVALID_ARGUMENT``); tenant problems 401 (``UNAUTHENTICATED``). When the pipeline
cannot take the data (full queue, memory limit) the client gets 429 + ``Retry-After``
(``RESOURCE_EXHAUSTED``) and retries.

Scores and ratings are validated with the server's texts (``wire/sigil.md`` §8) and travel
down the pipeline beside records. A rating's reply needs the conversation's summary and the
server's idempotency (identical resend: 200 with the stored rating; same id, other payload: 409
``idempotency conflict``), so the receiver remembers the ratings it accepted in a bounded
in-memory store (:mod:`gateway.receivers._sigil_ratings`, ``ratings:`` below); ``GET`` lists
what that store holds.

.. code-block:: yaml

    receivers:
      sigil:
        http: {endpoint: 127.0.0.1:8080}
        grpc: {endpoint: 127.0.0.1:4317}
        require_tenant: false      # true: X-Scope-OrgID required, as with SIGIL_AUTH_ENABLED
        ratings: {max_conversations: 10000, max_ratings_per_conversation: 100, max_bytes: 32MiB}
        eval_api: {store: ./data/eval-store.json}   # Sigil's evaluation API; see docs/evaluation.md
        auth: {authenticator: auth}   # optional: credentials checked before any body is read

With an authenticator (named here, or an ``auth`` processor in a pipeline this receiver feeds)
every route needs valid credentials, the ratings ``GET`` included, and the tenant is the one the
credentials map to (``X-Scope-OrgID`` is then not trusted): a tenant reads and replays only its
own ratings.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import grpc
from aiohttp import web

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.auth import Gate, Principal, ReceiverAuthConfig
from gateway.component import Consumer, ReceiverSettings, receiver_factory
from gateway.errors import BadInput, ConsumeError, Overloaded, PermanentError, RetryableError, Unauthenticated
from gateway.formats import sigil as sf
from gateway.formats.sigil import native as sn
from gateway.formats.sigil import scores as ss
from gateway.listeners import DEFAULT_GRPC_MAX_MESSAGE, GrpcHandler, GrpcServerOptions
from gateway.model import Context, Rating, Record, Score
from gateway.receivers._common import deliver, grpc_context
from gateway.receivers._http import (
    BadEncoding,
    BodyLimits,
    BodyTimeout,
    BodyTooLarge,
    capture_context,
    read_body,
    retry_after,
)
from gateway.receivers._sigil_eval_api import EvalApiConfig, register_eval_api
from gateway.receivers._sigil_ratings import RatingsConfig, RatingStore, parse_page
from gateway.telemetry import RateLimitedLog
from gateway.units import ByteSize

log = logging.getLogger(__name__)

GENERATIONS_PATH = "/api/v1/generations:export"
WORKFLOW_STEPS_PATH = "/api/v1/workflow-steps:export"
SCORES_PATH = ss.SCORES_PATH
# An empty id must reach the handler: the server answers it 400, not 404.
RATINGS_PATH = "/api/v1/conversations/{conversation_id:[^/]*}/ratings"
DEFAULT_HTTP_ENDPOINT = "127.0.0.1:8080"
DEFAULT_GRPC_ENDPOINT = "127.0.0.1:4317"
DEFAULT_FAKE_TENANT = "fake"
_TENANT_OK = re.compile(r"^[A-Za-z0-9!\-_.*'()]+$")
MAX_TENANT_LEN = 150


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HttpServerConfig(BodyLimits):
    endpoint: str = DEFAULT_HTTP_ENDPOINT  # host:port
    keep_headers: list[str] = dataclasses.field(default_factory=list)  # copied into the context


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GrpcServerConfig(GrpcServerOptions):
    endpoint: str = DEFAULT_GRPC_ENDPOINT  # host:port
    max_recv_msg_size: ByteSize = ByteSize(DEFAULT_GRPC_MAX_MESSAGE)  # RESOURCE_EXHAUSTED past it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SigilReceiverConfig:
    # Only the transports listed open, as in the Collector: `http: {}` is the default endpoint,
    # absent or null is off.
    http: HttpServerConfig | None = None
    grpc: GrpcServerConfig | None = None
    require_tenant: bool = False  # X-Scope-OrgID must be present and valid (401 otherwise)
    fake_tenant: str = DEFAULT_FAKE_TENANT  # tenant when require_tenant is off and none is sent
    ratings: RatingsConfig = dataclasses.field(default_factory=RatingsConfig)  # ratings route and its state
    eval_api: EvalApiConfig = dataclasses.field(default_factory=EvalApiConfig)  # Sigil's evaluation API
    auth: ReceiverAuthConfig | None = None  # authenticator checked before any body is read (HTTP and gRPC)

    def validate(self) -> list[str]:
        problems = []
        if self.http is None and self.grpc is None:
            problems.append("at least one of http, grpc must be configured")
        if tenant_error(self.fake_tenant):
            problems.append(f"fake_tenant: {tenant_error(self.fake_tenant)}")
        return problems


def tenant_error(tenant: str) -> str:
    """dskit's tenant id rules; '' when valid."""
    if "|" in tenant:
        ids = set(tenant.split("|"))
        if len(ids) > 1:
            return "multiple org IDs present"
        tenant = ids.pop()
    if len(tenant) > MAX_TENANT_LEN:
        return f"tenant ID is too long: max {MAX_TENANT_LEN} characters"
    if tenant in (".", ".."):
        return "tenant ID is '.' or '..'"
    if not _TENANT_OK.match(tenant):
        bad = next((c for c in tenant if not _TENANT_OK.match(c)), "")
        return f"tenant ID '{tenant}' contains unsupported character '{bad}'"
    return ""


Items = list[Record | sf.ItemError] | list[pb.Generation | sf.ItemError]


@dataclasses.dataclass(frozen=True, slots=True)
class _Route:
    """One ingest surface: how to decode its body and encode its per-item results."""

    decode_json: Callable[[bytes], Items]
    decode_proto: Callable[[bytes], Items]
    encode_results_json: Callable[[list[sf.ExportResult]], bytes]
    encode_results_proto: Callable[[list[sf.ExportResult]], bytes]


_GENERATIONS = _Route(
    sf.decode_generations_json,
    sf.decode_generations_grpc,
    sf.encode_generations_response_json,
    lambda results: sf.generations_response(results).SerializeToString(),
)


def _native_json(body: bytes) -> Items:
    """Generations as messages when the fast path takes the body, else as records (the exact
    decoder: lowerCamel names, Go's error texts)."""
    items = sn.decode_generations_json_native(body)
    return items if items is not None else sf.decode_generations_json(body)


def _generations_route(native: frozenset[str]) -> _Route:
    """Messages instead of records where every consumer takes them (gateway.formats.sigil.native):
    from gRPC when they take them at all, from protojson when they also send protobuf."""
    route = _GENERATIONS
    if sn.KIND in native:
        route = dataclasses.replace(route, decode_proto=sn.decode_generations_grpc_native)
    if sn.KIND_SENT_AS_PROTOBUF in native:
        route = dataclasses.replace(route, decode_json=_native_json)
    return route


_STEPS = _Route(
    sf.decode_workflow_steps_json,
    sf.decode_workflow_steps_grpc,
    sf.encode_workflow_steps_response_json,
    lambda results: sf.workflow_steps_response(results).SerializeToString(),
)


class SigilReceiver:
    def __init__(self, settings: ReceiverSettings, cfg: SigilReceiverConfig, next_: Consumer) -> None:
        self._saturated = settings.saturated
        self._id = str(settings.id)
        self._cfg = cfg
        self._next = next_
        self._t = settings.telemetry
        self._http_seconds = self._t.receiver_request_duration.labels(self._id, "http")
        self._grpc_seconds = self._t.receiver_request_duration.labels(self._id, "grpc")
        self._warn = RateLimitedLog(log)
        self._ratings = RatingStore(cfg.ratings)
        self._gate = settings.auth or Gate(self._id, [])
        generations = _generations_route(settings.native)
        sources = [
            name for name, kind in (("gRPC", sn.KIND), ("HTTP", sn.KIND_SENT_AS_PROTOBUF)) if kind in settings.native
        ]
        if sources:
            log.info("%s: generations from %s pass through as protobuf messages", self._id, " and ".join(sources))
        if cfg.http is not None:
            listener = settings.listeners.http_listener(cfg.http.endpoint)
            listener.configure(cfg.http, self._id)
            for path, route in ((GENERATIONS_PATH, generations), (WORKFLOW_STEPS_PATH, _STEPS)):
                listener.add_route("*", path, self._http_handler(route, cfg.http), self._id)
            for path, fn in ((SCORES_PATH, self._http_scores), (RATINGS_PATH, self._http_ratings)):
                listener.add_route("*", path, self._timed(fn, cfg.http), self._id)
            register_eval_api(listener, self._id, cfg.eval_api, self._http_authenticate)
        if cfg.grpc is not None:
            g = settings.listeners.grpc_listener(cfg.grpc.endpoint)
            g.configure(cfg.grpc, self._id)
            g.max_message_bytes = max(g.max_message_bytes, int(cfg.grpc.max_recv_msg_size))
            for package in ("sigil.v1", "agento11y.v1"):
                g.add_service(
                    f"{package}.GenerationIngestService",
                    {"ExportGenerations": self._grpc_handler(generations)},
                    self._id,
                )
                g.add_service(
                    f"{package}.WorkflowStepIngestService",
                    {"ExportWorkflowSteps": self._grpc_handler(_STEPS)},
                    self._id,
                )

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    # -- shared ------------------------------------------------------------------------------

    def _defaulted(self, presented: list[str]) -> bool:
        """Whether _resolve_tenant answered with the placeholder (no usable tenant was sent)."""
        usable = len(presented) == 1 and bool(presented[0]) and not tenant_error(presented[0])
        return not self._cfg.require_tenant and not usable

    def _resolve_tenant(self, presented: list[str]) -> str:
        """Returns the tenant or raises Unauthenticated with the server's text."""
        if not self._cfg.require_tenant:
            if len(presented) == 1 and presented[0] and not tenant_error(presented[0]):
                return presented[0]
            return self._cfg.fake_tenant
        if len(presented) != 1 or not presented[0]:
            raise Unauthenticated("no org id")
        err = tenant_error(presented[0])
        if err:
            raise Unauthenticated(err)
        return presented[0].split("|")[0]

    async def _deliver(self, items: Items, ctx: Context, transport: str) -> None:
        accepted = [it for it in items if not isinstance(it, sf.ItemError)]
        if len(accepted) < len(items):
            self._t.receiver_refused.labels(self._id, transport, "validation").inc(len(items) - len(accepted))
        if accepted and not isinstance(accepted[0], Record):
            # The protojson pre-pass tells whether any item has a field a schema target fits.
            fittable = not isinstance(items, sn.NativeItems) or items.fittable
            native = sn.SigilGenerations(cast(list[pb.Generation], accepted), fittable=fittable)
            await deliver(self._next, None, ctx, self._t, self._id, native=native)
            return
        await deliver(self._next, cast(list[Record], accepted), ctx, self._t, self._id)

    # -- HTTP --------------------------------------------------------------------------------

    def _http_handler(self, route: _Route, cfg: HttpServerConfig) -> Callable[[web.Request], Awaitable[web.Response]]:
        return self._timed(lambda request, cfg, keep: self._http(request, route, cfg, keep), cfg)

    def _timed(
        self,
        fn: Callable[[web.Request, HttpServerConfig, tuple[str, ...]], Awaitable[web.Response]],
        cfg: HttpServerConfig,
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        keep = tuple(cfg.keep_headers)

        async def handle(request: web.Request) -> web.Response:
            with self._http_seconds.time():
                return await fn(request, cfg, keep)

        return handle

    async def _http_tenant(self, request: web.Request, ctx: Context) -> web.Response | None:
        """Checks the credentials and sets the context's tenant (the authenticated one, else
        X-Scope-OrgID's); the 401 refusing the request, before its body is read."""
        try:
            principal = await self._gate.http(request)
        except Unauthenticated as exc:
            return _text(401, str(exc))
        if principal is not None:
            principal.apply(ctx)
            return None
        presented = request.headers.getall("X-Scope-OrgID", [])
        try:
            ctx.tenant = self._resolve_tenant(presented)
            ctx.tenant_is_default = self._defaulted(presented)
        except Unauthenticated as exc:
            self._t.receiver_refused.labels(self._id, "http", "unauthenticated").inc()
            return _text(401, str(exc))
        return None

    async def _http_authenticate(self, request: web.Request) -> str | web.Response:
        """The request's tenant, or the 401 refusing it: the evaluation API's one auth hook."""
        ctx = capture_context(request, self._id)
        refused = await self._http_tenant(request, ctx)
        return refused if refused is not None else ctx.tenant

    async def _http_body(self, request: web.Request, cfg: HttpServerConfig) -> bytes | web.Response:
        """The body within the limits, or the response refusing it (overload, size, encoding)."""
        if self._saturated():
            self._t.receiver_refused.labels(self._id, "http", "overloaded").inc()
            return _text(
                429, "gateway overloaded (memory limit or full sending queue); retry later", {"Retry-After": "1"}
            )
        try:
            return await read_body(request, cfg)
        except BodyTooLarge as exc:
            self._t.receiver_refused.labels(self._id, "http", "too_large").inc()
            return _text(413, str(exc))
        except BadEncoding as exc:
            self._t.receiver_refused.labels(self._id, "http", "bad_input").inc()
            return _text(400, str(exc))
        except BodyTimeout as exc:
            self._t.receiver_refused.labels(self._id, "http", "timeout").inc()
            return _text(408, str(exc))
        except (ConnectionError, asyncio.IncompleteReadError):
            self._t.receiver_refused.labels(self._id, "http", "bad_input").inc()
            return _text(400, "read body")

    async def _http_post(
        self, request: web.Request, cfg: HttpServerConfig, keep: tuple[str, ...]
    ) -> tuple[Context, bytes] | web.Response:
        """A POST's context and body, or the response refusing it (method, tenant, body)."""
        if request.method != "POST":
            return _text(405, "method not allowed")
        ctx = capture_context(request, self._id, keep)
        if (refused := await self._http_tenant(request, ctx)) is not None:
            return refused
        body = await self._http_body(request, cfg)
        if isinstance(body, web.Response):
            return body
        return ctx, body

    async def _http(
        self, request: web.Request, route: _Route, cfg: HttpServerConfig, keep: tuple[str, ...]
    ) -> web.Response:
        accepted = await self._http_post(request, cfg, keep)
        if isinstance(accepted, web.Response):
            return accepted
        ctx, body = accepted
        try:
            items = route.decode_json(body)
        except sf.SigilDecodeError as exc:
            self._t.receiver_refused.labels(self._id, "http", "bad_input").inc()
            return _text(400, str(exc))
        try:
            await self._deliver(items, ctx, "http")
        except ConsumeError as exc:
            return _http_error(exc)
        return web.Response(
            status=202,
            body=route.encode_results_json(sf.export_results(items)),
            content_type="application/json",
        )

    async def _http_scores(self, request: web.Request, cfg: HttpServerConfig, keep: tuple[str, ...]) -> web.Response:
        accepted = await self._http_post(request, cfg, keep)
        if isinstance(accepted, web.Response):
            return accepted
        ctx, body = accepted
        try:
            items = ss.decode_scores_request(body)
        except ss.InvalidBody:
            self._t.receiver_refused.labels(self._id, "http", "bad_input").inc()
            return _text(400, "invalid request body")
        scores = [it for it in items if isinstance(it, Score)]
        if len(scores) < len(items):
            self._t.receiver_refused.labels(self._id, "http", "validation").inc(len(items) - len(scores))
        try:
            await deliver(self._next, [], ctx, self._t, self._id, scores=scores)
        except ConsumeError as exc:
            return _http_error(exc)
        return web.Response(
            status=202, body=ss.encode_scores_response(ss.export_results(items)), content_type="application/json"
        )

    async def _http_ratings(self, request: web.Request, cfg: HttpServerConfig, keep: tuple[str, ...]) -> web.Response:
        # The server's order: the path, whether ratings are on, the tenant, then the method.
        conversation_id = request.match_info["conversation_id"]
        if not conversation_id or "/" in conversation_id:  # Go splits the unescaped path on "/"
            return _text(400, "invalid conversation path")
        if not self._cfg.ratings.enabled:
            return _text(404, "404 page not found")
        ctx = capture_context(request, self._id, keep)
        if (refused := await self._http_tenant(request, ctx)) is not None:
            return refused
        if request.method == "GET":
            return self._list_ratings(request, ctx.tenant, conversation_id)
        if request.method != "POST":
            return _text(405, "method not allowed")
        body = await self._http_body(request, cfg)
        if isinstance(body, web.Response):
            return body
        try:
            rating = ss.decode_rating(conversation_id, body)
        except ss.InvalidBody:
            self._t.receiver_refused.labels(self._id, "http", "bad_input").inc()
            return _text(400, "invalid request body")
        except ss.RatingInvalid as exc:
            self._t.receiver_refused.labels(self._id, "http", "validation").inc()
            return _text(400, str(exc))
        entry = self._ratings.get(ctx.tenant, rating.id)
        if entry is None:
            sent = copy.deepcopy(rating)
            try:
                await deliver(self._next, [], ctx, self._t, self._id, ratings=[sent])
            except ConsumeError as exc:
                return _http_error(exc)
            # Remember it only once the pipeline has it, as the processors left it (content and
            # redact change what they pass on): a read must not show what they took out. A
            # concurrent twin may have won meanwhile.
            entry = self._ratings.get(ctx.tenant, rating.id)
            if entry is None:
                entry = self._ratings.add(ctx.tenant, _processed(sent, rating), sent_as=rating)
        if not ss.same_rating(entry.sent_as, rating):
            return _text(409, "idempotency conflict")
        stored = entry.rating
        summary = self._ratings.summary(ctx.tenant, stored.conversation_id)
        return web.Response(
            status=200, body=ss.encode_rating_response(stored, summary), content_type="application/json"
        )

    def _list_ratings(self, request: web.Request, tenant: str, conversation_id: str) -> web.Response:
        try:
            limit, cursor = parse_page(request.query.get("limit", ""), request.query.get("cursor", ""))
            conversation_id = ss.check_conversation_id(conversation_id)
        except ss.RatingInvalid as exc:
            return _text(400, str(exc))
        rows, next_cursor = self._ratings.page(tenant, conversation_id, limit, cursor)
        return web.Response(status=200, body=ss.encode_rating_list(rows, next_cursor), content_type="application/json")

    # -- gRPC --------------------------------------------------------------------------------

    def _grpc_handler(self, route: _Route) -> GrpcHandler:
        async def handle(
            request: bytes, context: grpc.aio.ServicerContext[Any, Any], principal: Principal | None
        ) -> bytes:
            with self._grpc_seconds.time():
                return await self._grpc(request, context, route, principal)

        return self._gate.grpc_unary(handle)

    async def _grpc(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any], route: _Route, principal: Principal | None
    ) -> bytes:
        ctx, md = grpc_context(self._id, context)
        if principal is not None:
            principal.apply(ctx)
        else:
            try:
                ctx.tenant = self._resolve_tenant(md.get("x-scope-orgid", []))
                ctx.tenant_is_default = self._defaulted(md.get("x-scope-orgid", []))
            except Unauthenticated as exc:
                self._t.receiver_refused.labels(self._id, "grpc", "unauthenticated").inc()
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if self._saturated():
            self._t.receiver_refused.labels(self._id, "grpc", "overloaded").inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "gateway overloaded (memory limit or full sending queue); retry later",
            )
        try:
            items = route.decode_proto(request)
        except sf.SigilDecodeError as exc:
            self._t.receiver_refused.labels(self._id, "grpc", "bad_input").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            await self._deliver(items, ctx, "grpc")
        except ConsumeError as exc:
            code, message = _grpc_error(exc)
            if isinstance(exc, RetryableError) and exc.retry_after is not None:
                context.set_trailing_metadata((("retry-after", str(math.ceil(exc.retry_after))),))
            await context.abort(code, message)
        return route.encode_results_proto(sf.export_results(items))


def _processed(sent: Rating, received: Rating) -> Rating:
    """The rating as the pipeline's processors left it; the received one when they made none
    (an identical copy need not be kept twice)."""
    return received if ss.same_rating(sent, received) else sent


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain", headers=headers)


def _http_error(exc: ConsumeError) -> web.Response:
    if isinstance(exc, Unauthenticated):
        return _text(401, str(exc))
    if isinstance(exc, BadInput):
        return _text(400, str(exc))
    if isinstance(exc, RetryableError):
        headers = retry_after(exc.retry_after)
        return _text(429 if isinstance(exc, Overloaded) else 503, str(exc), headers)
    if isinstance(exc, PermanentError):
        return _text(400, str(exc))
    return _text(503, str(exc))


def _grpc_error(exc: ConsumeError) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, str(exc)
    if isinstance(exc, BadInput | PermanentError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    return grpc.StatusCode.UNAVAILABLE, str(exc)


def _create(settings: ReceiverSettings, cfg: SigilReceiverConfig, next_: Consumer) -> SigilReceiver:
    return SigilReceiver(settings, cfg, next_)


FACTORY = receiver_factory(
    "sigil",
    SigilReceiverConfig,
    _create,
    "Grafana Sigil generation ingest (HTTP protojson and gRPC, sigil.v1 and agento11y.v1).",
)

__all__: Sequence[str] = ("FACTORY", "SigilReceiver", "SigilReceiverConfig", "tenant_error")
