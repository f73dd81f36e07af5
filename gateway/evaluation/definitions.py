"""Evaluator and rule definitions, compiled: what the evaluate processor runs and what the
evaluation API validates before it stores anything.

One compiler serves both sources (the processor's YAML, the API's JSON), so an evaluator means
the same wherever it was defined. Rule ``match`` is the server's: keys ``agent_name``,
``agent_version``, ``operation_name``, ``model.provider``, ``model.name`` (glob patterns,
case-insensitive), ``mode`` (``SYNC``/``STREAM``), ``error.type``, ``error.category`` and
``tags.<name>`` (exact); each value a string or a list of strings; every key must match, any of
its values may.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from gateway.evaluation import evaluators
from gateway.evaluation.llm_judge import JudgeSpec, OutputKey, parse_config, parse_output_keys
from gateway.model import Record

KINDS = ("regex", "json_schema", "heuristic", "llm_judge")
MATCH_KEYS = (
    "agent_name",
    "agent_version",
    "operation_name",
    "model.provider",
    "model.name",
    "mode",
    "error.type",
    "error.category",
)
_GLOB_KEYS = frozenset(MATCH_KEYS[:5])
_DEFAULT_KEYS = {"regex": "regex_match", "json_schema": "json_valid", "heuristic": "heuristic_pass"}


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluator:
    """A runnable evaluator: ``impl`` for the deterministic kinds, ``judge`` for llm_judge."""

    id: str
    version: str
    kind: str
    output: OutputKey
    impl: evaluators.Evaluator | None = None
    judge: JudgeSpec | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    id: str
    selector: str
    sample_rate: float
    sample_by: str  # conversation | generation
    match: dict[str, tuple[str, ...]]
    judge_budget_per_minute: int  # llm_judge runs started per minute; 0 = no limit
    evaluators: tuple[Evaluator, ...]


def compile_evaluator(
    evaluator_id: str,
    kind: str,
    version: str,
    config: Any,
    output_keys: Any = None,
    score_key: str = "",
    providers: set[str] | None = None,
) -> tuple[Evaluator | None, list[str]]:
    """The evaluator, or the problems (paths relative to the evaluator: ``config::pattern: …``).
    ``providers``: the judge provider ids an llm_judge may name (None: not checked)."""
    problems: list[str] = []
    if kind not in KINDS:
        return None, [f"kind: must be one of {', '.join(KINDS)}"]
    if not isinstance(config, dict):
        return None, ["config: expected a mapping"]
    if kind == "llm_judge":
        spec = parse_config(config, problems)
        if providers is not None and spec.provider and spec.provider not in providers:
            known = ", ".join(sorted(providers)) or "none configured"
            problems.append(
                f"config::provider: judge provider {spec.provider!r} is not configured (providers: {known})"
            )
        output = parse_output_keys(output_keys, "judge_score", "number", problems)
        if score_key.strip():
            output = dataclasses.replace(output, key=score_key.strip())
        return (None if problems else Evaluator(evaluator_id, version, kind, output, judge=spec)), problems
    impl, found = evaluators.build(kind, config)
    problems.extend(found)
    output = parse_output_keys(output_keys, score_key.strip() or _DEFAULT_KEYS[kind], "bool", problems)
    if impl is None or problems:
        return None, problems
    return Evaluator(evaluator_id, version, kind, output, impl=impl), problems


def parse_match(raw: Any) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Sigil's rule ``match``, normalised; the server's error texts."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, ["match must be an object"]
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        name = str(key).strip()
        if not name:
            return {}, ["match keys cannot be empty"]
        if name.startswith("tags."):
            if not name[5:].strip():
                return {}, ['match key "tags." must include a tag name']
            name = "tags." + name[5:].strip()
        elif name not in MATCH_KEYS:
            return {}, [f"unsupported match key {key!r}"]
        values: list[str] = []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            return {}, [f"match[{key!r}] must be a string or array of strings"]
        for i, item in enumerate(items):
            if not isinstance(item, str):
                return {}, [f"match[{key!r}] array item {i} must be a string"]
            if not item.strip():
                if isinstance(value, list):
                    return {}, [f"match[{key!r}] array item {i} must be a non-empty string"]
                continue
            values.append(item.strip())
        if not values:
            return {}, [f"match[{key!r}] must include at least one non-empty string"]
        if name in out:
            return {}, [f"duplicate match key {name!r} after normalization"]
        out[name] = tuple(values)
    return out, []


def _field(record: Record, key: str) -> str:
    if key.startswith("tags."):
        return record.tags.get(key[5:], "")
    return {
        "agent_name": record.agent_name,
        "agent_version": record.agent_version,
        "operation_name": record.operation,
        "model.provider": record.provider,
        "model.name": record.model,
        "mode": "" if record.stream is None else ("STREAM" if record.stream else "SYNC"),
        "error.type": record.error_type,
        "error.category": record.tags.get("error.category", ""),
    }[key]


def match_record(match: dict[str, tuple[str, ...]], record: Record) -> bool:
    for key, values in match.items():
        actual = _field(record, key)
        if key in _GLOB_KEYS:
            if not any(fnmatch.fnmatchcase(actual.lower(), v.lower()) for v in values):
                return False
        elif actual not in values:
            return False
    return True


def evaluator_definition(
    evaluator_id: str, kind: str, version: str, config: dict[str, Any], output: OutputKey, description: str = ""
) -> dict[str, Any]:
    """An evaluator in the API's shape (``EvaluatorDefinition`` without tenant and timestamps)."""
    key: dict[str, Any] = {"key": output.key, "type": output.type}
    for name in ("description", "unit", "pass_threshold", "min", "max", "pass_value"):
        if getattr(output, name) not in (None, ""):
            key[name] = getattr(output, name)
    for name in ("enum", "pass_match"):
        if getattr(output, name):
            key[name] = list(getattr(output, name))
    out: dict[str, Any] = {"evaluator_id": evaluator_id, "version": version, "kind": kind}
    if description:
        out["description"] = description
    out.update({"config": config, "output_keys": [key], "is_predefined": False})
    return out
