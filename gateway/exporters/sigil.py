"""``sigil`` exporter: sends generations and workflow steps to a Sigil backend.

``protocol: grpc`` calls ``<package>.GenerationIngestService/ExportGenerations`` (and the
workflow-step service); ``protocol: http`` POSTs protojson to
``<endpoint>/api/v1/generations:export`` and ``/api/v1/workflow-steps:export``. Auth modes and
their headers are the Sigil SDK's (``wire/sigil.md`` §6); ``forward_tenant: true`` sends each
batch's tenant as ``X-Scope-OrgID``. Items the backend rejects one by one are counted and logged,
never retried; transport errors, 429 and 5xx (gRPC UNAVAILABLE, …) are retried by the shared
helper. Records Sigil cannot hold (tool, agent, embedding and other spans) are dropped and
counted under ``reason="unsupported_kind"``.

Scores go to ``<api_endpoint>/api/v1/scores:export`` and ratings to
``<api_endpoint>/api/v1/conversations/{id}/ratings`` as plain JSON over HTTP whatever the
``protocol``: the server registers no gRPC score service (its ``ScoreIngestService`` answers
``UNIMPLEMENTED``), and ratings have none at all. ``api_endpoint`` defaults to ``endpoint``
(with ``https://``, or ``http://`` under ``tls.insecure``, when that is a bare ``host:port``);
a self-hosted server listens for HTTP on another port than gRPC (8080, 4317), so set it there.
Ids are sent as they are, so a resent score or rating is a no-op at the backend; only the
fields a score has are sent, so one received in the March server's shape stays acceptable to
it. Scores and ratings are sent after the batch's generations, which Sigil must know to accept
a score (and which a wrong ``api_endpoint`` must not hold up). Scores and ratings the backend
refuses with a 4xx or per item (a rating's ``409 idempotency conflict`` included) are counted
in ``gateway_exporter_dropped_items_total`` and logged, never retried; 429, 5xx and transport
errors are retried like generations.

.. code-block:: yaml

    exporters:
      sigil:
        endpoint: https://sigil.example.net     # gRPC: http:// plaintext, https:// or host:port TLS
        protocol: grpc                          # grpc | http
        schema: sigil-2026-03                   # server generation: sigil-2026-03 | sdk-0.9 | agento11y-2026-08
        api_endpoint: https://sigil.example.net # scores and ratings (HTTP); default: endpoint
        auth: {mode: basic, tenant_id: "${env:SIGIL_TENANT}", basic_password: "${env:SIGIL_TOKEN}"}
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import urllib.parse
from typing import Any, Literal, NoReturn

import aiohttp
import grpc
from google.protobuf.message import DecodeError

from gateway import __version__
from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._dead_letter import DeadLetterEntry
from gateway.exporters._helper import ExporterHelper, Payload, SenderConfig
from gateway.exporters._transport import (
    grpc_channel,
    http_retry_after,
    http_session,
    is_retryable_grpc,
    is_retryable_http,
)
from gateway.formats import sigil as sf
from gateway.formats.sigil import encode_json as sf_json
from gateway.formats.sigil import native as sn
from gateway.formats.sigil import scores as ss
from gateway.formats.sigil.targets import DEFAULT_SCHEMA, SCHEMAS, SchemaName
from gateway.model import Batch, Kind, Record
from gateway.telemetry import RateLimitedLog
from gateway.units import ByteSize

log = logging.getLogger(__name__)

USER_AGENT = f"llm-telemetry-gateway/{__version__}"
# The Sigil server's gRPC receive limit (grpc-go's default 4 MiB raised to 16 MiB), less room for
# the request's own framing.
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024
_FRAMING_BYTES = 6  # per item: a tag and a length (JSON: a comma), at most


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    mode: Literal["none", "tenant", "bearer", "basic"] = "none"
    tenant_id: str = ""  # X-Scope-OrgID (tenant, basic); basic user when basic_user is empty
    bearer_token: str = ""  # bearer: Authorization: Bearer <token>
    basic_user: str = ""  # basic: user name (Grafana Cloud: the instance id)
    basic_password: str = ""  # basic: password (Grafana Cloud: an access-policy token)

    def validate(self) -> list[str]:
        # The Sigil SDK's own config error texts.
        p = "generation export auth mode"
        if self.mode == "tenant" and not self.tenant_id.strip():
            return [f"{p} 'tenant' requires tenant_id"]
        if self.mode == "bearer" and not self.bearer_token.strip():
            return [f"{p} 'bearer' requires bearer_token"]
        if self.mode == "basic":
            problems = []
            if not self.basic_password.strip():
                problems.append(f"{p} 'basic' requires basic_password")
            if not (self.basic_user.strip() or self.tenant_id.strip()):
                problems.append(f"{p} 'basic' requires basic_user or tenant_id")
            return problems
        return []

    def headers(self) -> dict[str, str]:
        if self.mode == "tenant":
            return {"X-Scope-OrgID": self.tenant_id.strip()}
        if self.mode == "bearer":
            token = self.bearer_token.strip()
            if token.lower().startswith("bearer "):
                token = token[7:].strip()
            return {"Authorization": f"Bearer {token}"}
        if self.mode == "basic":
            user = self.basic_user.strip() or self.tenant_id.strip()
            cred = base64.b64encode(f"{user}:{self.basic_password.strip()}".encode()).decode()
            headers = {"Authorization": f"Basic {cred}"}
            if self.tenant_id.strip():
                headers["X-Scope-OrgID"] = self.tenant_id.strip()
            return headers
        return {}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SigilExporterConfig(SenderConfig):
    endpoint: str  # base URL (http) or target (grpc); see the module docstring
    protocol: Literal["grpc", "http"] = "grpc"
    api_endpoint: str = ""  # HTTP base URL for scores and ratings; "" = endpoint (see above)
    service_package: Literal["sigil.v1", "agento11y.v1"] = "sigil.v1"  # gRPC service names
    auth: AuthConfig = dataclasses.field(default_factory=AuthConfig)
    forward_tenant: bool = False  # send the batch's tenant as X-Scope-OrgID (overrides auth's)
    # Fields the target lacks are left out or converted (docs/mapping.md, "Schema targets").
    schema: SchemaName = DEFAULT_SCHEMA  # the server generation written for
    # The Sigil server's gRPC limit is 16 MiB; one generation above it is sent alone.
    max_request_bytes: ByteSize = ByteSize(DEFAULT_MAX_REQUEST_BYTES)  # larger batches are split into requests

    def validate(self) -> list[str]:
        problems = SenderConfig.validate(self)
        if not self.endpoint.strip():
            problems.append("endpoint: must not be empty")
        if self.protocol == "http" and not self.endpoint.startswith(("http://", "https://")):
            problems.append("endpoint: must start with http:// or https:// when protocol is http")
        if self.api_endpoint and not self.api_endpoint.startswith(("http://", "https://")):
            problems.append("api_endpoint: must start with http:// or https://")
        if self.max_request_bytes < 1:
            problems.append("max_request_bytes: must be at least 1")
        return problems


def split_by_size(items: list[bytes], limit: int) -> list[list[bytes]]:
    """Consecutive groups of items whose framed size stays within ``limit`` (an item larger than
    ``limit`` goes alone); the order is kept."""
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for item in items:
        n = len(item) + _FRAMING_BYTES
        if current and size + n > limit:
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        groups.append(current)
    return groups


def _merge_headers(cfg: SigilExporterConfig, tenant: str, *, tenant_is_default: bool = False) -> dict[str, str]:
    headers = cfg.auth.headers()
    # A placeholder tenant the receiver filled in is not the client's: the configured one stays.
    if cfg.forward_tenant and tenant and not tenant_is_default:
        headers["X-Scope-OrgID"] = tenant
    # Explicit headers win over auth-derived ones, case-insensitively (as in the SDK).
    explicit = {k.lower() for k in cfg.headers}
    merged = {k: v for k, v in headers.items() if k.lower() not in explicit}
    merged.update(cfg.headers)
    return merged


def api_base_url(cfg: SigilExporterConfig) -> str:
    """Where scores and ratings go (see the module docstring)."""
    base = (cfg.api_endpoint or cfg.endpoint).strip().rstrip("/")
    if base.startswith(("http://", "https://")):
        return base
    return ("http://" if cfg.tls.insecure else "https://") + base


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    steps: bool  # workflow steps, not generations
    body: bytes  # protojson (http) or serialized protobuf (grpc)
    headers: dict[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class _ApiRequest:
    """Plain JSON to the HTTP API: all of a batch's scores, or one rating."""

    item: Literal["score", "rating"]
    path: str
    body: bytes
    headers: dict[str, str]


