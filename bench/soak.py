"""Soak test (not CI): acknowledged = delivered under mixed load, a flapping backend and a kill -9.

Runs the gateway as a separate process (``sigil`` receiver over HTTP and gRPC → ``batch`` →
``sigil`` exporter with a persistent queue) against a Sigil backend in this process that flaps
(accepts for ``--up`` seconds, answers ``UNAVAILABLE`` for ``--down`` seconds, sometimes slowly),
while ``--clients`` clients send generations with unique ids: small and large HTTP bodies and gRPC
requests, retrying what is refused (429/503/connection errors) as a real SDK does. Halfway
through the gateway is killed with SIGKILL and started again on the same queue. At the end the
load stops, the backend stays up until everything acknowledged has arrived (or ``--drain``
seconds), and the script prints::

    acknowledged=N delivered=N missing=0 duplicates=D (at-least-once: resent after a kill -9)

and exits 0 when nothing acknowledged is missing, 1 otherwise.

Run: python -m bench.soak [--duration 600] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
import grpc
import orjson
import yaml

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FlappingBackend:
    """A Sigil gRPC backend that counts every generation id it accepts."""

    def __init__(self, up: float, down: float) -> None:
        self.received: collections.Counter[str] = collections.Counter()
        self.up, self.down = up, down
        self.began = time.monotonic()
        self.port = 0
        self.forced_up = False
        self._server: grpc.aio.Server | None = None

    def available(self) -> bool:
        if self.forced_up:
            return True
        return (time.monotonic() - self.began) % (self.up + self.down) < self.up

    async def _export(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if not self.available():
            await context.abort(grpc.StatusCode.UNAVAILABLE, "flapping")
        if random.random() < 0.05:
            await asyncio.sleep(random.uniform(0.5, 2.0))  # a slow moment
        req = pb.ExportGenerationsRequest.FromString(request)
        resp = pb.ExportGenerationsResponse()
        for g in req.generations:
            self.received[g.id] += 1
            resp.results.add(generation_id=g.id, accepted=True)
        return bytes(resp.SerializeToString())

    async def start(self) -> None:
        options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        self._server = grpc.aio.server(options=options)
        handler = grpc.method_handlers_generic_handler(
            "sigil.v1.GenerationIngestService",
            {"ExportGenerations": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)


class Gateway:
    def __init__(self, workdir: str, backend_port: int) -> None:
        self.http_port, self.grpc_port, self.health_port = _free_port(), _free_port(), _free_port()
        config = {
            "receivers": {
                "sigil": {
                    "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                    "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                }
            },
            "processors": {"batch": {"send_batch_size": 200, "timeout": "100ms"}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{backend_port}",
                    "timeout": "5s",
                    "retry_on_failure": {"initial_interval": "200ms", "max_interval": "2s", "max_elapsed_time": "0s"},
                    "sending_queue": {"queue_size": 200, "num_consumers": 4, "storage": os.path.join(workdir, "q")},
                }
            },
            "service": {
                "health": {"endpoint": f"127.0.0.1:{self.health_port}"},
                "pipelines": {"p": {"receivers": ["sigil"], "processors": ["batch"], "exporters": ["sigil"]}},
            },
        }
        self.config = os.path.join(workdir, "gateway.yaml")
        with open(self.config, "w") as fh:
            yaml.safe_dump(config, fh)
        self.log = open(os.path.join(workdir, "gateway.log"), "ab")  # noqa: SIM115 - closed in stop()
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        argv = [sys.executable, "-m", "gateway", "run", "--config", self.config]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=self.log, stderr=self.log)
        async with aiohttp.ClientSession() as s:
            for _ in range(400):
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.get(f"http://127.0.0.1:{self.health_port}/readyz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise RuntimeError("gateway did not become ready; see gateway.log")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        code = 0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=60)
        self.log.close()
        return code


class Load:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.acknowledged: set[str] = set()
        self.refused = collections.Counter[str]()
        self.next_id = 0
        self.stop = asyncio.Event()

    def _ids(self, n: int) -> list[str]:
        start = self.next_id
        self.next_id += n
        return [f"soak-{i}" for i in range(start, start + n)]

    async def _http(self, session: aiohttp.ClientSession, ids: list[str], text_bytes: int) -> bool:
        message = {"role": "MESSAGE_ROLE_USER", "parts": [{"text": "x" * text_bytes}]}
        gens = [{"id": i, "model": {"provider": "openai", "name": "gpt-4o"}, "input": [message]} for i in ids]
        url = f"http://127.0.0.1:{self.gateway.http_port}/api/v1/generations:export"
        async with session.post(url, data=io.BytesIO(orjson.dumps({"generations": gens}))) as resp:
            await resp.read()
            if resp.status != 202:
                self.refused[str(resp.status)] += 1
            return resp.status == 202

    async def _grpc(self, ids: list[str]) -> bool:
        gens = [pb.Generation(id=i, model=pb.ModelRef(provider="openai", name="gpt-4o")) for i in ids]
        data = pb.ExportGenerationsRequest(generations=gens).SerializeToString()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.gateway.grpc_port}") as channel:
            call = channel.unary_unary("/sigil.v1.GenerationIngestService/ExportGenerations")
            try:
                await call(data, timeout=10)
            except grpc.aio.AioRpcError as exc:
                self.refused[exc.code().name] += 1
                return False
        return True

    async def client(self, n: int) -> None:
        rng = random.Random(n)
        async with aiohttp.ClientSession() as session:
            while not self.stop.is_set():
                shape = rng.random()
                ids = self._ids(rng.choice((1, 10, 50)))
                while not self.stop.is_set():  # an SDK resends the same batch until it is taken
                    try:
                        if shape < 0.6:
                            ok = await self._http(session, ids, 200)
                        elif shape < 0.7:
                            ok = await self._http(session, ids[:2], 256 * 1024)
                            ids = ids[:2]
                        else:
                            ok = await self._grpc(ids)
                    except (aiohttp.ClientError, OSError):
                        self.refused["connection"] += 1
                        ok = False
                    if ok:
                        self.acknowledged.update(ids)
                        break
                    await asyncio.sleep(rng.uniform(0.2, 1.0))
                await asyncio.sleep(rng.uniform(0.0, 0.05))


async def main(args: argparse.Namespace) -> int:
    backend = FlappingBackend(args.up, args.down)
    await backend.start()
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as workdir:
        gateway = Gateway(workdir, backend.port)
        await gateway.start()
        load = Load(gateway)
        clients = [asyncio.create_task(load.client(n)) for n in range(args.clients)]
        begin = time.monotonic()
        killed = False
        while time.monotonic() - begin < args.duration:
            await asyncio.sleep(5)
            elapsed = time.monotonic() - begin
            state = "up" if backend.available() else "down"
            print(
                f"{elapsed:6.0f}s acknowledged={len(load.acknowledged)} delivered={len(backend.received)} "
                f"backend={state} refused={dict(load.refused)}",
                flush=True,
            )
            if not killed and elapsed >= args.duration / 2:
                print("kill -9 the gateway, then start it again on the same queue", flush=True)
                gateway.kill9()
                await gateway.start()
                killed = True
        load.stop.set()
        await asyncio.gather(*clients)
        backend.forced_up = True
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline and not load.acknowledged <= set(backend.received):
            await asyncio.sleep(1)
        code = gateway.stop()
    await backend.stop()
    missing = load.acknowledged - set(backend.received)
    duplicates = sum(n - 1 for n in backend.received.values() if n > 1)
    print(
        f"acknowledged={len(load.acknowledged)} delivered={len(set(backend.received) & load.acknowledged)} "
        f"missing={len(missing)} duplicates={duplicates} (at-least-once: resent after a kill -9) "
        f"gateway_exit={code}"
    )
    if missing:
        print(f"missing, e.g.: {sorted(missing)[:10]}")
    return 0 if not missing else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--up", type=float, default=20.0, help="seconds the backend accepts per cycle")
    parser.add_argument("--down", type=float, default=8.0, help="seconds it answers UNAVAILABLE per cycle")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for delivery at the end")
    sys.exit(asyncio.run(main(parser.parse_args())))
