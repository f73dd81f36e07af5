"""Component ids, factories and the interfaces every component implements.

A component is made by a :class:`Factory`: a value holding the YAML type string, the config
class (whose defaults are the component's defaults), and a create function. The explicit list
of factories lives in :mod:`gateway.registry`.

Data flows through :class:`Consumer` objects: a receiver calls ``await next.consume(batch)``
and maps the exception it may get (see :mod:`gateway.errors`) onto its wire's status.
"""

from __future__ import annotations

import builtins
import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from gateway.auth import Gate
    from gateway.listeners import Listeners
    from gateway.model import Batch
    from gateway.telemetry import Telemetry

ComponentKind = Literal["receiver", "processor", "exporter"]

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.\-]+)?$")


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class ComponentId:
    """``type`` or ``type/name``, as written in the config."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentId:
        if not _ID_RE.match(text):
            raise ValueError(f"invalid component id {text!r}: expected 'type' or 'type/name'")
        type_, _, name = text.partition("/")
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


class Consumer(Protocol):
    """Takes a batch; raises a :class:`gateway.errors.ConsumeError` to refuse it."""

    async def consume(self, batch: Batch) -> None: ...


class Component(Protocol):
    """Lifecycle: ``start`` returns quickly; ``shutdown`` is idempotent and safe without start."""

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a processor or exporter declares to the graph (instead of being probed)."""

    # Changes records, their context or their content in place: a fan-out gives it its own deep
    # copy of a batch that other consumers also hold. Replacing a batch's lists is not mutating.
    mutates_data: bool = False
    # Processors: hands a batch's natives (gateway.model.Native) on without reading its records.
    passes_native: bool = False
    # Exporters: the native kinds it sends as they are, without records.
    native_kinds: frozenset[str] = frozenset()
    # Processors: True while it refuses data for lack of memory; receivers then refuse before
    # reading a body (every receiver: memory is the process's).
    refusing: Callable[[], bool] | None = None


class Processor(Consumer, Component, Protocol):
    @property
    def capabilities(self) -> Capabilities: ...


class Exporter(Consumer, Component, Protocol):
    @property
    def capabilities(self) -> Capabilities: ...

    def saturated(self) -> bool:
        """True while its queue is full: a receiver may refuse before reading a body."""
        ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CreateSettings:
    """What every create function gets besides its config."""

    id: ComponentId
    telemetry: Telemetry
    pipeline: str = ""  # processors only: the pipeline this instance belongs to


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverSettings(CreateSettings):
    """Receivers also get the shared listeners (one per endpoint) to register routes on."""

    listeners: Listeners
    # True while intake should be refused before a body is read: an exporter this receiver feeds
    # has a full queue, or a memory limiter refuses data.
    saturated: Callable[[], bool] = lambda: False
    # Native kinds (gateway.model.Native) every consumer downstream takes without records: the
    # receiver may hand those on instead of records (a same-format pass-through).
    native: frozenset[str] = frozenset()
    # The authentication the receiver applies before reading a body (gateway.auth); None: open.
    auth: Gate | None = None


# What a factory's create function is, per kind (its config argument is the factory's own class).
CreateReceiver = Callable[[ReceiverSettings, Any, Consumer], Component]
CreateProcessor = Callable[[CreateSettings, Any, Consumer], Processor]
CreateExporter = Callable[[CreateSettings, Any], Exporter]


@dataclasses.dataclass(frozen=True, slots=True)
class Factory:
    """Makes one component type. ``config_class()`` must build the defaults; ``create`` is a
    :data:`CreateReceiver`, :data:`CreateProcessor` or :data:`CreateExporter` by ``kind`` (use
    :func:`receiver_factory` and its siblings, which check that statically)."""

    kind: ComponentKind
    type: str
    config_class: builtins.type[Any]  # `type` is a field name here
    create: Callable[..., Any]
    description: str = ""


def receiver_factory(type_: str, config_class: builtins.type[Any], create: CreateReceiver, description: str) -> Factory:
    return Factory("receiver", type_, config_class, create, description)


def processor_factory(
    type_: str, config_class: builtins.type[Any], create: CreateProcessor, description: str
) -> Factory:
    return Factory("processor", type_, config_class, create, description)


def exporter_factory(type_: str, config_class: builtins.type[Any], create: CreateExporter, description: str) -> Factory:
    return Factory("exporter", type_, config_class, create, description)
