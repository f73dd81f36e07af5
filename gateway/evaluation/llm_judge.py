"""The ``llm_judge`` evaluator kind: its config, its prompt templates and how its answer is read.

Config, as Sigil's API documents it: ``provider`` (a judge provider id from the processor's
``judges.providers``), ``model`` (``provider/model`` also works, as on the server),
``system_prompt``, ``user_prompt``, ``max_tokens`` (default 256), ``temperature`` (default 0),
``timeout_ms`` (default 20000, per attempt).

Templates: ``{{name}}`` is replaced by the generation's text of that name, as the server builds
them: ``assistant_response`` (= ``output``: the assistant's text parts), ``latest_user_message``
(= ``input``), ``user_history`` (``<message index="n">`` blocks), ``system_prompt``,
``assistant_thinking``, ``assistant_sequence``, ``tool_calls``, ``tool_results``, ``tools``,
``stop_reason``, ``call_error`` (= ``error``), ``generation_id``, ``conversation_id``; the
heuristic kind's field names ``response`` and ``input`` read the same texts. Unknown names stay
as written.

The answer is read as the server reads it, against the evaluator's output key (``output_keys``:
one ``{key, type}``; default ``judge_score``, a number): a JSON object's ``score`` (or the key's
own name; ``value`` for bools), ``passed`` and ``explanation``; else, for a number, the first
number in the text; for a bool, ``true``/``false`` (quoted or with a final ``.``/``!``); for a
string (a *label*), the text itself. The gateway also checks what the server leaves to the UI:
a number outside ``min``/``max``, or a label outside ``enum`` (matched case-insensitively) is
unparsable. ``passed``: the judge's own, else ``value >= pass_threshold`` for numbers, the value
for bools (``pass_value: false`` inverts it), membership of ``pass_match`` for labels.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from gateway.model import Message, Part, PartKind, Record, Role

DEFAULT_KEY = "judge_score"
DEFAULT_SYSTEM_PROMPT = "You are an evaluator."
DEFAULT_USER_PROMPT = "User input:\n{{input}}\n\nAssistant output:\n{{output}}"
DEFAULT_MAX_TOKENS = 256
DEFAULT_TIMEOUT_MS = 20_000
# The config's keys as docs/configuration.md lists them: (key, type, default, meaning).
CONFIG_DOC = (
    ("provider", "string", "(required)", "a judge provider id from `judges.providers`"),
    ("model", "string", "(required)", "the judge's model; `provider/model` also sets the provider"),
    ("system_prompt", "string", repr(DEFAULT_SYSTEM_PROMPT), "template; empty or absent: the default"),
    ("user_prompt", "string", repr(DEFAULT_USER_PROMPT), "template (fields below)"),
    ("max_tokens", "int", str(DEFAULT_MAX_TOKENS), "the judge's answer budget"),
    ("temperature", "float", "0.0", "0 to 2"),
    ("timeout_ms", "int", str(DEFAULT_TIMEOUT_MS), "per attempt; then retried within the provider's max_retries"),
)
CONFIG_KEYS = tuple(row[0] for row in CONFIG_DOC)
OUTPUT_KEY_DOC = (
    ("key", "string", "judge_score", "score_key of the scores"),
    ("type", "number \\| bool \\| string", "number", "what the answer is read as (string: a label)"),
    ("pass_threshold", "float", "none", "number: passed when the score is at least this"),
    ("min", "float", "none", "number: a lower score is unparsable"),
    ("max", "float", "none", "number: a higher score is unparsable"),
    ("pass_value", "bool", "true", "bool: the value that passes"),
    ("enum", "list of string", "[]", "string: the labels allowed (case-insensitive); others are unparsable"),
    ("pass_match", "list of string", "[]", "string: the labels that pass"),
    ("description", "string", '""', "shown by the evaluation API"),
    ("unit", "string", '""', "shown by the evaluation API"),
)
TEMPLATE_FIELDS = (
    "assistant_response",
    "latest_user_message",
    "user_history",
    "system_prompt",
    "assistant_thinking",
    "assistant_sequence",
    "tool_calls",
    "tool_results",
    "tools",
    "stop_reason",
    "call_error",
    "error",
    "generation_id",
    "conversation_id",
    "input",
    "output",
    "response",
)
SCORE_TYPES = ("number", "bool", "string")
OUTPUT_KEY_FIELDS = tuple(row[0] for row in OUTPUT_KEY_DOC)
_NUMBER = re.compile(r"[-+]?[0-9]*\.?[0-9]+")
_VAR = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class Unparsable(Exception):
    """The judge answered, but not with a score of the evaluator's type."""


