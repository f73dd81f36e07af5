"""The OTLP export call, over gRPC or HTTP (protobuf or JSON), and what its answer means.

:class:`OtlpClient` sends one already-encoded export request for a signal (``traces`` or
``metrics``) and returns the partial success the server reported. Failures follow the OTLP
specification (v1.11.0) and the Collector's exporters:

* HTTP: only 429, 502, 503 and 504 are retryable, honouring ``Retry-After`` (seconds or an
  HTTP-date); every other 4xx/5xx is permanent (400 means bad data, never retried). A 2xx whose
  body does not parse is permanent: the server said something this client cannot read.
  Connection errors and timeouts (no response at all) are retryable.
* gRPC: the retryable codes of :func:`~gateway.exporters._transport.is_retryable_grpc`, with the
  server's ``RetryInfo`` delay when it sent one (in ``grpc-status-details-bin``, as the
  Collector does, or ``google.rpc.retryinfo-bin``, as the OpenTelemetry Python SDK reads it).

Bodies are encoded once by :meth:`OtlpClient.body` and, for HTTP, compressed once, on their first
send, so a retry resends the same bytes. Compression, chosen with ``bench/otlp_compress.py``
(100-generation requests, ~2.3 KB per span):

* HTTP: gzip at ``compression_params.level`` 1 by default: a quarter of level 6's CPU (+12 against
  +46 µs per span) for a body ~30% larger (440 against 340 bytes per span). The Collector's
  default is 6; set it where bandwidth costs more than CPU. zstd (level 1 by default, what the
  Collector's unset level maps to) is cheaper still (+3 µs, 380 bytes) where the backend takes
  it. zlib and zstandard release the GIL, so a body of :data:`OFFLOAD_MIN_BYTES` or more is
  compressed in a worker thread and the event loop keeps serving receivers meanwhile; a smaller
  one costs less than the hop to a thread.
* gRPC: grpcio's own gzip (message compression in the C core, at zlib's default level 6 on the
  event loop's thread: +51 µs per span, the loop held ~5 ms per 230 KB request). gRPC takes no
  level, as in the Collector; ``compression: none`` saves that CPU near the backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from typing import Any, Final, Literal

import aiohttp
import grpc
import orjson
import zstandard
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway.errors import PermanentError, RetryableError
from gateway.exporters._transport import (
    TlsConfig,
    grpc_channel,
    http_retry_after,
    http_session,
    is_retryable_grpc,
    is_retryable_http,
)
from gateway.formats.otlp import encode_traces_json
from gateway.formats.otlp.wire import encode_metrics_json

Signal = Literal["traces", "metrics"]
Protocol = Literal["grpc", "http/protobuf", "http/json"]
Compression = Literal["gzip", "zstd", "none"]

# Compression levels: 0 in the config means the algorithm's default.
DEFAULT_GZIP_LEVEL: Final = 1  # the Collector's is 6: see the module docstring for why not here
DEFAULT_ZSTD_LEVEL: Final = 1  # the Collector maps an unset zstd level to SpeedFastest (level 1)
GZIP_LEVELS: Final = range(1, 10)
ZSTD_LEVELS: Final = range(1, 23)
# Bodies at least this large are compressed in a worker thread (zlib and zstandard release the
# GIL); below it the thread hop (~50 µs) costs more than it saves the loop.
OFFLOAD_MIN_BYTES: Final = 64 * 1024

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# The spec's recommended cap on responses; a partial-success message past it is not worth holding.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


@dataclasses.dataclass(frozen=True, slots=True)
class _SignalSpec:
    http_path: str
    grpc_method: str
    response: type[ExportTraceServiceResponse] | type[ExportMetricsServiceResponse]
    rejected_field: str  # partial_success field counting what the server refused
    rejected_json: str  # the same in OTLP/JSON


_SIGNALS: dict[Signal, _SignalSpec] = {
    "traces": _SignalSpec(
        "/v1/traces",
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        ExportTraceServiceResponse,
        "rejected_spans",
        "rejectedSpans",
    ),
    "metrics": _SignalSpec(
        "/v1/metrics",
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        ExportMetricsServiceResponse,
        "rejected_data_points",
        "rejectedDataPoints",
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class PartialSuccess:
    """What a 2xx/OK answer said: ``rejected`` items (0: all taken) and the server's message."""

    rejected: int = 0
    message: str = ""


