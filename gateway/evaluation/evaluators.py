"""Sigil's deterministic evaluator kinds, ported: ``regex``, ``json_schema`` and ``heuristic``.

Each reads one text of a record (its *target*), as the Sigil server builds it: ``response`` is
the output messages' text parts (trimmed) and tool calls (``[tool_call] name {json}``), joined
by newlines; ``input`` is the same over the input messages; ``system_prompt`` is the system
prompt. Each gives a bool verdict with the server's explanation and metadata. Where Python
cannot be Go, the differences are:

* ``regex`` patterns are Python :mod:`re` syntax, which reads most RE2 patterns alike; RE2-only
  syntax (``\\pL``, ``\\z``) is refused when the config loads, and ``$`` also matches before a
  final newline. Python's engine backtracks: patterns come from the operator, not the client.
* ``json_schema`` checks Sigil's subset (``type``, ``required``, ``properties``, ``items``) and
  ignores other keywords exactly as the server does (the processor logs which); the texts of
  JSON syntax errors in metadata are Python's.
* ``heuristic`` lengths are UTF-8 bytes of the trimmed text, as Go's ``len``; ``contains`` is
  case-insensitive. Two config forms are read: the server's ``root`` tree (``kind: group`` /
  ``kind: rule``, its exact error texts) and the documented ``rules`` form
  (``{and: [...]}``, ``{or: [...]}``, ``{not: {...}}``, ``{not_empty: field}``,
  ``{contains: text}`` or ``{contains: {field, value}}``, ``not_contains``, ``min_length``,
  ``max_length``), where a rule may name its own field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gateway.model import Message, PartKind, Record

TARGETS = ("response", "input", "system_prompt")
# The documented rules form names fields the way llm_judge templates do.
_FIELDS = {"response": "response", "assistant_response": "response", "input": "input", "system_prompt": "system_prompt"}
HEURISTIC_VERSION = "v2"
HEURISTIC_MAX_DEPTH = 3
HEURISTIC_MAX_NODES = 25
SCHEMA_SUBSET = ("type", "required", "properties", "items")  # the JSON Schema keywords checked
_SCHEMA_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "examples", "default"}


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    explanation: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


class Evaluator(Protocol):
    default_key: str  # the score key when the config names none (Sigil's fallback)

    def evaluate(self, record: Record) -> Verdict: ...


def target_text(record: Record, target: str) -> str:
    if target == "system_prompt":
        return record.system_prompt
    return flatten_messages(record.input if target == "input" else record.output)


def flatten_messages(messages: list[Message]) -> str:
    out = []
    for message in messages:
        for part in message.parts:
            if part.kind == PartKind.TEXT and (text := part.text.strip()):
                out.append(text)
            elif part.kind == PartKind.TOOL_CALL:
                name = part.tool_name.strip()
                args = part.tool_input_json.decode("utf-8", "replace").strip()
                out.append(" ".join(x for x in ("[tool_call]", name, args) if x))
    return "\n".join(out)


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # Go's %q for ordinary text


def _check_keys(config: dict[str, Any], valid: tuple[str, ...], problems: list[str]) -> None:
    for key in config:
        if key not in valid:
            problems.append(f"config::{key}: unknown key (valid keys: {', '.join(valid)})")


def _target(config: dict[str, Any], problems: list[str]) -> str:
    target = config.get("target", "response")
    if target not in TARGETS:
        problems.append(f"config::target: must be one of {', '.join(TARGETS)}")
        return "response"
    return str(target)


# -- regex ---------------------------------------------------------------------------------


class RegexEvaluator:
    default_key = "regex_match"

    def __init__(self, patterns: list[str], compiled: list[re.Pattern[str]], reject: bool, target: str) -> None:
        self._patterns, self._compiled, self._reject, self._target = patterns, compiled, reject, target

    def evaluate(self, record: Record) -> Verdict:
        text = target_text(record, self._target)
        matched = any(p.search(text) for p in self._compiled)
        return Verdict(
            matched != self._reject,
            metadata={"patterns": self._patterns, "reject": self._reject, "matched": matched},
        )


def _regex(config: dict[str, Any], problems: list[str]) -> RegexEvaluator | None:
    _check_keys(config, ("pattern", "patterns", "reject", "target"), problems)
    target = _target(config, problems)
    reject = config.get("reject", False)
    if not isinstance(reject, bool):
        problems.append("config::reject: expected true or false")
    pattern, listed = config.get("pattern"), config.get("patterns")
    if pattern is not None and not isinstance(pattern, str):
        problems.append("config::pattern: expected a string")
    if listed is not None and not (isinstance(listed, list) and all(isinstance(p, str) for p in listed)):
        problems.append("config::patterns: expected a list of strings")
    # The server's precedence: a non-blank pattern, else the non-blank entries of patterns.
    if isinstance(pattern, str) and pattern.strip():
        patterns, where = [pattern.strip()], ["pattern"]
    elif isinstance(listed, list):
        kept = [(i, p.strip()) for i, p in enumerate(listed) if isinstance(p, str) and p.strip()]
        patterns, where = [p for _, p in kept], [f"patterns::{i}" for i, _ in kept]
    else:
        patterns, where = [], []
    if not patterns:
        problems.append("config: regex evaluator requires pattern or patterns config")
    compiled = []
    for p, path in zip(patterns, where, strict=True):
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            problems.append(f"config::{path}: compile regex pattern {_go_quote(p)}: {exc}")
    return RegexEvaluator(patterns, compiled, bool(reject), target)


# -- json_schema -----------------------------------------------------------------------------


class JsonSchemaEvaluator:
    default_key = "json_valid"

    def __init__(self, schema: dict[str, Any], target: str) -> None:
        self._schema, self._target = schema, target

    def evaluate(self, record: Record) -> Verdict:
        try:
            value = json.loads(target_text(record, self._target), parse_constant=_no_constant, parse_float=_finite)
        except (ValueError, RecursionError) as exc:
            return Verdict(False, f"{self._target} is not valid JSON", {"error": str(exc)})
        error = schema_error(self._schema, value)
        return Verdict(not error, error, {"error": error} if error else {})

    def unsupported_keywords(self) -> set[str]:
        return _keywords(self._schema) - set(SCHEMA_SUBSET) - _SCHEMA_ANNOTATIONS


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # Go cannot hold it in a float64: a decode error there too
        raise ValueError(f"number {text} is out of range")
    return value


def schema_error(schema: dict[str, Any], value: Any) -> str:
    """Sigil's JSON Schema subset; '' when ``value`` conforms, else the server's error text."""
    if not schema:
        return ""
    kind = schema.get("type")
    kind = kind.strip() if isinstance(kind, str) else ""
    if kind == "object":
        if not isinstance(value, dict):
            return "expected object"
        required = schema.get("required")
        for key in required if isinstance(required, list) else []:
            if isinstance(key, str) and key not in value:
                return f"missing required key {_go_quote(key)}"
        properties = schema.get("properties")
        for key, sub in (properties if isinstance(properties, dict) else {}).items():
            if key in value and isinstance(sub, dict) and (error := schema_error(sub, value[key])):
                return f"property {_go_quote(key)}: {error}"
    elif kind == "array":
        if not isinstance(value, list):
            return "expected array"
        items = schema.get("items")
        for index, item in enumerate(value):
            if isinstance(items, dict) and (error := schema_error(items, item)):
                return f"item {index}: {error}"
    elif kind == "string" and not isinstance(value, str):
        return "expected string"
    elif kind == "number" and not _is_number(value):
        return "expected number"
    elif kind == "integer" and not (_is_number(value) and float(value).is_integer()):
        return "expected integer"
    elif kind == "boolean" and not isinstance(value, bool):
        return "expected boolean"
    return ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keywords(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    properties = schema.get("properties")
    for sub in properties.values() if isinstance(properties, dict) else ():
        found |= _keywords(sub)
    return found | _keywords(schema.get("items"))


def _json_schema(config: dict[str, Any], problems: list[str]) -> JsonSchemaEvaluator | None:
    _check_keys(config, ("schema", "target"), problems)
    target = _target(config, problems)
    schema = config.get("schema", {})
    if not isinstance(schema, dict):
        problems.append("config::schema: expected a mapping (a JSON Schema object)")
        schema = {}
    return JsonSchemaEvaluator(schema, target)


# -- heuristic --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    """A rule-tree node: a group (``and``, ``or``, ``not``) or a rule (its type)."""

    op: str
    children: tuple[Node, ...] = ()
    value: str | int | None = None  # contains / not_contains text, min / max length
    field: str = ""  # the text a rule reads; "" = the evaluator's target

    def to_map(self) -> dict[str, Any]:
        """The server's ``ToMap`` form, which its scores carry in metadata ``root``."""
        if self.op in ("and", "or", "not"):
            return {"kind": "group", "operator": self.op, "rules": [c.to_map() for c in self.children]}
        out: dict[str, Any] = {"kind": "rule", "type": self.op}
        if self.value is not None:
            out["value"] = self.value
        if self.field:
            out["field"] = self.field
        return out

    def fields(self) -> Iterable[str]:
        yield self.field
        for child in self.children:
            yield from child.fields()