@dataclasses.dataclass(frozen=True, slots=True)
class OutputKey:
    key: str = DEFAULT_KEY
    type: str = "number"
    unit: str = ""
    pass_threshold: float | None = None
    enum: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    pass_match: tuple[str, ...] = ()
    pass_value: bool | None = None
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class JudgeSpec:
    provider: str
    model: str
    system_prompt: str
    user_prompt: str
    max_tokens: int
    temperature: float
    timeout_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Parsed:
    value: float | bool | str
    passed: bool | None
    explanation: str


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_output_keys(raw: Any, default_key: str, default_type: str, problems: list[str]) -> OutputKey:
    """Sigil's ``output_keys`` (exactly one entry when given); the kind's default otherwise."""
    if raw is None or raw == []:
        return OutputKey(default_key, default_type)
    if not isinstance(raw, list):
        problems.append("output_keys: expected a list")
        return OutputKey(default_key, default_type)
    if len(raw) > 1:
        problems.append("output_keys: output_keys must include exactly one key")
    item = raw[0]
    if not isinstance(item, dict):
        problems.append("output_keys::0: expected a mapping")
        return OutputKey(default_key, default_type)
    for name in item:
        if name not in OUTPUT_KEY_FIELDS:
            problems.append(f"output_keys::0::{name}: unknown key (valid keys: {', '.join(OUTPUT_KEY_FIELDS)})")
    key = item.get("key")
    if not isinstance(key, str) or not key.strip():
        problems.append("output_keys::0::key: output key name is required")
        key = default_key
    kind = item.get("type", default_type)
    if kind not in SCORE_TYPES:
        problems.append(
            f"output_keys::0::type: output key {key.strip()!r} has invalid type (one of number, bool, string)"
        )
        kind = default_type
    floats = {}
    for name in ("pass_threshold", "min", "max"):
        value = item.get(name)
        if value is not None and not _number(value):
            problems.append(f"output_keys::0::{name}: expected a number")
            value = None
        floats[name] = float(value) if value is not None else None
    lists = {}
    for name in ("enum", "pass_match"):
        value = item.get(name) or []
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"output_keys::0::{name}: expected a list of strings")
            value = []
        lists[name] = tuple(value)
    pass_value = item.get("pass_value")
    if pass_value is not None and not isinstance(pass_value, bool):
        problems.append("output_keys::0::pass_value: expected true or false")
        pass_value = None
    unit, description = item.get("unit", ""), item.get("description", "")
    return OutputKey(
        key.strip(),
        str(kind),
        unit.strip() if isinstance(unit, str) else "",
        floats["pass_threshold"],
        lists["enum"],
        floats["min"],
        floats["max"],
        lists["pass_match"],
        pass_value,
        description.strip() if isinstance(description, str) else "",
    )


