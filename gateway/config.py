"""YAML → typed configuration, in the OpenTelemetry Collector's shape.

Each component's config is a frozen, keyword-only dataclass whose defaults are the component's
defaults; the user's YAML is laid over them by :func:`decode`, which rejects unknown keys and
wrong types and then calls the class's own ``validate()`` (if any). Every problem is collected
with its ``::`` path and reported at once in a :class:`~gateway.errors.ConfigError`.

Scalars may reference the environment and files (``${env:NAME}``, ``${env:NAME:-default}``,
``${env:NAME:?message}``, ``${NAME}``, ``${file:PATH}``; ``$$`` is a literal ``$``), resolved
by :mod:`gateway.confmap`, which also reads, merges and strictly parses the YAML. A scalar that
is exactly one reference takes the type of the field it fills (``port: ${env:PORT}`` is an
integer); an expanded value never appears in a message. Durations are strings with units
(``200ms``, ``5s``, ``1m30s``); sizes are bytes or strings with units (``4MiB``, ``10MB``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, Union

from gateway.component import ComponentId, ComponentKind, Factory
from gateway.confmap import REDACTED, Expanded, Expander, Unresolved, apply_set, merge, parse_yaml, read_files
from gateway.confmap import expand_env as expand_env
from gateway.errors import ConfigError
from gateway.units import ByteSize, Duration, parse_duration, parse_size


def _join(path: str, key: str | int) -> str:
    return f"{path}::{key}" if path else str(key)


def _type_name(value: object) -> str:
    if isinstance(value, Expanded):
        return f"the value of {value.source!r} ({REDACTED})"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


T = TypeVar("T")


class Decoder:
    """Lays raw YAML values over typed config classes, collecting problems."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, no_environment: bool = False) -> None:
        self.expander = Expander(environ, no_environment=no_environment)
        self.problems: list[str] = []
        self.failed: set[str] = set()  # "section::id" of components whose config had problems
        self.unresolved: list[str] = []  # paths holding references left unresolved

    def problem(self, path: str, message: str) -> None:
        # With --no-environment, a value that depends on a reference cannot be judged.
        if any(path == u or path.startswith(u + "::") for u in self.unresolved):
            return
        self.problems.append(f"{path}: {message}" if path else message)

    def expand(self, raw: Any, path: str) -> Any:
        """Resolves references in every string of a YAML tree (see gateway.confmap)."""
        out = self.expander.tree(raw, path)
        self.problems.extend(self.expander.problems)
        self.expander.problems.clear()
        return out

    def decode(self, cls: type[T], raw: Any, path: str) -> T | None:
        """Builds ``cls`` from its defaults overlaid with ``raw``; None if ``raw`` has problems."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.problem(path, f"expected a mapping, got {_type_name(raw)}")
            return None
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        before = len(self.problems)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            key_path = _join(path, str(key))
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else f" (valid keys: {', '.join(fields)})"
                self.problem(key_path, f"unknown key{hint}")
                continue
            values[key] = self.value(hints[key], value, key_path)
        for name, f in fields.items():
            if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.problem(_join(path, name), "is required")
        if len(self.problems) > before:
            return None
        instance = cls(**values)
        validate = getattr(instance, "validate", None)
        if validate is not None:
            for message in validate():
                if self.expander.no_environment and _OS_ERROR.search(message):
                    continue  # a file the config names, not checked without the environment
                # "field: text" or "field::sub: text" names a place inside this object.
                head, sep, text = message.partition(": ")
                if sep and head.split("::")[0] in fields:
                    self.problem(_join(path, head), text)
                else:
                    self.problem(path, message)
        return instance if len(self.problems) == before else None

    def value(self, tp: Any, raw: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (Union, types.UnionType):
            if raw is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.value(inner[0], raw, path)
        if origin is typing.Literal:
            if isinstance(raw, Unresolved):
                self.unresolved.append(path)
                return args[0]
            if raw not in args:
                self.problem(path, f"must be one of {', '.join(str(a) for a in args)}")
            return raw
        if origin is list:
            if not isinstance(raw, list):
                self.problem(path, f"expected a list, got {_type_name(raw)}")
                return []
            return [self.value(args[0], item, _join(path, i)) for i, item in enumerate(raw)]
        if origin is dict:
            if not isinstance(raw, dict):
                self.problem(path, f"expected a mapping, got {_type_name(raw)}")
                return {}
            return {str(k): self.value(args[1], v, _join(path, str(k))) for k, v in raw.items()}
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.decode(tp, raw, path)
        return self.scalar(tp, raw, path)

    def scalar(self, tp: Any, raw: Any, path: str) -> Any:
        if isinstance(raw, Unresolved):
            self.unresolved.append(path)
            return _NEUTRAL.get(tp, str(raw.source))
        expanded = isinstance(raw, Expanded)
        try:
            if tp is Duration:
                if isinstance(raw, str):
                    return Duration(parse_duration(raw))
                if raw == 0 and not isinstance(raw, bool):
                    return Duration(0)
                raise ValueError(f"expected a duration with a unit, like 5s or 200ms, got {_type_name(raw)}")
            if tp is ByteSize:
                if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
                    return ByteSize(raw)
                if isinstance(raw, str):
                    return ByteSize(parse_size(raw))
                raise ValueError(f"expected a size like 4MiB, got {_type_name(raw)}")
            if tp is bool:
                if isinstance(raw, bool):
                    return raw
                if expanded and raw.lower() in ("true", "false"):
                    return raw.lower() == "true"
                raise ValueError(f"expected true or false, got {_type_name(raw)}")
            if tp is int:
                if isinstance(raw, int) and not isinstance(raw, bool):
                    return raw
                if expanded and raw.strip().lstrip("-").isdigit():
                    return int(raw)
                raise ValueError(f"expected an integer, got {_type_name(raw)}")
            if tp is float:
                if isinstance(raw, int | float) and not isinstance(raw, bool):
                    return float(raw)
                if expanded:
                    return float(raw)
                raise ValueError(f"expected a number, got {_type_name(raw)}")
            if tp is str:
                if isinstance(raw, str):
                    return str(raw)
                raise ValueError(f"expected a string, got {_type_name(raw)}")
            if tp is Any:
                return raw
        except ValueError as exc:
            message = str(exc)
            if expanded and str(raw) in message:  # the parser quoted the value: say where it came from
                message = f"cannot use {_type_name(raw)}: {message.replace(repr(str(raw)), REDACTED)}"
                message = self.expander.scrub(message.replace(str(raw), REDACTED))
            self.problem(path, message)
            return None
        raise TypeError(f"unsupported config field type {tp!r} at {path}")


# How a validate() message quotes an OSError, or names a file it could not find.
_OS_ERROR = re.compile(r"\[Errno \d+\]|: no such file ")

# What a field holding an unresolved reference gets (validate --no-environment): any value the
# type accepts; problems at that path are not reported.
_NEUTRAL: dict[Any, Any] = {int: 1, float: 1.0, bool: False, Duration: Duration(1.0), ByteSize: ByteSize(1)}


# ---------------------------------------------------------------------------------------------
# The top-level document.

DEFAULT_SHUTDOWN_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_DELAY = 0.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    receivers: list[str]  # component ids of receivers feeding this pipeline
    processors: list[str] = dataclasses.field(default_factory=list)  # in order
    exporters: list[str]  # component ids of exporters this pipeline fans out to


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    endpoint: str  # host:port to listen on


DEFAULT_STALL_THRESHOLD = 300.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    endpoint: str  # host:port serving GET /healthz and /readyz
    # An exporter whose queue holds work without moving for longer is reported unhealthy at
    # /healthz/exporters and in the log (readiness does not depend on it); 0 = never.
    exporter_stall_threshold: Duration = Duration(DEFAULT_STALL_THRESHOLD)
    reload: bool = True  # POST /-/reload re-reads and applies the config (as SIGHUP does)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LogsConfig:
    level: typing.Literal["debug", "info", "warning", "error"] = "info"
    format: typing.Literal["text", "json"] = "text"  # key=value lines or JSON lines


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    metrics: EndpointConfig | None = None  # Prometheus text at /metrics; off when absent
    logs: LogsConfig = dataclasses.field(default_factory=LogsConfig)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    pipelines: dict[str, PipelineConfig]  # pipeline name → its receivers, processors and exporters
    telemetry: TelemetryConfig = dataclasses.field(default_factory=TelemetryConfig)
    health: HealthConfig | None = None  # GET /healthz, /readyz; off when absent
    shutdown_timeout: Duration = Duration(DEFAULT_SHUTDOWN_TIMEOUT)  # seconds to drain on SIGTERM
    # After SIGTERM: readiness is 503 and requests are still taken for this long, so load
    # balancers stop sending before the listeners close; then the drain.
    shutdown_delay: Duration = Duration(DEFAULT_SHUTDOWN_DELAY)
    workers: int = 1  # processes sharing the listeners (SO_REUSEPORT); one event loop each

    def validate(self) -> list[str]:
        problems = [] if self.pipelines else ["pipelines: at least one pipeline is required"]
        if not 1 <= self.workers <= 256:
            problems.append("workers: must be between 1 and 256")
        return problems


@dataclasses.dataclass(frozen=True, slots=True)
class ComponentConfig:
    id: ComponentId
    factory: Factory
    config: Any


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayConfig:
    receivers: dict[ComponentId, ComponentConfig]
    processors: dict[ComponentId, ComponentConfig]
    exporters: dict[ComponentId, ComponentConfig]
    service: ServiceConfig
    warnings: tuple[str, ...] = ()  # unset variables, each named (logged at start)


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """What :func:`check` found: ``config`` holds every part that decoded (pipelines keep only
    the references that resolve) so the graph can be built to find its problems too."""

    config: GatewayConfig | None
    problems: list[str]
    warnings: list[str]
    expander: Expander


_SECTIONS: tuple[tuple[str, ComponentKind], ...] = (
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
)


def load_text(text: str, *, environ: Mapping[str, str] | None = None, source: str = "config") -> GatewayConfig:
    return load(parse_yaml(text, source), environ=environ)


def load_file(path: str, *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    return load_sources([path], environ=environ)


def read_sources(paths: Sequence[str], sets: Sequence[str] = ()) -> Any:
    """The files parsed and merged in order, then each ``--set``; raises ConfigError listing
    every file's problem."""
    docs, problems = read_files(list(paths))
    raw: Any = None
    for doc in docs:
        raw = merge(raw, doc) if raw is not None else doc
    for assignment in sets:
        try:
            raw = apply_set(raw, assignment)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return raw


