"""The explicit list of component factories, by kind and YAML type string."""

from __future__ import annotations

from gateway.component import ComponentKind, Factory


def _all() -> list[Factory]:
    # Imported here, not at module top, so that `gateway.config` can import this module
    # without a cycle through the component modules (which import config classes).
    from gateway.exporters import debug, file
    from gateway.exporters import foglamp as foglamp_exporter
    from gateway.exporters import lumiqtrace as lumiqtrace_exporter
    from gateway.exporters import nats as nats_exporter
    from gateway.exporters import otlp as otlp_exporter
    from gateway.exporters import sigil as sigil_exporter
    from gateway.processors import auth, batch, content, evaluate, filter, memory_limiter, redact
    from gateway.receivers import foglamp as foglamp_receiver
    from gateway.receivers import lumiqtrace as lumiqtrace_receiver
    from gateway.receivers import nats as nats_receiver
    from gateway.receivers import otlp as otlp_receiver
    from gateway.receivers import sigil as sigil_receiver

    return [
        # receivers
        sigil_receiver.FACTORY,
        foglamp_receiver.FACTORY,
        lumiqtrace_receiver.FACTORY,
        otlp_receiver.FACTORY,
        nats_receiver.FACTORY,
        # processors
        auth.FACTORY,
        batch.FACTORY,
        content.FACTORY,
        evaluate.FACTORY,
        filter.FACTORY,
        memory_limiter.FACTORY,
        redact.FACTORY,
        # exporters
        sigil_exporter.FACTORY,
        foglamp_exporter.FACTORY,
        lumiqtrace_exporter.FACTORY,
        otlp_exporter.FACTORY,
        nats_exporter.FACTORY,
        file.FACTORY,
        debug.FACTORY,
    ]


def factories(kind: ComponentKind) -> dict[str, Factory]:
    return {f.type: f for f in _all() if f.kind == kind}