def parse_config(config: dict[str, Any], problems: list[str]) -> JudgeSpec:
    """The llm_judge config with the server's defaults; problems carry ``config::`` paths."""
    for key in config:
        if key not in CONFIG_KEYS:
            problems.append(f"config::{key}: unknown key (valid keys: {', '.join(CONFIG_KEYS)})")

    def text(key: str, default: str) -> str:
        value = config.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            problems.append(f"config::{key}: expected a string")
            return default
        return value.strip() or default

    provider, model = text("provider", ""), text("model", "")
    if "/" in model:
        prefix, _, model = (s.strip() for s in model.partition("/"))
        if not provider:
            provider = prefix
        elif prefix and prefix.lower() != provider.lower():
            problems.append(
                f"config::model: llm_judge evaluator model provider {prefix!r} does not match provider {provider!r}"
            )
    if not provider or not model:
        problems.append("config: llm_judge evaluator requires provider and model")
    max_tokens = config.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        problems.append("config::max_tokens: expected an integer >= 1")
        max_tokens = DEFAULT_MAX_TOKENS
    temperature = config.get("temperature", 0.0)
    if not _number(temperature) or not 0 <= temperature <= 2:
        problems.append("config::temperature: expected a number from 0 to 2")
        temperature = 0.0
    timeout_ms = config.get("timeout_ms", DEFAULT_TIMEOUT_MS)
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 1:
        problems.append("config::timeout_ms: expected an integer >= 1 (milliseconds)")
        timeout_ms = DEFAULT_TIMEOUT_MS
    return JudgeSpec(
        provider,
        model,
        text("system_prompt", DEFAULT_SYSTEM_PROMPT),
        text("user_prompt", DEFAULT_USER_PROMPT),
        max_tokens,
        float(temperature),
        timeout_ms,
    )


# -- templates ----------------------------------------------------------------------------------


