"""Log lines: real logfmt and JSON, fields as fields, one line per event, nothing secret."""

from __future__ import annotations

import io
import logging
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest

from gateway import logs

ROOT = pathlib.Path(__file__).resolve().parent.parent
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _emit(fmt: str) -> list[str]:
    out = io.StringIO()
    logs.setup("debug", fmt, out)
    log = logging.getLogger("gateway.exporters._helper")
    log.info("http listener started endpoint=127.0.0.1:8080 port=8080")
    log.warning('export to https://user:s3cret@sigil.example.net/api failed: "boom"')
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("unexpected error exporter=%s", "sigil/a")
    log.info("tenant seen", extra={"tenant": "team a"})
    return out.getvalue().splitlines()


def test_logfmt(restore_root: None) -> None:
    lines = _emit("text")
    assert len(lines) == 4  # the traceback is a field, not lines of its own
    first = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', lines[0]))
    assert TS.match(first["ts"])
    assert first == {
        "ts": first["ts"],
        "level": "info",
        "logger": "gateway.exporters.helper",
        "msg": '"http listener started"',
        "endpoint": "127.0.0.1:8080",
        "port": "8080",
    }
    assert "s3cret" not in lines[1] and "https://<redacted>@sigil.example.net" in lines[1]
    assert 'msg="export to https://<redacted>@sigil.example.net/api failed: \\"boom\\""' in lines[1]
    assert "exporter=sigil/a" in lines[2] and 'exc="Traceback' in lines[2] and "ValueError: bad\\nvalue" in lines[2]
    assert lines[3].endswith('msg="tenant seen" tenant="team a"')


def test_json(restore_root: None) -> None:
    lines = [orjson.loads(line) for line in _emit("json")]
    assert len(lines) == 4
    assert TS.match(lines[0].pop("ts"))
    assert lines[0] == {
        "level": "info",
        "logger": "gateway.exporters.helper",
        "msg": "http listener started",
        "endpoint": "127.0.0.1:8080",
        "port": 8080,
    }
    assert "s3cret" not in lines[1]["msg"]
    assert lines[2]["exporter"] == "sigil/a" and lines[2]["exc"].endswith("ValueError: bad\nvalue")
    assert lines[3]["tenant"] == "team a"


def test_fields_only_from_the_trailing_pairs() -> None:
    assert logs.split_fields("a=1 in the middle") == ("a=1 in the middle", [])
    assert logs.split_fields("text a=1 b=") == ("text", [("a", "1"), ("b", "")])
    assert logs.split_fields("only=pairs x=1") == ("only=pairs x=1", [])


def test_what_libraries_write_to_stderr_is_logged_in_the_format() -> None:
    script = """
import os, time
from gateway import logs
logs.setup("info", "json", logs.capture_stderr())
os.write(2, b"E1203 08:00:00.000000   123 chttp2_transport.cc:1403] boom\\n")
os.write(2, b"I1203 08:00:00.000000   123 ev_poll_posix.cc:9] chatter\\n")
os.write(2, b"something else\\n")
time.sleep(0.5)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, cwd=ROOT)
    lines = [orjson.loads(line) for line in out.stderr.splitlines()]
    for line in lines:
        del line["ts"]
    assert {"level": "error", "logger": "grpc", "msg": "boom", "source": "chttp2_transport.cc:1403"} in lines
    assert {"level": "info", "logger": "grpc", "msg": "chatter", "source": "ev_poll_posix.cc:9"} in lines
    assert {"level": "warning", "logger": "stderr", "msg": "something else"} in lines
