"""The health endpoint (``service.health``) and ``/metrics`` (``service.telemetry.metrics``).

Readiness means "this process can take data now", as the Collector's health check means it:
started, every listener serving, not shutting down and not over a ``memory_limiter``. A stalled
backend does not make the gateway unready (that would take every replica, or the application's
pod in a sidecar, out of its Service at once); exporter health is reported beside it, at
``/healthz/exporters`` and in the ``/readyz`` body, and each change is logged.

    GET  /                   the same as /readyz (Collector charts probe /)
    GET  /healthz            200 while the process runs
    GET  /readyz             200 ready, 503 not ready with the reason
    GET  /healthz/exporters  200 every exporter moving, 503 one stalled (for alerts, not probes)
    POST /-/reload           re-reads the config and applies it (service.health.reload)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.config import GatewayConfig
from gateway.listeners import Listeners

if TYPE_CHECKING:
    from gateway.service import Service

log = logging.getLogger(__name__)

EXPORTER_CHECK_INTERVAL = 1.0  # seconds between exporter health checks (for the change log)
WORKER_ENV = "GATEWAY_WORKER"  # set in worker processes by the supervisor (gateway.cli)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: orjson.dumps(o).decode())


class Health:
    def __init__(self, service: Service) -> None:
        self._svc = service
        self._since = time.time()
        self.draining = False
        self._task: asyncio.Task[None] | None = None
        self._stalled: dict[str, bool] = {}
        self._reason = "starting"

    @staticmethod
    def endpoints(cfg: GatewayConfig) -> set[str]:
        svc = cfg.service
        out = set()
        if svc.health is not None:
            out.add(svc.health.endpoint)
        if svc.telemetry.metrics is not None:
            out.add(svc.telemetry.metrics.endpoint)
        return out

    def register(self, listeners: Listeners, cfg: GatewayConfig) -> None:
        svc = cfg.service
        if svc.telemetry.metrics is not None:
            listeners.http_listener(svc.telemetry.metrics.endpoint).add_route(
                "GET", "/metrics", self._metrics, "service::telemetry::metrics"
            )
        if svc.health is not None:
            h = listeners.http_listener(svc.health.endpoint)
            h.add_route("GET", "/", self._readyz, "service::health")
            h.add_route("GET", "/healthz", self._healthz, "service::health")
            h.add_route("GET", "/readyz", self._readyz, "service::health")
            h.add_route("GET", "/healthz/exporters", self._exporters, "service::health")
            if svc.health.reload:
                h.add_route("POST", "/-/reload", self._reload, "service::health")

    # -- state --------------------------------------------------------------------------------

    def not_ready(self) -> str:
        """Why this process cannot take data now; "" when it can."""
        svc = self._svc
        if svc.stopping:
            return "shutting down"
        if not svc.started:
            return "starting"
        if any(r() for _, _, proc in svc.graph.processors if (r := proc.capabilities.refusing) is not None):
            return "memory limit reached"
        listeners = svc.listeners
        down = [e for table in (listeners.http, listeners.grpc) for e, lst in table.items() if not lst.running]
        if down:
            return f"listener {', '.join(sorted(down))} not serving"
        return ""

    def exporters(self) -> dict[str, dict[str, Any]]:
        health = self._svc.cfg.service.health
        threshold = float(health.exporter_stall_threshold) if health is not None else 0.0
        out = {}
        for name, probe in sorted(self._svc.telemetry.stall_probes.items()):
            age = probe()
            stalled = bool(threshold) and age > threshold
            out[name] = {"healthy": not stalled, "stalled_seconds": round(age, 1)}
        return out

    # -- handlers -----------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._svc.telemetry.exposition(), content_type="text/plain", charset="utf-8")

    async def _healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "uptime_seconds": int(time.time() - self._since)})

    async def _readyz(self, request: web.Request) -> web.Response:
        reason = self.not_ready()
        exporters = self.exporters()
        if reason:
            return _json({"status": "not ready", "reason": reason, "exporters": exporters}, 503)
        return _json({"status": "ok", "exporters": exporters})

    async def _exporters(self, request: web.Request) -> web.Response:
        exporters = self.exporters()
        healthy = all(e["healthy"] for e in exporters.values())
        return _json({"status": "ok" if healthy else "degraded", "exporters": exporters}, 200 if healthy else 503)

    async def _reload(self, request: web.Request) -> web.Response:
        log.info("reload requested by POST /-/reload from %s", request.remote)
        if os.environ.get(WORKER_ENV) is not None:
            # One worker got the request: the supervisor passes SIGHUP on to every worker.
            os.kill(os.getppid(), signal.SIGHUP)
            return _json({"status": "reload requested for every worker; see the log for the outcome"}, 202)
        problems = await self._svc.reload_from_source()
        if problems:
            return _json({"status": "refused, the running config stays", "errors": problems}, 400)
        return _json({"status": "reloaded"})

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="exporter-health")

    async def _watch(self) -> None:
        while True:
            self.check()
            self._svc.telemetry.update_process()
            await asyncio.sleep(EXPORTER_CHECK_INTERVAL)

    def check(self) -> None:
        """Logs every change of readiness and of an exporter's health."""
        reason = self.not_ready()
        if reason != self._reason:
            if reason:
                log.log(logging.INFO if reason == "shutting down" else logging.WARNING, "not ready: %s", reason)
            else:
                log.info("ready")
            self._reason = reason
        for name, state in self.exporters().items():
            stalled = not state["healthy"]
            if stalled != self._stalled.get(name, False):
                if stalled:
                    log.warning("exporter %s unhealthy: no progress for %.1fs", name, state["stalled_seconds"])
                else:
                    log.info("exporter %s healthy again", name)
            self._stalled[name] = stalled

    async def drain(self, delay: float) -> None:
        """Not ready from now on; the listeners keep taking requests for ``delay`` seconds."""
        self.draining = True
        self.check()
        if delay > 0:
            log.info("not ready; still accepting for %gs (service.shutdown_delay) before the drain", delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