def load_sources(
    paths: Sequence[str], sets: Sequence[str] = (), *, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    return load(read_sources(paths, sets), environ=environ)


def load(raw: Any, *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Decodes and checks a whole parsed document; raises ConfigError listing every problem."""
    checked = check(raw, environ=environ)
    if checked.problems:
        raise ConfigError(checked.problems)
    assert checked.config is not None
    return checked.config


def check(raw: Any, *, environ: Mapping[str, str] | None = None, no_environment: bool = False) -> Checked:
    """Decodes a parsed document, collecting every problem (scrubbed of expanded values)."""
    from gateway.registry import factories  # the registry imports component modules

    d = Decoder(environ, no_environment=no_environment)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return Checked(None, [f"expected a mapping at the top level, got {_type_name(raw)}"], [], d.expander)
    raw = d.expand(raw, "")
    known = {"receivers", "processors", "exporters", "service"}
    for key in raw:
        if key not in known:
            d.problem(str(key), f"unknown key (valid keys: {', '.join(sorted(known))})")
    sections: dict[str, dict[ComponentId, ComponentConfig]] = {}
    for section, kind in _SECTIONS:
        sections[section] = _decode_components(d, raw.get(section), section, kind, factories(kind))
    service = d.decode(ServiceConfig, raw.get("service"), "service") if "service" in raw else None
    if "service" not in raw:
        d.problem("service", "is required")
    if service is not None:
        _check_pipelines(d, service, sections)
    scrub = d.expander.scrub
    warnings = [scrub(w) for w in d.expander.warnings]
    problems = [scrub(p) for p in d.problems]
    config = None
    if service is not None:
        service = _resolvable(service, sections)
        if service.pipelines or not problems:
            config = GatewayConfig(
                sections["receivers"], sections["processors"], sections["exporters"], service, tuple(warnings)
            )
    return Checked(config, problems, warnings, d.expander)


def _resolvable(service: ServiceConfig, sections: dict[str, dict[ComponentId, ComponentConfig]]) -> ServiceConfig:
    """The pipelines with only references to components that decoded; those left without a
    receiver or an exporter are dropped (their problems are already listed)."""
    pipelines = {}
    for name, p in service.pipelines.items():

        def ok(refs: list[str], section: str) -> list[str]:
            out = []
            for ref in refs:
                try:
                    if ComponentId.parse(ref) in sections[section]:
                        out.append(ref)
                except ValueError:
                    pass
            return list(dict.fromkeys(out))

        kept = PipelineConfig(
            receivers=ok(p.receivers, "receivers"),
            processors=ok(p.processors, "processors"),
            exporters=ok(p.exporters, "exporters"),
        )
        if kept == p or (kept.receivers and kept.exporters):
            pipelines[name] = kept
    return dataclasses.replace(service, pipelines=pipelines)


def _decode_components(
    d: Decoder, raw: Any, section: str, kind: ComponentKind, known: dict[str, Factory]
) -> dict[ComponentId, ComponentConfig]:
    out: dict[ComponentId, ComponentConfig] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        d.problem(section, f"expected a mapping, got {_type_name(raw)}")
        return out
    for key, value in raw.items():
        path = _join(section, str(key))
        try:
            cid = ComponentId.parse(str(key))
        except ValueError as exc:
            d.problem(path, str(exc))
            continue
        factory = known.get(cid.type)
        if factory is None:
            d.problem(path, f'unknown {kind} type "{cid.type}" (known: {", ".join(sorted(known))})')
            d.failed.add(f"{section}::{cid}")
            continue
        cfg = d.decode(factory.config_class, value, path)
        if cfg is None:
            d.failed.add(f"{section}::{cid}")
        else:
            out[cid] = ComponentConfig(cid, factory, cfg)
    return out


def _check_pipelines(
    d: Decoder, service: ServiceConfig, sections: dict[str, dict[ComponentId, ComponentConfig]]
) -> None:
    # A component whose own config failed is absent from `sections`; do not report it twice.
    failed = d.failed
    for name, pipeline in service.pipelines.items():
        base = f"service::pipelines::{name}"
        for section, refs in (
            ("receivers", pipeline.receivers),
            ("processors", pipeline.processors),
            ("exporters", pipeline.exporters),
        ):
            seen: set[str] = set()
            for i, ref in enumerate(refs):
                path = f"{base}::{section}::{i}"
                if ref in seen:
                    d.problem(path, f'"{ref}" is listed twice')
                seen.add(ref)
                try:
                    cid = ComponentId.parse(ref)
                except ValueError as exc:
                    d.problem(path, str(exc))
                    continue
                if cid not in sections[section] and f"{section}::{cid}" not in failed:
                    d.problem(path, f'"{ref}" is not defined under {section}')
        if not pipeline.receivers:
            d.problem(f"{base}::receivers", "a pipeline needs at least one receiver")
        if not pipeline.exporters:
            d.problem(f"{base}::exporters", "a pipeline needs at least one exporter")