_RULE_TYPES = ("not_empty", "contains", "not_contains", "min_length", "max_length")


class HeuristicEvaluator:
    default_key = "heuristic_pass"

    def __init__(self, root: Node, target: str) -> None:
        self._root, self._target = root, target
        self._fields = {f or target for f in root.fields()}

    def evaluate(self, record: Record) -> Verdict:
        texts = {f: target_text(record, f).strip() for f in self._fields}
        passed = self._eval(self._root, texts)
        metadata = {
            "response_length": len(texts[self._target].encode()),
            "version": HEURISTIC_VERSION,
            "root": self._root.to_map(),
        }
        return Verdict(passed, metadata=metadata)

    def _eval(self, node: Node, texts: dict[str, str]) -> bool:
        if node.op == "and":
            return all(self._eval(c, texts) for c in node.children)
        if node.op == "or":
            return any(self._eval(c, texts) for c in node.children)
        if node.op == "not":
            return not self._eval(node.children[0], texts)
        text = texts[node.field or self._target]
        if node.op == "not_empty":
            return text != ""
        if node.op in ("contains", "not_contains"):
            found = str(node.value).lower() in text.lower()
            return found if node.op == "contains" else not found
        length = len(text.encode())
        assert isinstance(node.value, int)
        return length >= node.value if node.op == "min_length" else length <= node.value


