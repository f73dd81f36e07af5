"""``gateway replay``: sends an exporter's dead-letter entries again, once the cause is fixed.

The exporter is built from the (fixed) config as ``gateway run`` would build it, but sends in the
command's own task, without its queue. The dead-letter file is first renamed aside
(``<path>.replaying-<time>``); whatever fails again is dead-lettered anew at ``<path>`` by the
exporter itself, so a second replay picks up exactly what is still missing, and the aside file is
removed when every entry was tried. A replay that is interrupted leaves the aside file, which
``--dead-letter <aside file>`` replays.

Run it while the gateway is stopped, or against a dead-letter file the running gateway does not
write to (``--dead-letter`` a copy), so the two do not append to the same file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Protocol, runtime_checkable

from gateway.component import ComponentId, CreateSettings
from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.exporters import _dead_letter
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)


@runtime_checkable
class Replayable(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def replay(self, entry: _dead_letter.DeadLetterEntry) -> None: ...


@dataclasses.dataclass(slots=True, kw_only=True)
class ReplaySummary:
    entries: int = 0  # dead-letter entries read
    records: int = 0  # records in them
    sent: int = 0  # records the backend accepted
    failed: int = 0  # records given up on again (dead-lettered anew, or lost if that failed)
    path: str = ""  # the dead-letter file failures went back to

    def text(self) -> str:
        return (
            f"replayed {self.entries} entries ({self.records} records): {self.sent} sent, "
            f"{self.failed} failed again" + (f" (back in {self.path})" if self.failed else "")
        )


def _exporter_config(cfg: GatewayConfig, exporter: str, dead_letter: str | None) -> tuple[ComponentId, Any, Any, str]:
    try:
        cid = ComponentId.parse(exporter)
    except ValueError as exc:
        raise ConfigError([f"--exporter: {exc}"]) from None
    cc = cfg.exporters.get(cid)
    if cc is None:
        known = ", ".join(sorted(str(c) for c in cfg.exporters)) or "none"
        raise ConfigError([f"--exporter: no exporter {exporter!r} in the config (exporters: {known})"])
    config = cc.config
    configured = getattr(config, "dead_letter", None)
    if configured is None:
        raise ConfigError([f"--exporter: {exporter} has no dead-letter store (type {cid.type})"])
    path = dead_letter or configured.path
    if not path:
        raise ConfigError([f"exporters::{exporter}::dead_letter::path: not set; give --dead-letter"])
    # Failures of this run go back to the configured file (or the one given), as in a normal run.
    target = configured.path or path
    changes: dict[str, Any] = {"dead_letter": dataclasses.replace(configured, path=target)}
    queue = getattr(config, "sending_queue", None)
    if queue is not None:
        changes["sending_queue"] = dataclasses.replace(queue, enabled=False, storage="")
    return cid, cc.factory, dataclasses.replace(config, **changes), path


def _total(telemetry: Telemetry, name: str) -> int:
    return int(
        sum(
            sample.value
            for metric in telemetry.registry.collect()
            for sample in metric.samples
            if sample.name == name + "_total"
        )
    )


async def replay(cfg: GatewayConfig, exporter: str, dead_letter: str | None = None) -> ReplaySummary:
    """Replays one exporter's dead-letter file (see the module docstring); raises ConfigError for
    a wrong exporter or path, OSError when the file cannot be read, ValueError for a bad entry."""
    cid, factory, config, path = _exporter_config(cfg, exporter, dead_letter)
    if not os.path.exists(path):
        raise ConfigError([f"--dead-letter: {path} does not exist (nothing was dead-lettered?)"])
    telemetry = Telemetry()
    instance = factory.create(CreateSettings(id=cid, telemetry=telemetry), config)
    if not isinstance(instance, Replayable):
        raise ConfigError([f"--exporter: {exporter} cannot replay (type {cid.type})"])
    aside = f"{path}.replaying-{int(time.time())}" if not path.count(".replaying-") else path
    if aside != path:
        os.replace(path, aside)
    summary = ReplaySummary(path=config.dead_letter.path)
    await instance.start()
    try:
        for entry in _dead_letter.read(aside):
            summary.entries += 1
            summary.records += len(entry.batch)
            await instance.replay(entry)
    finally:
        await instance.shutdown()
    os.remove(aside)
    summary.sent = _total(telemetry, "gateway_exporter_sent_records")
    summary.failed = _total(telemetry, "gateway_exporter_send_failed_records")
    log.info("%s", summary.text())
    return summary