def _escape(text: str, attr: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&apos;") if attr else text


def _texts(parts: list[Part]) -> str:
    return "\n".join(t for p in parts if p.kind == PartKind.TEXT and (t := p.text.strip()))


def _of(messages: list[Message], role: Role) -> list[Message]:
    return [m for m in messages if m.role == role]


def _tool_call(p: Part) -> str:
    attrs = [f'{k}="{_escape(v, True)}"' for k, v in (("name", p.tool_name), ("id", p.tool_call_id)) if v.strip()]
    body = _escape(p.tool_input_json.decode("utf-8", "replace").strip())
    return f"<tool_call {' '.join(attrs)}>\n{body}\n</tool_call>" if body else f"<tool_call {' '.join(attrs)} />"


def _tool_result(p: Part) -> str:
    attrs = [f'{k}="{_escape(v, True)}"' for k, v in (("name", p.tool_name), ("id", p.tool_call_id)) if v.strip()]
    if p.is_error:
        attrs.append('error="true"')
    body = p.tool_result_content.strip() or p.tool_result_json.decode("utf-8", "replace").strip()
    head = f"<tool_result {' '.join(attrs)}"
    return f"{head}>\n{_escape(body)}\n</tool_result>" if body else f"{head} />"


def _sequence_block(p: Part) -> str:
    if p.kind == PartKind.TEXT and p.text.strip():
        return f"<text>{_escape(p.text.strip())}</text>"
    if p.kind == PartKind.THINKING and p.text.strip():
        return f"<thinking>{_escape(p.text.strip())}</thinking>"
    if p.kind == PartKind.TOOL_CALL:
        return _tool_call(p)
    if p.kind == PartKind.TOOL_RESULT:
        return _tool_result(p)
    return ""


def template_vars(record: Record) -> dict[str, str]:
    """The server's llm_judge template variables, built from a record."""
    assistant = [p for m in record.output if m.role in (Role.ASSISTANT, Role.UNSPECIFIED) for p in m.parts]
    users = [t for m in _of(record.input, Role.USER) if (t := _texts(m.parts))]
    latest = users[-1] if users else ""
    response = _texts(assistant)
    error = record.error_message.strip()
    tools = []
    for tool in record.tools:
        head = f'<tool name="{_escape(tool.name.strip(), True)}"'
        head += f' type="{_escape(tool.type, True)}"' if tool.type else ""
        described = tool.description.strip()
        tools.append(
            f"{head}>\n<description>{_escape(described)}</description>\n</tool>" if described else f"{head} />"
        )
    return {
        "generation_id": record.id,
        "conversation_id": record.conversation_id,
        "system_prompt": record.system_prompt.strip(),
        "latest_user_message": latest,
        "user_history": "\n".join(f'<message index="{i}">\n{t}\n</message>' for i, t in enumerate(users, 1)),
        "assistant_response": response,
        "assistant_thinking": "\n".join(
            f"<thinking>{_escape(p.text.strip())}</thinking>"
            for p in assistant
            if p.kind == PartKind.THINKING and p.text.strip()
        ),
        "assistant_sequence": "\n".join(b for p in assistant if (b := _sequence_block(p))),
        "tool_calls": "\n".join(_tool_call(p) for p in assistant if p.kind == PartKind.TOOL_CALL),
        "tool_results": "\n".join(
            _tool_result(p) for m in _of(record.input, Role.TOOL) for p in m.parts if p.kind == PartKind.TOOL_RESULT
        ),
        "tools": "\n".join(tools),
        "stop_reason": record.stop_reason.strip(),
        "call_error": error,
        "error": error,
        "input": latest,
        "output": response,
        "response": response,
    }


def render(template: str, variables: dict[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), template)


# -- answers ------------------------------------------------------------------------------------


def parse_answer(text: str, out: OutputKey) -> Parsed:
    """The judge's answer as a score of ``out``'s type; raises Unparsable."""
    trimmed = text.strip()
    if trimmed.startswith("```"):  # a fenced JSON answer, as chat models like to give
        trimmed = trimmed.strip("`").removeprefix("json").strip()
    if not trimmed:
        raise Unparsable("judge response was empty")
    try:
        obj = json.loads(trimmed)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        value, passed, explanation = _from_json(obj, out)
    elif out.type == "bool":
        value, passed, explanation = _bool_text(trimmed), None, ""
    elif out.type == "string":
        value, passed, explanation = trimmed, None, ""
    else:
        found = _NUMBER.search(trimmed)
        if found is None:
            raise Unparsable("judge response did not include a numeric score")
        value, passed, explanation = float(found.group(0)), None, ""
    return _check(value, passed, explanation, out)


def _from_json(obj: dict[str, Any], out: OutputKey) -> tuple[float | bool | str, bool | None, str]:
    explanation = obj["explanation"].strip() if isinstance(obj.get("explanation"), str) else ""
    passed = obj["passed"] if isinstance(obj.get("passed"), bool) else None
    if "score" in obj:
        raw = obj["score"]
    elif out.key in obj:
        raw = obj[out.key]
    elif out.type == "bool" and isinstance(obj.get("value"), bool):
        raw = obj["value"]
    else:
        raise Unparsable("judge response JSON did not include score")
    if out.type == "bool" and not isinstance(raw, bool):
        raise Unparsable("judge response score must be bool")
    if out.type == "string" and not isinstance(raw, str):
        raise Unparsable("judge response score must be string")
    if out.type == "number" and not _number(raw):
        raise Unparsable("judge response score must be number")
    return (float(raw) if out.type == "number" else raw), passed, explanation


def _bool_text(text: str) -> bool:
    for candidate in (text, text.rstrip(".!?").strip()):
        if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "\"'`":
            candidate = candidate[1:-1]
        if candidate.strip().lower() in ("true", "false"):
            return candidate.strip().lower() == "true"
    raise Unparsable("judge response did not include a bool score")


def _check(value: float | bool | str, passed: bool | None, explanation: str, out: OutputKey) -> Parsed:
    if isinstance(value, float):
        if (out.min is not None and value < out.min) or (out.max is not None and value > out.max):
            low = "-inf" if out.min is None else f"{out.min:g}"
            high = "inf" if out.max is None else f"{out.max:g}"
            raise Unparsable(f"judge score {value:g} is outside [{low}, {high}]")
        if passed is None and out.pass_threshold is not None:
            passed = value >= out.pass_threshold
    elif isinstance(value, bool):
        if passed is None:
            passed = value if out.pass_value is None else value == out.pass_value
    else:
        value = value.strip()
        if out.enum:
            match = next((e for e in out.enum if e.lower() == value.lower()), None)
            if match is None:
                raise Unparsable(f"judge label {value[:80]!r} is not one of {', '.join(out.enum)}")
            value = match
        if passed is None and out.pass_match:
            passed = value.lower() in (m.lower() for m in out.pass_match)
    return Parsed(value, passed, explanation)
