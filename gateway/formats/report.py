"""What an encoder had to change to make records fit a wire format.

Encoders whose wire format has limits a record can exceed return an :class:`EncodeReport` next
to their payloads, and every format's line writer adds to one (see
:class:`gateway.formats.Format`). Encoders never fail on a record: a wire limit is met by
cutting, defaulting or, as a last resort, dropping, and each such decision is counted here under
a short reason so that an exporter can turn it into metrics (``reason`` as a label) and
``gateway convert`` can print it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class EncodeReport:
    """Counts, by reason, of what an encoder dropped, cut or filled in."""

    records_in: int = 0  # records handed to the encoder
    records_out: int = 0  # records present in the produced payloads (spans / events)
    payloads: int = 0  # request bodies produced
    # Records not sent at all, e.g. "non_llm_kind", "no_timestamps".
    dropped: Counter[str] = field(default_factory=Counter)
    # Values cut or removed so the payload validates, e.g. "span.name", "metadata.keys".
    truncated: Counter[str] = field(default_factory=Counter)
    # Values the wire requires but the record lacked, or had to reshape: derived ids, defaults,
    # coerced types, collapsed enums, computed costs (e.g. "trace_name_fallback", "cost_unpriced").
    adjusted: Counter[str] = field(default_factory=Counter)

    def merge(self, other: EncodeReport) -> None:
        """Add ``other``'s counts to this report (an exporter sums one report per flush)."""
        self.records_in += other.records_in
        self.records_out += other.records_out
        self.payloads += other.payloads
        self.dropped.update(other.dropped)
        self.truncated.update(other.truncated)
        self.adjusted.update(other.adjusted)

    @property
    def lossless(self) -> bool:
        """True when nothing was dropped or cut (adjustments such as defaults do not lose data)."""
        return not self.dropped and not self.truncated

    def summary(self) -> str:
        """One human-readable line per non-empty counter, for ``gateway convert``."""
        lines = [f"{self.records_in} records in, {self.records_out} out, {self.payloads} payloads"]
        for title, counter in (
            ("dropped", self.dropped),
            ("truncated", self.truncated),
            ("adjusted", self.adjusted),
        ):
            if counter:
                parts = ", ".join(f"{reason}={n}" for reason, n in sorted(counter.items()))
                lines.append(f"{title}: {parts}")
        return "\n".join(lines)
