"""How many bytes a batch holds, approximately: what ``batch`` caps with
``send_batch_max_bytes`` and what the memory limiter counts as held in flight.

Exact sizes would mean encoding every record; this counts the content (message parts, the system
prompt, tool schemas and payloads, artifacts) plus a fixed overhead per record for its other
fields, which is within a small factor of any wire form and costs a pass over the parts only.
"""

from __future__ import annotations

from typing import Final

from gateway.model import Batch, Message, Record

RECORD_OVERHEAD_BYTES: Final = 512  # the short fields of a record, on the wire or in memory


def _messages_bytes(messages: list[Message]) -> int:
    n = 0
    for message in messages:
        for p in message.parts:
            n += len(p.text) + len(p.tool_input_json) + len(p.tool_result_content) + len(p.tool_result_json) + 16
    return n


def record_bytes(r: Record) -> int:
    n = RECORD_OVERHEAD_BYTES + len(r.system_prompt) + _messages_bytes(r.input) + _messages_bytes(r.output)
    n += sum(len(t.input_schema_json) + len(t.description) for t in r.tools)
    n += sum(len(a.payload) for a in r.artifacts)
    return n + len(r.tool_arguments_json) + len(r.tool_result_json)


def batch_bytes(batch: Batch) -> int:
    """Approximate bytes of a batch: its records, or its native form's wire size."""
    native = batch.native
    if native is not None:
        return len(native.to_bytes())
    return sum(record_bytes(r) for r in batch.records) + RECORD_OVERHEAD_BYTES * (
        len(batch.scores) + len(batch.ratings)
    )
