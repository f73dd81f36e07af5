"""Dead-letter files: what an exporter gave up on, kept with the reason, for ``gateway replay``.

An exporter with ``dead_letter.path`` set appends a batch there instead of only counting it when
the backend refuses it permanently (``permanent``), the exporter cannot encode or write it
(``encode``), or retries run out (``retries_exhausted``). ``gateway replay`` reads the file back
and sends each batch again through the same exporter, after the config (or the backend) is
fixed. The file is one JSON object per line::

    {"time": "2026-12-03T08:40:00Z", "exporter": "sigil/cloud", "reason": "permanent",
     "error": "HTTP 400: ...", "records": 3, "parts": 2, "parts_sent": 1, "batch": "<base64>"}

``batch`` is the batch in the persistent queue's encoding (:func:`~gateway.exporters._queue.encode_batch`,
credentials left out); ``parts_sent`` of the ``parts`` requests the batch was split into had been
accepted before the refusal, and replay skips them when the batch still splits the same way.
Once the file has reached ``max_bytes`` further entries are dropped and counted
(``reason="dead_letter_full"``): a dead-letter file never fills the disk it shares with the queue.

YAML (any network exporter, and ``file``)::

    dead_letter: {path: /var/lib/gateway/dead/sigil.jsonl, max_bytes: 104857600}
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import datetime
import logging
import os
import threading

import orjson

from gateway.exporters._queue import decode_batch, encode_batch
from gateway.model import Batch

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterConfig:
    path: str = ""  # file that batches given up on are appended to; empty: off (only counted)
    max_bytes: int = DEFAULT_MAX_BYTES  # size cap of that file in bytes; entries beyond it are dropped

    def validate(self) -> list[str]:
        problems = [] if self.max_bytes > 0 else ["max_bytes: must be greater than 0"]
        if self.path:
            problem = writable_problem(self.path)
            if problem:
                problems.append(f"path: {problem}")
        return problems


def writable_problem(path: str) -> str:
    """Why a file at ``path`` could not be appended to (its directory is created if missing),
    or "" when it can: checked at validate so a bad path fails at start, not at the first batch."""
    if os.path.isdir(path):
        return f"{path} is a directory"
    if os.path.exists(path):
        return "" if os.access(path, os.W_OK) else f"{path} is not writable"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create files in {parent}"
    return ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterEntry:
    batch: Batch
    reason: str  # permanent, encode, retries_exhausted
    error: str  # the error text the exporter got
    parts: int  # requests the batch was split into (0: not encoded)
    parts_sent: int  # of them, accepted before the failure


class DeadLetter:
    """Appends batches to one dead-letter file (thread-safe; the helper writes from a thread)."""

    def __init__(self, cfg: DeadLetterConfig, exporter_id: str) -> None:
        self.path = cfg.path
        self._max_bytes = cfg.max_bytes
        self._exporter = exporter_id
        self._lock = threading.Lock()

    def write(self, batch: Batch, *, reason: str, error: str, parts: int, parts_sent: int) -> str:
        """Appends one entry; returns "" when written, else why not (``dead_letter_full`` or
        ``dead_letter_error``; logged here)."""
        try:
            line = orjson.dumps(
                {
                    "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "exporter": self._exporter,
                    "reason": reason,
                    "error": error,
                    "records": len(batch),
                    "parts": parts,
                    "parts_sent": parts_sent,
                    "batch": base64.b64encode(encode_batch(batch)).decode(),
                }
            )
        except (TypeError, ValueError, OverflowError) as exc:
            log.error("cannot encode a dead-letter entry for %s: %s", self.path, exc)
            return "dead_letter_error"
        with self._lock:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
                if size + len(line) + 1 > self._max_bytes:
                    log.error("dead-letter file %s is full (max_bytes %d): entry dropped", self.path, self._max_bytes)
                    return "dead_letter_full"
                with open(self.path, "ab") as fh:
                    fh.write(line + b"\n")
            except (OSError, ValueError) as exc:
                log.error("cannot write dead-letter file %s: %s", self.path, exc)
                return "dead_letter_error"
        return ""


def read(path: str) -> collections.abc.Iterator[DeadLetterEntry]:
    """The entries of a dead-letter file in order; raises ValueError naming the line of a bad one."""
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                batch = decode_batch(base64.b64decode(obj["batch"], validate=True))
                yield DeadLetterEntry(
                    batch=batch,
                    reason=str(obj["reason"]),
                    error=str(obj.get("error", "")),
                    parts=int(obj.get("parts", 0)),
                    parts_sent=int(obj.get("parts_sent", 0)),
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: not a dead-letter entry: {exc}") from None
