"""Foglamp ``POST /ingest`` bodies <-> records.

* :mod:`.schema`: Foglamp's strict v1 contract, checked exactly as the server's zod schema does.
* :mod:`.decode`: ingest bodies -> records (:func:`decode_ingest`).
* :mod:`.encode`: records -> ingest bodies (:func:`encode_batches`), never failing: what does
  not fit the contract is derived, cut or dropped and counted in an ``EncodeReport``.
* :mod:`.content`: the ``input``/``output``/``toolCatalog`` strings <-> messages and tools.

``docs/mapping.md`` has the field table.
"""

from __future__ import annotations

from gateway.formats.foglamp.decode import FoglampValidationError, count_spans, decode_ingest
from gateway.formats.foglamp.encode import encode_batches

__all__ = ["FoglampValidationError", "count_spans", "decode_ingest", "encode_batches"]
