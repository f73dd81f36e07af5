"""Describes config classes: every option with its type, default and comment.

Used by ``gateway components`` and by ``scripts/gen_config_docs.py``, which writes
``docs/configuration.md`` (a test fails when that file is stale), so the reference cannot drift
from the code. The description of an option is the trailing ``# comment`` on its field.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Any

from gateway.units import ByteSize, Duration

_FIELD_COMMENT = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    name: str
    type: str
    default: str
    doc: str
    children: tuple[Option, ...] = ()


def _comments(cls: type) -> dict[str, str]:
    out: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            m = _FIELD_COMMENT.match(line)
            if m and m.group(1) not in out:
                out[m.group(1)] = m.group(2).strip()
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _type_name(inner[0]) + " or null"
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if tp is Duration:
        return "duration"
    if tp is ByteSize:
        return "size"
    if dataclasses.is_dataclass(tp):
        return "object"
    return {str: "string", int: "int", float: "float", bool: "bool"}.get(tp, getattr(tp, "__name__", str(tp)))


def _format_default(value: Any) -> str:
    if isinstance(value, Duration):
        return f"{float(value):g}s"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if value else '""'
    if isinstance(value, list | dict) and not value:
        return "[]" if isinstance(value, list) else "{}"
    return str(value)


def describe(cls: type) -> tuple[Option, ...]:
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    options = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.default is not dataclasses.MISSING:
            value: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = dataclasses.MISSING
        nested = tp
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            nested = next(a for a in typing.get_args(tp) if a is not type(None))
        children: tuple[Option, ...] = ()
        if dataclasses.is_dataclass(nested) and isinstance(nested, type):
            children = describe(nested)
            default = "(required)" if value is dataclasses.MISSING else ("null" if value is None else "see below")
        else:
            default = "(required)" if value is dataclasses.MISSING else _format_default(value)
            origin = typing.get_origin(nested)
            item = typing.get_args(nested)[-1] if origin in (list, dict) else None
            if dataclasses.is_dataclass(item) and isinstance(item, type):
                # The options of each entry, listed as `name[].option` (list) or
                # `name.<key>.option` (map).
                children = describe(item)
        options.append(Option(f.name, _type_name(tp), default, comments.get(f.name, ""), children))
    return tuple(options)


def flatten(options: tuple[Option, ...], prefix: str = "") -> list[Option]:
    out = []
    for o in options:
        name = f"{prefix}{o.name}"
        out.append(dataclasses.replace(o, name=name, children=()))
        if o.type.startswith("list of"):
            sub = f"{name}[]."
        elif o.type.startswith("map of"):
            sub = f"{name}.<name>."
        else:
            sub = f"{name}."
        out.extend(flatten(o.children, sub))
    return out
