"""Config value types below every component: durations and byte sizes as YAML spells them.

Components declare fields of these types; :mod:`gateway.config` reads YAML strings into them.
They live here, not in ``config``, so that component modules do not import the config loader
(which imports the registry, which imports every component).
"""

from __future__ import annotations

import re


class Duration(float):
    """A duration in seconds; written in YAML as ``200ms``, ``5s``, ``1m``, ``1h``."""


class ByteSize(int):
    """A size in bytes; written in YAML as a number or ``512KiB``, ``4MiB``, ``10MB``."""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_duration(text: str) -> float:
    """``"1m30s"`` → 90.0. Raises ValueError on anything else (a bare ``0`` is allowed)."""
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"invalid duration {text!r}: expected a number with a unit, like 200ms, 5s or 1m")
    return total


def parse_size(text: str) -> int:
    """``"4MiB"`` → 4194304. Raises ValueError on anything else."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: expected bytes or a number with a unit, like 4MiB")
    unit = (match.group(2) or "B").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit])
