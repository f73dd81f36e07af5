"""Reading a JSON-lines file that a running gateway is still writing."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import orjson

from gateway.formats.record_json import from_dict
from gateway.model import Record


def complete_lines(path: pathlib.Path) -> list[Any]:
    """The file's lines that end in a newline, parsed; a line still being written is left out."""
    if not path.exists():
        return []
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    return [orjson.loads(line) for line in whole.splitlines() if line]


async def wait_for_lines(path: pathlib.Path, n: int, timeout: float = 20) -> list[Any]:
    """At least ``n`` complete lines of ``path``, parsed; fails after ``timeout`` seconds."""

    async def loop() -> list[Any]:
        while len(lines := complete_lines(path)) < n:
            await asyncio.sleep(0.02)
        return lines

    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"{path} did not get {n} lines: {complete_lines(path)!r:.500}") from None


async def file_records(path: pathlib.Path, n: int, timeout: float = 20) -> list[Record]:
    """At least ``n`` records written by a ``file`` exporter to ``path``."""
    return [from_dict(line) for line in await wait_for_lines(path, n, timeout)]
