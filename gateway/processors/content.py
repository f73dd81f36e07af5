"""``content`` processor: the content-capture modes SDKs declare, applied to every format's content.

``mode``:

* ``full``: unchanged.
* ``no_tool_content``: generations unchanged; tool-execution spans lose their arguments and
  results (in their tool fields, and in their input and output messages where a format keeps them there).
* ``metadata_only``: the structure stays, every text goes. Cleared: the system prompt, raw
  artifacts, the conversation title, the text of every text and thinking part (the part stays,
  empty), tool-call arguments, tool-result contents, tool descriptions and schemas, tool-span
  arguments/results/descriptions, workflow step input/output state, and the metadata and extra
  keys where a format keeps content of its own (each format declares them in its ``Format``;
  docs/mapping.md lists them). The error message becomes its error category (``rate_limit``,
  ``timeout``, ``auth_error``, ``server_error``, ``client_error``, ``sdk_error``). Kept: ids,
  models, usage, times, request parameters, roles, part kinds, tool names, and all user metadata
  and tags. Rating comments are blanked.

``max_content_bytes`` (0: off) cuts every remaining text longer than that many UTF-8 bytes and
appends a marker saying how much was cut. The mode applied is recorded in the record's capture-mode
label (``gateway.formats.capture_mode_key()``) when it is stricter than what the source declared.

.. code-block:: yaml

    processors:
      content/strip:
        mode: metadata_only
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from gateway import formats
from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.model import Batch, Kind, Message, PartKind, Record

Mode = Literal["full", "no_tool_content", "metadata_only"]
MODE_KEY = formats.capture_mode_key()  # declared by the format whose SDKs define it
_STRICTNESS = {"full": 0, "no_tool_content": 1, "metadata_only": 2}
_STATUS_RE = re.compile(r"\b[1-5]\d\d\b")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContentConfig:
    mode: Mode = "full"  # full | no_tool_content | metadata_only
    max_content_bytes: int = 0  # cut longer texts to this many UTF-8 bytes; 0 = no limit

    def validate(self) -> list[str]:
        if self.max_content_bytes < 0:
            return ["max_content_bytes: must be 0 or more"]
        return []


def error_category(message: str) -> str:
    """The SDKs' error category for a call error text (first match wins)."""
    lower = message.lower()
    if "timeout" in lower or "deadline exceeded" in lower:
        return "timeout"
    m = _STATUS_RE.search(message)
    if m:
        code = int(m.group(0))
        if code == 429:
            return "rate_limit"
        if code in (401, 403):
            return "auth_error"
        if code == 408:
            return "timeout"
        if code >= 500:
            return "server_error"
        if code >= 400:
            return "client_error"
    return "sdk_error"


def _strip_messages(messages: list[Message]) -> None:
    for msg in messages:
        for part in msg.parts:
            part.text = ""
            part.tool_input_json = b""
            part.tool_result_content = ""
            part.tool_result_json = b""


def strip_metadata_only(r: Record) -> None:
    r.system_prompt = ""
    r.artifacts = []
    r.conversation_title = ""
    if r.error_message:
        r.error_message = error_category(r.error_message)
    # Where formats keep content outside the record's content fields (each format declares them).
    for key in formats.content_metadata_keys():
        r.metadata.pop(key, None)
    _strip_messages(r.input)
    _strip_messages(r.output)
    for tool in r.tools:
        tool.description = ""
        tool.input_schema_json = b""
    r.tool_arguments_json = b""
    r.tool_result_json = b""
    r.tool_description = ""
    if r.input_state is not None:
        r.input_state = {}
    if r.output_state is not None:
        r.output_state = {}
    for key in formats.content_extra_keys():
        r.extra.pop(key, None)


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}…[truncated {len(data) - len(kept.encode('utf-8'))} bytes]"


def _cut_bytes(data: bytes, limit: int) -> bytes:
    # JSON bytes cannot be cut and stay JSON; keep them valid by replacing them with a string.
    if len(data) <= limit:
        return data
    return b'"[truncated ' + str(len(data)).encode() + b' bytes]"'


def truncate(r: Record, limit: int) -> None:
    r.system_prompt = _cut(r.system_prompt, limit)
    for msg in (*r.input, *r.output):
        for part in msg.parts:
            if part.kind in (PartKind.TEXT, PartKind.THINKING):
                part.text = _cut(part.text, limit)
            part.tool_result_content = _cut(part.tool_result_content, limit)
            part.tool_input_json = _cut_bytes(part.tool_input_json, limit)
            part.tool_result_json = _cut_bytes(part.tool_result_json, limit)
    r.tool_arguments_json = _cut_bytes(r.tool_arguments_json, limit)
    r.tool_result_json = _cut_bytes(r.tool_result_json, limit)


def apply(r: Record, mode: Mode, max_bytes: int) -> None:
    """Applies the mode (and the size cap) to one record, in place."""
    if mode == "metadata_only":
        strip_metadata_only(r)
    elif mode == "no_tool_content" and r.kind == Kind.TOOL:
        r.tool_arguments_json = b""
        r.tool_result_json = b""
        # Some formats carry a tool span's arguments and result as its input and
        # output messages: on a tool span those are tool content too.
        _strip_messages(r.input)
        _strip_messages(r.output)
    if max_bytes:
        truncate(r, max_bytes)
    declared = r.metadata.get(MODE_KEY)
    if mode != "full" and _STRICTNESS.get(str(declared), -1) < _STRICTNESS[mode]:
        r.metadata[MODE_KEY] = mode


class ContentProcessor:
    capabilities = Capabilities(mutates_data=True)  # strips and cuts texts in place

    def __init__(self, settings: CreateSettings, cfg: ContentConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._next = next_

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        mode, limit = self._cfg.mode, self._cfg.max_content_bytes
        if mode != "full" or limit:
            for r in batch.records:
                apply(r, mode, limit)
        if mode == "metadata_only":
            for rating in batch.ratings:
                rating.comment = ""
        await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: ContentConfig, next_: Consumer) -> ContentProcessor:
    return ContentProcessor(settings, cfg, next_)


FACTORY = processor_factory("content", ContentConfig, _create, "Strips or truncates content (capture modes).")
