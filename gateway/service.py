"""Load config → build the graph → start → wait for a signal → shut down within the deadline.

Start order: exporters, processors, receivers, then the listeners (so nothing is accepted
before it can be delivered). Shutdown order is the reverse: readiness flips to not-ready, the
listeners stop taking requests, then receivers, processors (which flush) and exporters (which
drain their queues) stop, all within ``service.shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable

import orjson
from aiohttp import web

from gateway.config import GatewayConfig
from gateway.listeners import Listeners
from gateway.pipeline import Graph, build
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)


class Service:
    def __init__(self, cfg: GatewayConfig, *, worker: int | None = None) -> None:
        self.cfg = cfg
        self.telemetry = Telemetry()
        self.graph: Graph = build(cfg, self.telemetry, worker=worker)
        self._ready = False
        self._started = False
        self._stopped = False
        self._register_ops_endpoints(self.graph.listeners)

    @property
    def listeners(self) -> Listeners:
        return self.graph.listeners

    def _register_ops_endpoints(self, listeners: Listeners) -> None:
        svc = self.cfg.service
        if svc.telemetry.metrics is not None:
            listeners.http_listener(svc.telemetry.metrics.endpoint).add_route(
                "GET", "/metrics", self._metrics, "service::telemetry::metrics"
            )
        if svc.health is not None:
            h = listeners.http_listener(svc.health.endpoint)
            h.add_route("GET", "/healthz", self._healthz, "service::health")
            h.add_route("GET", "/readyz", self._readyz, "service::health")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.telemetry.exposition(), content_type="text/plain", charset="utf-8")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, dumps=lambda o: orjson.dumps(o).decode())

    async def _readyz(self, request: web.Request) -> web.Response:
        health = self.cfg.service.health
        threshold = float(health.exporter_stall_threshold) if health is not None else 0.0
        stalled = [
            f"exporter {name} has not made progress for {int(age)}s"
            for name, probe in self.telemetry.stall_probes.items()
            if threshold and (age := probe()) > threshold
        ]
        if self._ready and not stalled:
            return web.json_response({"status": "ok"}, dumps=lambda o: orjson.dumps(o).decode())
        if self._ready:
            return web.json_response(
                {"status": "degraded", "errors": stalled},
                status=503,
                dumps=lambda o: orjson.dumps(o).decode(),
            )
        return web.json_response(
            {"status": "not ready", "reason": "shutting down" if self._stopped else "starting"},
            status=503,
            dumps=lambda o: orjson.dumps(o).decode(),
        )

    async def start(self) -> None:
        g = self.graph
        try:
            for exp in g.exporters.values():
                await exp.start()
            for _pipeline, _pid, proc in g.processors:
                await proc.start()
            for rec in g.receivers.values():
                await rec.start()
            await g.listeners.start()
        except BaseException:
            await self.shutdown()
            raise
        self._started = True
        self._ready = True
        log.info(
            "gateway started receivers=%d pipelines=%d exporters=%d",
            len(g.receivers),
            len(self.cfg.service.pipelines),
            len(g.exporters),
        )

    async def shutdown(self) -> None:
        """Idempotent; safe before start. Drains within service.shutdown_timeout."""
        if self._stopped:
            return
        self._stopped = True
        self._ready = False
        deadline = time.monotonic() + float(self.cfg.service.shutdown_timeout)
        g = self.graph
        await g.listeners.shutdown()
        for rec in g.receivers.values():
            await _bounded(rec.shutdown(), deadline, "receiver")
        for _pipeline, _pid, proc in g.processors:
            await _bounded(proc.shutdown(), deadline, "processor")
        for exp in g.exporters.values():
            await _bounded(exp.shutdown(), deadline, "exporter")
        log.info("gateway stopped")

    async def run_until_signal(self) -> None:
        """Starts, waits for SIGTERM/SIGINT, shuts down; a second signal exits at once."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = 0

        def on_signal(sig: signal.Signals) -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                log.warning("second signal %s: exiting without draining", sig.name)
                raise SystemExit(1)
            log.info("received %s: shutting down", sig.name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


async def _bounded(coro: Awaitable[None], deadline: float, what: str) -> None:
    remaining = max(0.05, deadline - time.monotonic())
    try:
        await asyncio.wait_for(coro, remaining)
    except TimeoutError:
        log.warning("%s did not stop within the shutdown timeout", what)
    except Exception:
        log.exception("%s failed to shut down cleanly", what)
