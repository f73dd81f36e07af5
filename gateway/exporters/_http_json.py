"""A JSON-over-HTTP exporter skeleton shared by the Foglamp and LumiqTrace exporters.

Subclasses say how records become payloads (``encode``) and how a response status maps onto
retry decisions (``classify``); this class owns the session, the POST, and the counting.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

import aiohttp

from gateway import __version__
from gateway.component import Capabilities, CreateSettings
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._dead_letter import DeadLetterConfig, DeadLetterEntry
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.exporters._transport import TlsConfig, http_retry_after, http_session, is_retryable_http
from gateway.formats.report import EncodeReport
from gateway.model import Batch

log = logging.getLogger(__name__)

USER_AGENT = f"llm-telemetry-gateway/{__version__}"


def endpoint_and_key_problems(endpoint: str, api_key: str) -> list[str]:
    """The checks every keyed JSON-over-HTTP exporter config makes."""
    problems = []
    if not endpoint.startswith(("http://", "https://")):
        problems.append("endpoint: must start with http:// or https://")
    if not api_key.strip():
        problems.append("api_key: must not be empty (is the environment variable set?)")
    return problems


class HttpJsonExporter:
    capabilities = Capabilities()
    url: str
    headers: dict[str, str]
    # A subclass whose format has a place for scores (LumiqTrace eval_scores) sets this and
    # handles batch.scores in encode; otherwise they are dropped and counted before encode.
    takes_scores: ClassVar[bool] = False

    def __init__(
        self,
        settings: CreateSettings,
        *,
        url: str,
        headers: dict[str, str],
        timeout: float,
        tls: TlsConfig,
        retry: RetryConfig,
        queue: QueueConfig,
        dead_letter: DeadLetterConfig | None = None,
    ) -> None:
        self.url = url
        self.headers = {"User-Agent": USER_AGENT, **headers}
        self._timeout = timeout
        self._tls = tls
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._session: aiohttp.ClientSession | None = None
        self._helper = ExporterHelper(
            settings,
            self._encode,
            self._send,
            retry=retry,
            queue=queue,
            takes_scores=self.takes_scores,
            dead_letter=dead_letter,
        )

    # -- for subclasses ----------------------------------------------------------------------

    def encode(self, batch: Batch) -> tuple[list[Payload], EncodeReport]:
        raise NotImplementedError

    def classify(self, status: int, body: bytes, retry_after: float | None) -> None:
        """Raises the right error for a non-2xx status (default: the shared rule, is_retryable_http)."""
        text = body[:300].decode("utf-8", "replace").strip()
        msg = f"POST {self.url}: HTTP {status}: {text}"
        if is_retryable_http(status):
            raise RetryableError(msg, retry_after)
        raise PermanentError(msg)

    # -- machinery ---------------------------------------------------------------------------

    def _encode(self, batch: Batch) -> Sequence[Payload]:
        payloads, report = self.encode(batch)
        for reason, n in report.dropped.items():
            self._t.exporter_dropped.labels(self._id, reason).inc(n)
        return payloads

    async def _send(self, payload: Payload) -> None:
        assert self._session is not None
        body, extra_headers = payload.data
        try:
            async with self._session.post(
                self.url, data=body, headers={**self.headers, **extra_headers}, ssl=self._tls.ssl_context()
            ) as resp:
                data = await resp.read()
                if not 200 <= resp.status < 300:
                    self.classify(resp.status, data, http_retry_after(resp.headers.get("Retry-After")))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"POST {self.url}: {exc.__class__.__name__}: {exc}") from None
        self._t.exporter_sent.labels(self._id).inc(payload.count)

    async def start(self) -> None:
        self._session = http_session(self._tls, self._timeout)
        await self._helper.start()

    async def replay(self, entry: DeadLetterEntry) -> None:
        """Sends a dead-lettered batch again (``gateway replay``), bypassing the queue."""
        await self._helper.send_now(entry.batch, parts=entry.parts, parts_sent=entry.parts_sent)

    async def consume(self, batch: Batch) -> None:
        await self._helper.consume(batch)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        await self._helper.shutdown()
        if self._session is not None:
            await self._session.close()
            self._session = None
