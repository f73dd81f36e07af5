"""An OpenTelemetry Collector-style translating gateway for LLM telemetry."""

__version__ = "0.1.0"