class _HeuristicError(Exception):
    pass


def _heuristic(config: dict[str, Any], problems: list[str]) -> HeuristicEvaluator | None:
    _check_keys(config, ("version", "root", "rules", "target"), problems)
    target = _target(config, problems)
    try:
        version = _required_string(config, "version", "heuristic config version")
        if version != HEURISTIC_VERSION:
            raise _HeuristicError(f"heuristic config version {_go_quote(version)} is unsupported")
    except _HeuristicError as exc:
        problems.append(f"config: {exc}")
    if ("root" in config) == ("rules" in config):
        problems.append("config: heuristic config needs exactly one of root (Sigil's rule tree) or rules")
        return None
    count = [0]
    try:
        if "root" in config:
            raw = config["root"]
            if not isinstance(raw, dict):
                raise _HeuristicError("heuristic config root must be an object")
            root = _server_node(raw, "heuristic config root", 1, count)
            if root.op not in ("and", "or"):
                raise _HeuristicError("heuristic config root must be a group")
        else:
            root = _rules_node(config["rules"], "rules", 1, count)
    except _HeuristicError as exc:
        message = str(exc)
        problems.append(message if message.startswith("config::") else f"config: {message}")
        return None
    return HeuristicEvaluator(root, target)


def _count(count: list[int], fail: Callable[[str], _HeuristicError], limit_message: str) -> None:
    count[0] += 1
    if count[0] > HEURISTIC_MAX_NODES:
        raise fail(limit_message)


def _server_node(raw: dict[str, Any], path: str, depth: int, count: list[int]) -> Node:
    """The server's ParseHeuristicConfig node, with its error texts."""
    if depth > HEURISTIC_MAX_DEPTH:
        raise _HeuristicError(f"{path} exceeds max depth {HEURISTIC_MAX_DEPTH}")
    _count(count, _HeuristicError, f"heuristic config exceeds max node count {HEURISTIC_MAX_NODES}")
    kind = _required_string(raw, "kind", f"{path} kind")
    if kind == "group":
        operator = _required_string(raw, "operator", f"{path} operator")
        if operator not in ("and", "or"):
            raise _HeuristicError(f"{path} operator {_go_quote(operator)} is invalid")
        if "rules" not in raw:
            raise _HeuristicError(f"{path} rules are required")
        rules = raw["rules"]
        if not isinstance(rules, list):
            raise _HeuristicError(f"{path} rules must be an array")
        if not rules:
            raise _HeuristicError(f"{path} rules must contain at least one node")
        children = []
        for i, child in enumerate(rules):
            if not isinstance(child, dict):
                raise _HeuristicError(f"{path} rules[{i}] must be an object")
            children.append(_server_node(child, f"{path} rules[{i}]", depth + 1, count))
        return Node(operator, tuple(children))
    if kind != "rule":
        raise _HeuristicError(f"{path} kind {_go_quote(kind)} is invalid")
    rule_type = _required_string(raw, "type", f"{path} type")
    if rule_type == "not_empty":
        if raw.get("value") is not None:
            raise _HeuristicError(f"{path} value is not supported for rule type {_go_quote(rule_type)}")
        return Node(rule_type)
    if rule_type in ("contains", "not_contains"):
        return Node(rule_type, value=_required_string(raw, "value", f"{path} value"))
    if rule_type in ("min_length", "max_length"):
        return Node(rule_type, value=_required_int(raw, "value", f"{path} value"))
    raise _HeuristicError(f"{path} type {_go_quote(rule_type)} is invalid")


