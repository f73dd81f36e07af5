"""The gateway's log lines: logfmt (``text``) or JSON, one line per event, whoever logs it.

Every line has ``ts`` (RFC 3339, UTC, milliseconds), ``level``, ``logger`` and ``msg``; the
``key=value`` pairs that end a message (``"listener started endpoint=127.0.0.1:8080 port=8080"``)
and any ``extra={...}`` become fields of their own. A traceback is one escaped field (``exc``),
never lines of its own. Logger names drop the leading underscore of private modules
(``gateway.exporters._helper`` → ``gateway.exporters.helper``). Credentials in URLs
(``https://user:secret@host``) are printed as ``<redacted>``.

:func:`capture_stderr` routes what libraries write straight to the process's stderr (the gRPC
core's ``I1203 12:00:00.000 … file.cc:12] text`` lines) through the same
format, as the ``grpc`` or ``stderr`` logger. Python's own ``sys.stderr`` keeps the real
stderr, so an interpreter crash is still printed even when the log thread is gone.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import re
import sys
import threading
from typing import Any, TextIO

import orjson

# LogRecord attributes that are not user fields (``extra=`` adds the others).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*=\S*$")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@")
_GRPC_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+\s+(\S+?)\]\s?(.*)$")
_GRPC_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
REDACTED = "<redacted>"
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def redact_urls(text: str) -> str:
    """``scheme://user:password@host`` → ``scheme://<redacted>@host``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def public_name(name: str) -> str:
    return ".".join(part.lstrip("_") or part for part in name.split("."))


def timestamp(created: float) -> str:
    t = datetime.datetime.fromtimestamp(created, tz=datetime.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def split_fields(msg: str) -> tuple[str, list[tuple[str, str]]]:
    """``"text a=1 b=x"`` → ("text", [("a", "1"), ("b", "x")]): the trailing key=value tokens."""
    tokens = msg.split(" ")
    i = len(tokens)
    while i > 0 and _FIELD.match(tokens[i - 1]):
        i -= 1
    if i == len(tokens) or i == 0:
        return msg, []
    fields = [tuple(t.split("=", 1)) for t in tokens[i:]]
    return " ".join(tokens[:i]), [(k, v) for k, v in fields]


def _fields(record: logging.LogRecord) -> tuple[str, list[tuple[str, Any]]]:
    msg, fields = split_fields(redact_urls(record.getMessage()))
    extra: list[tuple[str, Any]] = [(k, v) for k, v in record.__dict__.items() if k not in _STANDARD]
    return msg, [*fields, *extra]


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if text and not any(c in text for c in ' ="\\\n\r\t'):
        return text
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return f'"{text}"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg, fields = _fields(record)
        parts = [
            f"ts={timestamp(record.created)}",
            f"level={record.levelname.lower()}",
            f"logger={public_name(record.name)}",
            f"msg={_logfmt_value(msg)}",
        ]
        parts += [f"{k}={_logfmt_value(v)}" for k, v in fields]
        if record.exc_info:
            parts.append(f"exc={_logfmt_value(redact_urls(self.formatException(record.exc_info)))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg, fields = _fields(record)
        out: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": public_name(record.name),
            "msg": msg,
        }
        for k, v in fields:
            out.setdefault(k, int(v) if isinstance(v, str) and v.isdigit() and len(v) < 16 else v)
        if record.exc_info:
            out["exc"] = redact_urls(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


def setup(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """One handler on the root logger: every library's records come out in ``fmt``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)


def capture_stderr() -> TextIO:
    """Points file descriptor 2 at a pipe read by a thread that logs each line, and returns a
    stream on the original stderr for the log handler itself. Call before :func:`setup`."""
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    out = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")
    sys.stderr = out  # Python-level writes go straight out; they are not in a format anyway
    thread = threading.Thread(target=_pump, args=(read_fd,), name="stderr-to-log", daemon=True)
    thread.start()
    # At exit the reading thread stops: give file descriptor 2 back to the real stderr, so a
    # late write (the gRPC core shutting down) can neither block on a full pipe nor be lost.
    atexit.register(os.dup2, original, 2)
    return out


def _pump(fd: int) -> None:
    grpc_log = logging.getLogger("grpc")
    other = logging.getLogger("stderr")
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            m = _GRPC_LINE.match(line)
            if m:
                grpc_log.log(_GRPC_LEVELS[m.group(1)], "%s", m.group(3), extra={"source": m.group(2)})
            else:
                other.warning("%s", line)
