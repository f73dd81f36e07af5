"""The explicit list of component factories, by kind and YAML type string."""

from __future__ import annotations

from gateway.component import ComponentKind, Factory


def _all() -> list[Factory]:
    # Imported here, not at module top, so that `gateway.config` can import this module
    # without a cycle through the component modules (which import config classes).
    from gateway.exporters import debug, file
    from gateway.exporters import sigil as sigil_exporter
    from gateway.processors import auth, batch, content, filter, memory_limiter, redact
    from gateway.receivers import sigil as sigil_receiver

    return [
        sigil_receiver.FACTORY,
        auth.FACTORY,
        batch.FACTORY,
        content.FACTORY,
        filter.FACTORY,
        memory_limiter.FACTORY,
        redact.FACTORY,
        sigil_exporter.FACTORY,
        file.FACTORY,
        debug.FACTORY,
    ]


def factories(kind: ComponentKind) -> dict[str, Factory]:
    return {f.type: f for f in _all() if f.kind == kind}
