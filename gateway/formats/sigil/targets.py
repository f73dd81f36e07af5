"""Sigil schema targets: what each server generation knows, and how a generation is fitted to it.

Sigil servers decode protojson with unknown fields rejected, so one field a server does not know
refuses the whole request (``400 unknown field``). The gateway decodes the union schema; on the
way out the ``sigil`` exporter's ``schema`` names the target and :func:`fit_dict` /
:func:`fit_message` leave out what the target lacks, converting what can be converted:

============================  ==============  ===========  ====================
field                         sigil-2026-03   sdk-0.9      agento11y-2026-08
============================  ==============  ===========  ====================
parent_generation_ids (29)    left out        kept         kept
effective_version (30)        left out        kept         kept
Part.media (6)                left out        left out     kept
TokenUsage.input_semantics    converted       converted    kept
============================  ==============  ===========  ====================

"Converted": a target without ``input_semantics`` reads counts as exclusive (cache read and write
not part of ``input_tokens``, reasoning not part of ``output_tokens``), so an inclusive usage is
rewritten to that form (``input_tokens - cache_read - cache_write``, ``output_tokens -
reasoning``, never below 0; ``total_tokens`` unchanged) instead of being double counted.

``sigil-2026-03`` (the March 2026 server, the oldest in use) is the default: every server
accepts what it writes. Over gRPC an older server would skip unknown fields, but the usage
conversion matters there too, so both transports are fitted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, Literal

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats.sigil.common import SEMANTICS_INCLUSIVE

SchemaName = Literal["sigil-2026-03", "sdk-0.9", "agento11y-2026-08"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    name: str
    lineage: bool  # parent_generation_ids and effective_version
    media: bool  # Part.media
    input_semantics: bool  # TokenUsage.input_semantics (inclusive counts)

    @property
    def full(self) -> bool:
        return self.lineage and self.media and self.input_semantics


SCHEMAS: Final[dict[str, Schema]] = {
    "sigil-2026-03": Schema(name="sigil-2026-03", lineage=False, media=False, input_semantics=False),
    "sdk-0.9": Schema(name="sdk-0.9", lineage=True, media=False, input_semantics=False),
    "agento11y-2026-08": Schema(name="agento11y-2026-08", lineage=True, media=True, input_semantics=True),
}
DEFAULT_SCHEMA: Final = "sigil-2026-03"
FULL: Final = SCHEMAS["agento11y-2026-08"]

_INCLUSIVE_NAME: Final = "TOKEN_INPUT_SEMANTICS_INCLUSIVE"
_COUNT_KEYS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_tokens",
)


def exclusive_counts(
    input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, reasoning: int
) -> tuple[int, int]:
    """Inclusive input and output counts in the exclusive form (see the module docstring)."""
    return max(0, input_tokens - cache_read - cache_write), max(0, output_tokens - reasoning)


def fit_dict(generation: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Fits one protojson generation dict (proto field names, int64 as strings) in place."""
    if schema.full:
        return generation
    if not schema.lineage:
        generation.pop("parent_generation_ids", None)
        generation.pop("effective_version", None)
    if not schema.media:
        for key in ("input", "output"):
            for message in generation.get(key, ()):
                parts = message.get("parts")
                if parts and any("media" in part for part in parts):
                    message["parts"] = [part for part in parts if "media" not in part]
    usage = generation.get("usage")
    if not schema.input_semantics and usage and usage.pop("input_semantics", None) == _INCLUSIVE_NAME:
        counts = [int(usage.get(k, 0)) for k in _COUNT_KEYS]
        input_tokens, output_tokens = exclusive_counts(*counts)
        for key, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if value:
                usage[key] = str(value)
            else:
                usage.pop(key, None)
    return generation


def needs_fitting(g: pb.Generation, schema: Schema) -> bool:
    """Whether :func:`fit_message` would change ``g`` (cheap: no copy)."""
    if schema.full:
        return False
    if not schema.input_semantics and g.usage.input_semantics == SEMANTICS_INCLUSIVE:
        return True
    if not schema.lineage and (g.parent_generation_ids or g.HasField("effective_version")):
        return True
    if not schema.media:
        # Loops over slices, no generator: the default schema scans every part of every message
        # here, and upb iterates repeated fields slowly (a slice is one C call).
        for messages in (g.input, g.output):
            for message in messages[:]:
                for part in message.parts[:]:
                    if part.HasField("media"):
                        return True
    return False


def fit_message(g: pb.Generation, schema: Schema) -> pb.Generation:
    """``g`` fitted to ``schema``: ``g`` itself when nothing changes, else a fitted copy (pass-through
    messages are shared between fan-out branches and must not be changed)."""
    if not needs_fitting(g, schema):
        return g
    out = pb.Generation()
    out.CopyFrom(g)
    if not schema.lineage:
        out.ClearField("parent_generation_ids")
        out.ClearField("effective_version")
    if not schema.media:
        for message in (*out.input, *out.output):
            if any(p.HasField("media") for p in message.parts):
                keep = [pb.Part() for p in message.parts if not p.HasField("media")]
                for copy, p in zip(keep, (p for p in message.parts if not p.HasField("media")), strict=True):
                    copy.CopyFrom(p)
                del message.parts[:]
                message.parts.extend(keep)
    u = out.usage
    if not schema.input_semantics and u.input_semantics == SEMANTICS_INCLUSIVE:
        u.input_tokens, u.output_tokens = exclusive_counts(
            u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens, u.reasoning_tokens
        )
        u.ClearField("input_semantics")
    return out
