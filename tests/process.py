"""Runs the gateway as a separate process for tests that need signals or a crash."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class GatewayProcess:
    def __init__(self, config: dict[str, Any], workdir: pathlib.Path) -> None:
        self.health_port = free_port()
        config = {
            **config,
            "service": {**config["service"], "health": {"endpoint": f"127.0.0.1:{self.health_port}"}},
        }
        self.config_path = workdir / "gateway.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited: {self.log_path.read_text()}")
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(self.log_path.read_text())
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.proc.wait, timeout)
        return code

    def logs(self) -> str:
        return self.log_path.read_text()

    async def wait_for_log(self, text: str, count: int = 1, timeout: float = 20.0) -> None:
        """Waits until ``text`` appears ``count`` times in the log (e.g. once per worker)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.logs().count(text) < count:
            if loop.time() > deadline:
                raise TimeoutError(self.logs())
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