def _required_string(raw: dict[str, Any], key: str, what: str) -> str:
    if key not in raw:
        raise _HeuristicError(f"{what} is required")
    value = raw[key]
    if not isinstance(value, str):
        raise _HeuristicError(f"{what} must be a string")
    if not value.strip():
        raise _HeuristicError(f"{what} is required")
    return value.strip()


def _required_int(raw: dict[str, Any], key: str, what: str) -> int:
    if key not in raw:
        raise _HeuristicError(f"{what} is required")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise _HeuristicError(f"{what} must be an integer")
    if value < 0:
        raise _HeuristicError(f"{what} must be >= 0")
    return int(value)


def _rules_node(raw: Any, path: str, depth: int, count: list[int]) -> Node:
    """The documented ``rules`` form; errors carry the config path."""

    def fail(message: str) -> _HeuristicError:
        return _HeuristicError(f"config::{path}: {message}")

    if depth > HEURISTIC_MAX_DEPTH:
        raise fail(f"rules nest deeper than {HEURISTIC_MAX_DEPTH} levels")
    _count(count, fail, f"more than {HEURISTIC_MAX_NODES} rules and groups")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise fail(f"expected a mapping with one key, one of and, or, not, {', '.join(_RULE_TYPES)}")
    ((op, arg),) = raw.items()
    here = f"{path}::{op}"
    if op in ("and", "or"):
        if not isinstance(arg, list) or not arg:
            raise _HeuristicError(f"config::{here}: expected a non-empty list of rules")
        return Node(op, tuple(_rules_node(c, f"{here}::{i}", depth + 1, count) for i, c in enumerate(arg)))
    if op == "not":
        return Node(op, (_rules_node(arg, here, depth + 1, count),))
    if op not in _RULE_TYPES:
        raise fail(f"unknown rule {op!r} (expected one of and, or, not, {', '.join(_RULE_TYPES)})")
    field, value = "", arg
    if isinstance(arg, dict):
        unknown = set(arg) - {"field", "value"}
        if unknown:
            raise _HeuristicError(f"config::{here}::{sorted(unknown)[0]}: unknown key (valid keys: field, value)")
        field, value = arg.get("field", ""), arg.get("value")
    elif op == "not_empty":
        # {not_empty: assistant_response}: the value names the field (null: the target).
        field, value = ("" if arg is None else arg), None
    if field not in ("", *_FIELDS):
        raise _HeuristicError(f"config::{here}::field: must be one of {', '.join(_FIELDS)}")
    field = _FIELDS.get(str(field), "")
    if op == "not_empty":
        if value is not None:
            raise _HeuristicError(f"config::{here}::value: not supported for not_empty")
        return Node(op, field=field)
    if op in ("contains", "not_contains"):
        if not isinstance(value, str) or not value.strip():
            raise _HeuristicError(f"config::{here}: expected a non-empty text")
        return Node(op, value=value.strip(), field=field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _HeuristicError(f"config::{here}: expected an integer >= 0")
    return Node(op, value=value, field=field)


# -- building ----------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[dict[str, Any], list[str]], Evaluator | None]] = {
    "regex": _regex,
    "json_schema": _json_schema,
    "heuristic": _heuristic,
}


def build(kind: str, config: dict[str, Any]) -> tuple[Evaluator | None, list[str]]:
    """The evaluator for ``kind`` and its config, or the problems (paths relative to the
    evaluator: ``config::pattern: …``)."""
    problems: list[str] = []
    evaluator = _BUILDERS[kind](config, problems)
    return (None if problems else evaluator), problems
