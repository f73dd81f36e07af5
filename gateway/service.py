"""Load config → build the graph → start → wait for a signal → shut down within the deadline.

Start order: exporters, processors, receivers, then the listeners (so nothing is accepted
before it can be delivered). Shutdown order is the reverse: readiness flips to not-ready, for
``service.shutdown_delay`` the listeners still take requests (load balancers and Kubernetes
endpoints catch up), then the listeners stop taking requests, and receivers, processors (which
flush) and exporters (which drain their queues) stop, all within ``service.shutdown_timeout``.
The health listener answers 503 until the very end.

A reload (SIGHUP, or ``POST /-/reload`` on the health endpoint) builds the new graph beside the
running one, starts it, swaps the routes of every listener under its open socket, waits for
the requests still running on the old routes, then stops the old components: processors flush
into the exporters, and exporters whose settings did not change are kept as they are (their
queues carry on). Any problem keeps the running config (see :meth:`Service.reload`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from gateway.component import ComponentId, Exporter
from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.health import Health
from gateway.listeners import Generation, Listeners
from gateway.pipeline import Graph, build
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)

ConfigSource = Callable[[], GatewayConfig]
# Seconds a reload gives a replaced exporter with a persistent queue before cancelling its
# sends (the rows stay on disk for its replacement; a batch cut short is sent again).
PERSISTENT_HANDOVER = 0.1


class Service:
    def __init__(
        self, cfg: GatewayConfig, *, worker: int | None = None, config_source: ConfigSource | None = None
    ) -> None:
        self.cfg = cfg
        self.telemetry = Telemetry(worker)
        self._worker = worker
        self._config_source = config_source
        self.graph: Graph = build(cfg, self.telemetry, worker=worker)
        self.health = Health(self)
        self.health.register(self.graph.listeners, cfg)
        self._started = False
        self._stopped = False
        self._reload_lock = asyncio.Lock()
        # Called with the new config after a reload succeeded (the CLI re-applies the log settings).
        self.on_reload: Callable[[GatewayConfig], None] = lambda cfg: None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listeners(self) -> Listeners:
        return self.graph.listeners

    @property
    def started(self) -> bool:
        return self._started

    @property
    def stopping(self) -> bool:
        return self._stopped or self.health.draining

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
        self.health.start()
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
        deadline = time.monotonic() + float(self.cfg.service.shutdown_timeout)
        async with self._reload_lock:  # a reload under way finishes its swap first
            g = self.graph
        # The health listener stays up (answering 503) until everything else has stopped.
        ops = self.health.endpoints(self.cfg)
        for table in (g.listeners.http, g.listeners.grpc):
            for endpoint, listener in table.items():
                if endpoint not in ops:
                    await listener.shutdown()
        for rec in g.receivers.values():
            await _bounded(rec.shutdown(), deadline, "receiver")
        for _pipeline, _pid, proc in g.processors:
            await _bounded(proc.shutdown(), deadline, "processor")
        await _bounded(self.wait_retired(), deadline, "a config reload")
        for exp in g.exporters.values():
            await _bounded(exp.shutdown(), deadline, "exporter")
        await self.health.stop()
        await g.listeners.shutdown()
        if self._started:
            log.info("gateway stopped")

    # -- reload -------------------------------------------------------------------------------

    async def reload_from_source(self) -> list[str]:
        """Reads the config again the way it was read at start and applies it."""
        if self._config_source is None:
            return ["no config source to reload from"]
        try:
            cfg = self._config_source()
        except ConfigError as exc:
            log.error("reload refused, keeping the running config: %s", "; ".join(exc.problems))
            return exc.problems
        return await self.reload(cfg)

    async def reload(self, cfg: GatewayConfig) -> list[str]:
        """Applies ``cfg``; returns [] when it runs, or the problems (the running config stays).

        Nothing queued or in flight is dropped: unchanged exporters are kept with their queues,
        the old processors flush into the exporters before they stop, and the old exporters
        that go drain like at shutdown (within ``service.shutdown_timeout``). An exporter with a
        persistent queue whose settings changed is stopped before its replacement opens the
        same directory, at once (its rows stay on disk; a send cut short is repeated); in that
        instant its old pipeline answers with a retryable 429.
        """
        async with self._reload_lock:
            if not self._started or self.stopping:
                return ["the gateway is not running"]
            problems = await self._swap(cfg)
        if problems:
            log.error("reload refused, keeping the running config: %s", "; ".join(problems))
        return problems

    async def _swap(self, cfg: GatewayConfig) -> list[str]:
        old, old_cfg = self.graph, self.cfg
        if cfg.service.workers != old_cfg.service.workers:
            log.warning(
                "reload: service.workers changed from %d to %d; that takes a restart",
                old_cfg.service.workers,
                cfg.service.workers,
            )
        reuse = {
            cid: exp
            for cid, exp in old.exporters.items()
            if (now := cfg.exporters.get(cid)) is not None
            and now.factory.type == old_cfg.exporters[cid].factory.type
            and now.config == old_cfg.exporters[cid].config
        }
        probes = dict(self.telemetry.stall_probes)
        try:
            new = build(cfg, self.telemetry, worker=self._worker, reuse=reuse)
            self.health.register(new.listeners, cfg)
        except ConfigError as exc:
            self.telemetry.stall_probes = probes
            return exc.problems
        except ValueError as exc:
            self.telemetry.stall_probes = probes
            return [str(exc)]
        shared_dirs = _replaced_persistent(old_cfg, cfg, old.exporters, reuse)
        started: list[object] = []
        try:
            for cid, exp in new.exporters.items():
                if cid not in reuse and cid not in shared_dirs:
                    await exp.start()
                    started.append(exp)
            for _pipeline, _pid, proc in new.processors:
                await proc.start()
                started.append(proc)
            for rec in new.receivers.values():
                await rec.start()
                started.append(rec)
            await new.listeners.open(old.listeners)
        except Exception as exc:
            for component in reversed(started):
                await _bounded(component.shutdown(), time.monotonic() + 5, "component")  # type: ignore[attr-defined]
            self.telemetry.stall_probes = probes
            return [f"cannot start the new config: {exc}"]
        deadline = time.monotonic() + float(old_cfg.service.shutdown_timeout)
        for cid in shared_dirs:
            # No drain: what is queued stays on disk for the replacement, so hand over at once.
            await _bounded(old.exporters[cid].shutdown(), time.monotonic() + PERSISTENT_HANDOVER, f"exporter {cid}")
            try:
                await new.exporters[cid].start()
            except Exception:
                log.exception("reload: exporter %s could not start; it refuses data until the next reload", cid)
        retired = await new.listeners.take_over(old.listeners)
        self.graph, self.cfg = new, cfg
        for name in list(self.telemetry.stall_probes):
            if ComponentId.parse(name) not in new.exporters:
                del self.telemetry.stall_probes[name]
        self.on_reload(cfg)
        for warning in cfg.warnings:
            log.warning("config: %s", warning)
        log.info(
            "config reloaded receivers=%d pipelines=%d exporters=%d unchanged_exporters=%d",
            len(new.receivers),
            len(cfg.service.pipelines),
            len(new.exporters),
            len(reuse),
        )
        self._spawn(self._retire(old, retired, reuse, set(shared_dirs), deadline))
        return []

    async def _retire(
        self,
        old: Graph,
        retired: list[Generation],
        kept: dict[ComponentId, Exporter],
        done: set[ComponentId],
        deadline: float,
    ) -> None:
        """Stops the old graph once the requests on its routes have finished."""
        waits = [asyncio.ensure_future(gen.wait_idle()) for gen in retired]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=max(0.05, deadline - time.monotonic()))
            for w in pending:
                w.cancel()
            if pending:
                log.warning("reload: %d listener(s) still had requests on the old config at the deadline", len(pending))
        for rec in old.receivers.values():
            await _bounded(rec.shutdown(), deadline, "receiver")
        for _pipeline, _pid, proc in old.processors:
            await _bounded(proc.shutdown(), deadline, "processor")
        for cid, exp in old.exporters.items():
            if cid not in kept and cid not in done:
                await _bounded(exp.shutdown(), deadline, f"exporter {cid}")
        log.info("reload: the previous config has stopped")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_retired(self) -> None:
        """Waits until the components retired by reloads have stopped (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- signals ------------------------------------------------------------------------------

    async def run_until_signal(self, hangup_pending: Callable[[], bool] = lambda: False) -> None:
        """Starts; SIGHUP reloads; SIGTERM/SIGINT: not ready, ``shutdown_delay``, then shut
        down; a second SIGTERM/SIGINT exits at once."""
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

        def on_hangup() -> None:
            log.info("received SIGHUP: reloading the config")
            self._spawn(_quiet(self.reload_from_source()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        try:
            await self.start()
            if hangup_pending():  # SIGHUP while starting: the config read may be stale
                on_hangup()
            await stop.wait()
            await self.health.drain(float(self.cfg.service.shutdown_delay))
        finally:
            await self.wait_retired()
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)


def _replaced_persistent(
    old_cfg: GatewayConfig, cfg: GatewayConfig, old: dict[ComponentId, Exporter], reuse: dict[ComponentId, Exporter]
) -> list[ComponentId]:
    """Exporters that get a new instance on the same persistent-queue directory as a running
    one: one SQLite database has one owner, so the old one stops before the new one starts."""
    out = []
    for cid in old:
        if cid in reuse or cid not in cfg.exporters:
            continue
        before = _storage(old_cfg, cid)
        if before and before == _storage(cfg, cid):
            out.append(cid)
    return out


def _storage(cfg: GatewayConfig, cid: ComponentId) -> str:
    queue = getattr(cfg.exporters[cid].config, "sending_queue", None)
    return str(getattr(queue, "storage", "") or "")


async def _quiet(coro: Awaitable[list[str]]) -> None:
    await coro  # the outcome is logged by reload()


async def _bounded(coro: Awaitable[None], deadline: float, what: str) -> None:
    remaining = max(0.05, deadline - time.monotonic())
    try:
        await asyncio.wait_for(coro, remaining)
    except TimeoutError:
        log.warning("%s did not stop within the shutdown timeout", what)
    except Exception:
        log.exception("%s failed to shut down cleanly", what)