@dataclasses.dataclass(slots=True)
class Body:
    """One encoded export request (:meth:`OtlpClient.body`). ``wire`` is what goes out, made on
    the first send (compressed for HTTP) and resent as it is on a retry."""

    data: bytes
    wire: bytes | None = None


class OtlpClient:
    """One OTLP endpoint; :meth:`start` before :meth:`export`, :meth:`close` when done."""

    def __init__(
        self,
        *,
        endpoint: str,
        protocol: Protocol,
        compression: Compression,
        headers: dict[str, str],
        tls: TlsConfig,
        timeout: float,
        user_agent: str,
        compression_level: int = 0,
        offload_min_bytes: int = OFFLOAD_MIN_BYTES,
    ) -> None:
        """``compression_level`` 0 is the algorithm's default (HTTP only: gRPC uses grpcio's)."""
        self.protocol = protocol
        self._endpoint = endpoint
        self._compression = compression
        default = DEFAULT_ZSTD_LEVEL if compression == "zstd" else DEFAULT_GZIP_LEVEL
        self._level = compression_level or default
        self._offload_min_bytes = offload_min_bytes
        self._tls = tls
        self._timeout = timeout
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[Signal, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())
        base = endpoint.rstrip("/")
        self._urls = {signal: base + spec.http_path for signal, spec in _SIGNALS.items()}
        self._http_headers = {"User-Agent": user_agent, **headers}
        self._http_headers["Content-Type"] = JSON if protocol == "http/json" else PROTOBUF
        if compression != "none":
            self._http_headers["Content-Encoding"] = compression

    def target(self, signal: Signal) -> str:
        """Where ``signal`` goes, for messages: the URL or the gRPC method."""
        return self._urls[signal] if self.protocol != "grpc" else _SIGNALS[signal].grpc_method

    async def start(self) -> None:
        if self.protocol == "grpc":
            if self._channel is None:
                self._channel = grpc_channel(self._endpoint, self._tls, self._user_agent)
                for signal, spec in _SIGNALS.items():
                    # No serializers: bodies are encoded once per batch, before any retry.
                    self._calls[signal] = self._channel.unary_unary(spec.grpc_method)
        elif self._session is None:
            self._session = http_session(self._tls, self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._channel is not None:
            channel, self._channel = self._channel, None
            self._calls.clear()
            await channel.close()

    def body(self, request: ExportTraceServiceRequest | ExportMetricsServiceRequest | bytes) -> Body:
        """The encoded ``request`` (OTLP/JSON or protobuf); ``bytes`` are a serialized
        ExportTraceServiceRequest (what :func:`~gateway.formats.otlp.records_to_traces_bytes`
        writes)."""
        if self.protocol != "http/json":
            return Body(request if isinstance(request, bytes) else request.SerializeToString())
        if isinstance(request, bytes):
            return Body(encode_traces_json(ExportTraceServiceRequest.FromString(request)))
        if isinstance(request, ExportTraceServiceRequest):
            return Body(encode_traces_json(request))
        return Body(encode_metrics_json(request))

    def compress(self, data: bytes) -> bytes:
        """``data`` as the HTTP body: compressed as configured (gRPC compresses on the call)."""
        if self.protocol == "grpc" or self._compression == "none":
            return data
        if self._compression == "gzip":
            # mtime 0: the same batch gives the same bytes (Python 3.11 makes this one zlib call).
            return gzip.compress(data, compresslevel=self._level, mtime=0)
        # A compressor per call: ZstdCompressor objects are not thread-safe.
        return zstandard.ZstdCompressor(level=self._level).compress(data)

    async def _wire(self, body: Body) -> bytes:
        if body.wire is None:
            if len(body.data) >= self._offload_min_bytes and self.protocol != "grpc" and self._compression != "none":
                body.wire = await asyncio.to_thread(self.compress, body.data)
            else:
                body.wire = self.compress(body.data)
        return body.wire

    async def export(self, signal: Signal, body: Body) -> PartialSuccess:
        """Sends ``body``; raises RetryableError or PermanentError as the module docstring says."""
        if self.protocol == "grpc":
            return await self._export_grpc(signal, body.data)
        return await self._export_http(signal, await self._wire(body))

    # -- HTTP --------------------------------------------------------------------------------

    async def _export_http(self, signal: Signal, body: bytes) -> PartialSuccess:
        assert self._session is not None, "export before start"
        url = self._urls[signal]
        try:
            async with self._session.post(
                url, data=body, headers=self._http_headers, ssl=self._tls.ssl_context()
            ) as resp:
                status = resp.status
                ctype = resp.content_type
                retry_after = http_retry_after(resp.headers.get("Retry-After"))
                data = await _read_limited(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"POST {url}: {exc.__class__.__name__}: {exc}") from None
        if 200 <= status < 300:
            try:
                return _parse_response(signal, data, as_json=_is_json(ctype, self.protocol))
            except ValueError as exc:
                raise PermanentError(f"POST {url}: unreadable HTTP {status} response: {exc}") from None
        message = f"POST {url}: HTTP {status}: {_status_text(data, _is_json(ctype, self.protocol))}"
        if is_retryable_http(status, listed_only=True):
            raise RetryableError(message, retry_after)
        raise PermanentError(message)

    # -- gRPC --------------------------------------------------------------------------------

    async def _export_grpc(self, signal: Signal, body: bytes) -> PartialSuccess:
        call = self._calls.get(signal)
        assert call is not None, "export before start"
        method = _SIGNALS[signal].grpc_method
        compression = grpc.Compression.Gzip if self._compression == "gzip" else grpc.Compression.NoCompression
        try:
            response = await call(body, metadata=self._metadata, timeout=self._timeout, compression=compression)
        except grpc.aio.AioRpcError as exc:
            message = f"{method}: {exc.code().name}: {exc.details()}"
            if is_retryable_grpc(exc):
                raise RetryableError(message, _grpc_retry_after(exc)) from None
            raise PermanentError(message) from None
        try:
            return _parse_response(signal, bytes(response), as_json=False)
        except ValueError as exc:
            raise PermanentError(f"{method}: unreadable response: {exc}") from None


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    """At most MAX_RESPONSE_BYTES of the body; a longer one is cut (and will not parse)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(parts)[:MAX_RESPONSE_BYTES]


def _is_json(content_type: str, protocol: Protocol) -> bool:
    # The spec says the response uses the request's content type; a server may leave it out.
    if content_type in (JSON, PROTOBUF):
        return content_type == JSON
    return protocol == "http/json"


def _parse_response(signal: Signal, data: bytes, *, as_json: bool) -> PartialSuccess:
    """The partial success in an Export*ServiceResponse; ValueError when it does not parse."""
    spec = _SIGNALS[signal]
    if not data.strip():
        return PartialSuccess()  # an empty body is an empty response: full success
    if as_json:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        partial = obj.get("partialSuccess", obj.get("partial_success")) or {}
        if not isinstance(partial, dict):
            raise ValueError("partialSuccess: expected an object")
        raw = partial.get(spec.rejected_json, partial.get(spec.rejected_field, 0)) or 0
        try:
            rejected = int(raw)  # int64 arrives as a decimal string (or a number)
        except (TypeError, ValueError):
            raise ValueError(f"partialSuccess.{spec.rejected_json}: not an integer: {raw!r}") from None
        message = partial.get("errorMessage", partial.get("error_message", "")) or ""
        return PartialSuccess(max(0, rejected), str(message))
    response: Any = spec.response()
    try:
        response.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"invalid protobuf: {exc}") from None
    partial_pb = response.partial_success
    return PartialSuccess(max(0, int(getattr(partial_pb, spec.rejected_field))), partial_pb.error_message)


def _status_text(data: bytes, as_json: bool) -> str:
    """The message of a google.rpc.Status failure body, or the start of whatever came."""
    status = status_pb2.Status()
    try:
        if as_json:
            obj = orjson.loads(data)
            if isinstance(obj, dict) and isinstance(obj.get("message"), str):
                return str(obj["message"])[:300]
        else:
            status.ParseFromString(data)
            if status.message:
                return str(status.message)[:300]
    except (orjson.JSONDecodeError, DecodeError):
        pass
    return data[:300].decode("utf-8", "replace").strip()


def _grpc_retry_after(exc: grpc.aio.AioRpcError) -> float | None:
    """The server's RetryInfo delay in seconds, if it sent one."""
    for key, value in exc.trailing_metadata() or ():
        if not isinstance(value, bytes):
            continue
        try:
            if key == "google.rpc.retryinfo-bin":
                return _delay(error_details_pb2.RetryInfo.FromString(value))
            if key == "grpc-status-details-bin":
                for detail in status_pb2.Status.FromString(value).details:
                    if detail.type_url == _RETRY_INFO_TYPE:
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        return _delay(info)
        except DecodeError:
            continue
    return None


def _delay(info: error_details_pb2.RetryInfo) -> float:
    seconds: float = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return max(0.0, seconds)
