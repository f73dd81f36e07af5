"""Attributes kept from a source span (``Record.extra["otlp.attr.<name>"]``) -> the span again.

An OTLP -> OTLP hop re-emits what the record fields do not hold, unless a record field already
produced the attribute (the field is the newer truth: a processor may have changed it). Content
attributes go only with content. A deprecated name is upgraded to the current one (and also
kept under its old name with ``emit_deprecated``), and a kept value gets the type the
conventions give it.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.formats.otlp import values as v
from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES, DEPRECATED_REMOVED, DEPRECATED_RENAMES
from gateway.formats.otlp.semconv import SemConv, content_attribute_names
from gateway.model import Record

_INT_ATTRIBUTES = ("request_top_k", "request_seed", "request_choice_count", "request_max_tokens")
_LIST_ATTRIBUTES = ("response_finish_reasons", "request_stop_sequences", "request_encoding_formats")


class KeptAttributes:
    """The rules for one convention version; its tables are built once."""

    def __init__(self, semconv: SemConv) -> None:
        self.content_names = content_attribute_names(semconv)
        # Deprecated name -> current name, for attributes kept in extra under an old name.
        deprecated = {
            **{old: getattr(semconv.attrs, logical) for old, logical in ATTRIBUTE_ALIASES.items()},
            **DEPRECATED_RENAMES,
        }
        self.deprecated = {old: new for old, new in deprecated.items() if old != new}
        self.int_attributes = frozenset(getattr(semconv.attrs, name) for name in _INT_ATTRIBUTES)
        self.list_attributes = frozenset(getattr(semconv.attrs, name) for name in _LIST_ATTRIBUTES)

    def extend(
        self, record: Record, pairs: list[tuple[str, Any]], include_content: bool, emit_deprecated: bool
    ) -> None:
        """Appends to ``pairs`` (what the span emits so far) the kept attributes it still lacks."""
        extra = record.extra
        emitted: set[str] | None = None
        for key, value in extra.items():
            if not key.startswith(v.EXTRA_ATTR):
                continue
            if emitted is None:
                emitted = {name for name, _ in pairs}
            attr = key[len(v.EXTRA_ATTR) :]
            if attr in emitted or (not include_content and attr in self.content_names):
                continue
            if attr in self.deprecated or attr in DEPRECATED_REMOVED:
                # Upgraded to the current name; the old one only for backends that need it.
                current = self.deprecated.get(attr)
                if current is not None and current not in emitted and f"{v.EXTRA_ATTR}{current}" not in extra:
                    pairs.append((current, value))
                    emitted.add(current)
                if not emit_deprecated:
                    continue
            pairs.append((attr, self._typed(attr, value)))

    def _typed(self, attr: str, value: Any) -> Any:
        """A kept attribute in the type the conventions give it: integers for ``top_k`` and
        friends (a source may send 40.0 or "40"), string arrays for the list attributes (one
        string, or a JSON array in a string, becomes a list)."""
        if attr in self.int_attributes:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
        elif attr in self.list_attributes and isinstance(value, str):
            if value.startswith("["):
                try:
                    parsed = orjson.loads(value)
                except orjson.JSONDecodeError:
                    return value
                if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
                    return parsed
                return value
            return [value]
        return value