class SigilExporter:
    def __init__(self, settings: CreateSettings, cfg: SigilExporterConfig) -> None:
        self._cfg = cfg
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._warn = RateLimitedLog(log)
        self._session: aiohttp.ClientSession | None = None
        self._channel: grpc.aio.Channel | None = None
        self._api = api_base_url(cfg)
        self._schema = SCHEMAS[cfg.schema]
        # Generations a Sigil receiver kept as messages: sent as they are over gRPC, written as
        # protojson straight from the messages over HTTP.
        kinds = {sn.KIND, sn.KIND_SENT_AS_PROTOBUF} if cfg.protocol == "grpc" else {sn.KIND}
        self.capabilities = Capabilities(native_kinds=frozenset(kinds))
        self._helper = ExporterHelper(
            settings,
            self._encode,
            self._send,
            retry=cfg.retry_on_failure,
            queue=cfg.sending_queue,
            dead_letter=cfg.dead_letter,
            takes_scores=True,
            takes_ratings=True,
        )

    async def start(self) -> None:
        # Scores and ratings use HTTP even when generations go over gRPC.
        self._session = http_session(self._cfg.tls, float(self._cfg.timeout), {"User-Agent": USER_AGENT})
        if self._cfg.protocol == "grpc":
            self._channel = grpc_channel(self._cfg.endpoint, self._cfg.tls, USER_AGENT)
        await self._helper.start()

    async def replay(self, entry: DeadLetterEntry) -> None:
        """Sends a dead-lettered batch again (``gateway replay``), bypassing the queue."""
        await self._helper.send_now(entry.batch, parts=entry.parts, parts_sent=entry.parts_sent)

    async def consume(self, batch: Batch) -> None:
        await self._helper.consume(batch)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        try:
            await self._helper.shutdown()
        finally:
            # Also when the service's deadline cancels the drain: the connections still close.
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()
            if self._channel is not None:
                channel, self._channel = self._channel, None
                await channel.close()

    def _encode(self, batch: Batch) -> list[Payload]:
        headers = _merge_headers(self._cfg, batch.context.tenant, tenant_is_default=batch.context.tenant_is_default)
        http = self._cfg.protocol == "http"
        payloads: list[Payload] = []
        steps_payloads: list[Payload] = []
        native = batch.native
        items: list[bytes] = []
        if isinstance(native, sn.SigilGenerations):
            native = native.fitted(self._schema)
            if http:
                items = sf_json.message_json_items(native.messages, self._schema)
            else:
                items = [m.SerializeToString() for m in native.messages]
        else:
            generations: list[Record] = []
            steps: list[Record] = []
            for r in batch.records:
                if r.kind == Kind.LLM:
                    generations.append(r)
                elif r.kind == Kind.WORKFLOW_STEP:
                    steps.append(r)
            dropped = len(batch.records) - len(generations) - len(steps)
            if dropped:
                self._t.exporter_dropped.labels(self._id, "unsupported_kind").inc(dropped)
            if http:
                items = sf_json.generation_json_items(generations, self._schema)
                step_items = sf_json.workflow_step_json_items(steps)
            else:
                items = sf.generation_items(generations, self._schema)
                step_items = [m.SerializeToString() for m in sf.workflow_steps_request(steps).workflow_steps]
            for group in split_by_size(step_items, self._cfg.max_request_bytes):
                body = sf_json.join_json_items("workflow_steps", group) if http else sn.frame_request(group)
                steps_payloads.append(Payload(len(group), _Request(True, body, headers)))
        for group in split_by_size(items, self._cfg.max_request_bytes):
            body = sf_json.join_json_items("generations", group) if http else sn.frame_request(group)
            payloads.append(Payload(len(group), _Request(False, body, headers)))
        payloads.extend(steps_payloads)
        # After the generations: Sigil accepts a score only for a generation it already has.
        api_headers = {"Content-Type": "application/json", **headers}
        if batch.scores:
            body = ss.encode_scores_request(batch.scores)
            payloads.append(Payload(len(batch.scores), _ApiRequest("score", ss.SCORES_PATH, body, api_headers)))
        for rating in batch.ratings:
            path = ss.RATINGS_PATH.format(urllib.parse.quote(rating.conversation_id, safe=""))
            body = ss.encode_rating_request(rating)
            payloads.append(Payload(1, _ApiRequest("rating", path, body, api_headers)))
        return payloads

    async def _send(self, payload: Payload) -> None:
        if isinstance(payload.data, _ApiRequest):
            await self._send_api(payload.count, payload.data)
            return
        req: _Request = payload.data
        if self._cfg.protocol == "http":
            results = await self._send_http(req)
        else:
            results = await self._send_grpc(req)
        rejected = [(r.id, r.error) for r in results if not r.accepted]
        self._t.exporter_sent.labels(self._id).inc(payload.count - len(rejected))
        if rejected:
            self._t.exporter_dropped.labels(self._id, "rejected").inc(len(rejected))
            self._warn.warning(
                "rejected",
                "exporter %s: backend rejected %d items, e.g. id=%s error=%s",
                self._id,
                len(rejected),
                rejected[0][0],
                rejected[0][1],
            )

    async def _send_api(self, count: int, req: _ApiRequest) -> None:
        url = self._api + req.path
        status, payload = await self._post(url, req.body, req.headers)  # retries 408, 429, 5xx, transport
        text = payload[:200].decode("utf-8", "replace").strip()
        if not 200 <= status < 300:
            # A 4xx refuses these items only (409: the rating id holds another payload), so it is
            # counted here rather than raised: the helper would drop the batch's later payloads.
            self._reject(
                req.item, "conflict" if status == 409 else "rejected", count, (req.path, f"HTTP {status}: {text}")
            )
            return
        rejected: list[tuple[str, str]] = []
        if req.item == "score":
            try:
                results = ss.decode_scores_response(payload)
            except ValueError as exc:
                self._reject(req.item, "rejected", count, (url, f"unreadable {status} response: {exc}"))
                return
            # A newer server answers a resent id accepted=false, status=duplicate: delivered.
            rejected = [(r.score_id, r.error) for r in results if not r.accepted and r.status != "duplicate"]
        self._t.exporter_sent_items.labels(self._id, req.item).inc(count - len(rejected))
        if rejected:
            self._reject(req.item, "rejected", len(rejected), rejected[0])

    def _reject(self, item: str, reason: str, n: int, example: tuple[str, str]) -> None:
        self._t.exporter_dropped_items.labels(self._id, item, reason).inc(n)
        self._warn.warning(
            f"{item}-{reason}",
            "exporter %s: backend refused %d %ss (%s), e.g. %s: %s",
            self._id,
            n,
            item,
            reason,
            *example,
        )

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POSTs; the status and body, or RetryableError on transport failures."""
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers, ssl=self._cfg.tls.ssl_context()) as resp:
                payload = await resp.read()
                if is_retryable_http(resp.status):
                    retry_after = http_retry_after(resp.headers.get("Retry-After"))
                    text = payload[:200].decode("utf-8", "replace").strip()
                    raise RetryableError(f"POST {url}: HTTP {resp.status}: {text}", retry_after)
                return resp.status, payload
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"POST {url}: {exc.__class__.__name__}: {exc}") from None

    async def _send_http(self, req: _Request) -> list[sf.ExportResult]:
        steps = req.steps
        path = "/api/v1/workflow-steps:export" if steps else "/api/v1/generations:export"
        url = self._cfg.endpoint.rstrip("/") + path
        status, payload = await self._post(url, req.body, {"Content-Type": "application/json", **req.headers})
        if 200 <= status < 300:
            try:
                if steps:
                    return sf.decode_workflow_steps_response_json(payload)
                return sf.decode_generations_response_json(payload)
            except ValueError as exc:
                raise PermanentError(f"POST {url}: unreadable {status} response: {exc}") from None
        _raise_for_status(url, status, payload)

    async def _send_grpc(self, req: _Request) -> list[sf.ExportResult]:
        assert self._channel is not None
        pkg = self._cfg.service_package
        steps = req.steps
        if steps:
            method = f"/{pkg}.WorkflowStepIngestService/ExportWorkflowSteps"
        else:
            method = f"/{pkg}.GenerationIngestService/ExportGenerations"
        call = self._channel.unary_unary(method)
        metadata = tuple((k.lower(), v) for k, v in req.headers.items())
        try:
            response: Any = await call(req.body, metadata=metadata, timeout=float(self._cfg.timeout))
        except grpc.aio.AioRpcError as exc:
            msg = f"{method}: {exc.code().name}: {exc.details()}"
            if is_retryable_grpc(exc):
                raise RetryableError(msg) from None
            raise PermanentError(msg) from None
        try:
            if steps:
                return sf.results_from_workflow_steps_response(
                    pb.ExportWorkflowStepsResponse.FromString(bytes(response))
                )
            return sf.results_from_generations_response(pb.ExportGenerationsResponse.FromString(bytes(response)))
        except (ValueError, DecodeError) as exc:
            raise PermanentError(f"{method}: unreadable response: {exc}") from None


def _raise_for_status(url: str, status: int, payload: bytes) -> NoReturn:
    """A non-2xx answer that is not retryable (``_post`` raised for those): permanent."""
    text = payload[:200].decode("utf-8", "replace").strip()
    raise PermanentError(f"POST {url}: HTTP {status}: {text}")


def _create(settings: CreateSettings, cfg: SigilExporterConfig) -> SigilExporter:
    return SigilExporter(settings, cfg)


FACTORY = exporter_factory("sigil", SigilExporterConfig, _create, "Sends generations to Grafana Sigil (gRPC or HTTP).")
