"""The gateway's error tree.

::

    GatewayError
    ├── ConfigError            the configuration is invalid (carries every problem with its path)
    └── ConsumeError           a batch could not be taken or delivered
        ├── BadInput           the sender's fault: malformed or invalid data (HTTP 400, INVALID_ARGUMENT)
        ├── Unauthenticated    missing or wrong credentials (HTTP 401, UNAUTHENTICATED)
        ├── PermanentError     retrying cannot help (a backend's 4xx, a per-item rejection)
        └── RetryableError     may succeed later (transport errors, 429/5xx); carries retry_after
            └── Overloaded     the gateway refuses intake: full queue or memory limit
                               (HTTP 429/503 + Retry-After, RESOURCE_EXHAUSTED / UNAVAILABLE)

Receivers map these onto their wire's status codes; exporters raise PermanentError or
RetryableError, and the exporter helper decides whether to retry.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration is invalid; ``problems`` lists each one as ``path: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ConsumeError(GatewayError):
    """A batch could not be consumed."""


class BadInput(ConsumeError):
    """The sender's data is malformed or invalid."""


class Unauthenticated(ConsumeError):
    """Missing or wrong credentials."""


class PermanentError(ConsumeError):
    """Retrying the same data cannot succeed."""


class RetryableError(ConsumeError):
    """The same data may succeed later; ``retry_after`` (seconds) is the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(RetryableError):
    """The gateway refuses new data for now (full queue, memory limit, shutting down)."""
