"""``redact`` processor: finds sensitive values in content and chosen labels and masks them.

Built-in rules: ``email``, ``phone`` (international or North-American shapes, 10–15 digits),
``credit_card`` (13–19 digits passing the Luhn check, so order numbers survive), ``api_key``
(common secret shapes: ``sk-…``, ``sk-ant-…``, ``ghp_…``, ``glc_…``, ``AKIA…``, ``xox[bp]-…``,
``Bearer …``). ``custom`` adds named regexes. Each match is replaced with ``mask`` (default
``[REDACTED:<rule>]``) or, with ``hash_key`` set, with ``[<rule>:<first 12 hex of
HMAC-SHA256(hash_key, match)>]`` so equal values stay joinable without being readable.

It scans the text of every message part, the system prompt, tool arguments and results (as
text), error messages, score explanations, rating comments, and the values of the ``tags`` and
``metadata`` keys listed in ``attributes``. Ids, numbers, model names and timestamps are never
touched. Each replacement is counted per rule in ``gateway_processor_redactions_total``.

.. code-block:: yaml

    processors:
      redact:
        rules: [email, credit_card, api_key]
        custom: [{name: ticket, pattern: "TCK-[0-9]{6}"}]
        attributes: [user.email]
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Literal

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.model import Batch, Record

BuiltIn = Literal["email", "phone", "credit_card", "api_key"]

_BUILTIN: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
    # Not a run of digit groups that goes on (that is a card or an id, not a phone number).
    "phone": (
        r"(?<![\w+])(?<!\d[ .\-])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.\-]?\d{3,4}[\s.\-]?\d{3,4}"
        r"(?![\w])(?![ .\-]\d)"
    ),
    "credit_card": r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)",
    "api_key": (
        r"(?:sk-ant-[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|glc_[A-Za-z0-9+/=_\-]{16,}"
        r"|AKIA[0-9A-Z]{16}|xox[bpars]-[A-Za-z0-9\-]{10,}|(?<=Bearer )[A-Za-z0-9._~+/\-]{16,}=*)"
    ),
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CustomRule:
    name: str  # rule name used in the mask and the metric label
    pattern: str  # Python regular expression


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RedactConfig:
    rules: list[BuiltIn] = dataclasses.field(  # built-in rules to apply
        default_factory=lambda: ["email", "phone", "credit_card", "api_key"]
    )
    custom: list[CustomRule] = dataclasses.field(default_factory=list)  # extra named regexes
    attributes: list[str] = dataclasses.field(default_factory=list)  # tag/metadata keys to scan too
    mask: str = "[REDACTED:{rule}]"  # replacement; {rule} is the rule name
    hash_key: str = ""  # when set: replace with a keyed hash instead of the mask

    def validate(self) -> list[str]:
        problems = []
        for i, rule in enumerate(self.custom):
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                problems.append(f"custom::{i}::pattern: invalid regular expression: {exc}")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", rule.name):
                problems.append(f"custom::{i}::name: must be lower-case letters, digits and _")
        if not self.rules and not self.custom:
            problems.append("at least one of rules, custom is required")
        return problems


class Redactor:
    """Pure: applies the configured rules to strings and records, counting per rule."""

    def __init__(self, cfg: RedactConfig) -> None:
        self._cfg = cfg
        # Most specific first: a card number must not be half-eaten by the phone rule.
        order = [n for n in ("api_key", "credit_card", "email", "phone") if n in cfg.rules]
        self._rules: list[tuple[str, re.Pattern[str]]] = [(n, re.compile(_BUILTIN[n])) for n in order]
        self._rules += [(c.name, re.compile(c.pattern)) for c in cfg.custom]
        self._attrs = set(cfg.attributes)
        self.counts: dict[str, int] = {}

    def _replacement(self, rule: str) -> Callable[[re.Match[str]], str]:
        def replace(m: re.Match[str]) -> str:
            value = m.group(0)
            if rule == "credit_card" and not luhn_ok(re.sub(r"[ \-]", "", value)):
                return value
            self.counts[rule] = self.counts.get(rule, 0) + 1
            if self._cfg.hash_key:
                digest = hmac.new(self._cfg.hash_key.encode(), value.encode(), hashlib.sha256).hexdigest()
                return f"[{rule}:{digest[:12]}]"
            return self._cfg.mask.replace("{rule}", rule)

        return replace

    def text(self, value: str) -> str:
        if not value:
            return value
        for name, pattern in self._rules:
            value = pattern.sub(self._replacement(name), value)
        return value

    def data(self, value: bytes) -> bytes:
        if not value:
            return value
        text = value.decode("utf-8", "replace")
        out = self.text(text)
        return value if out == text else out.encode("utf-8")

    def record(self, r: Record) -> None:
        r.system_prompt = self.text(r.system_prompt)
        r.error_message = self.text(r.error_message)
        for msg in (*r.input, *r.output):
            for p in msg.parts:
                p.text = self.text(p.text)
                p.tool_result_content = self.text(p.tool_result_content)
                p.tool_input_json = self.data(p.tool_input_json)
                p.tool_result_json = self.data(p.tool_result_json)
        r.tool_arguments_json = self.data(r.tool_arguments_json)
        r.tool_result_json = self.data(r.tool_result_json)
        for key in self._attrs:
            if key in r.tags:
                r.tags[key] = self.text(r.tags[key])
            value = r.metadata.get(key)
            if isinstance(value, str):
                r.metadata[key] = self.text(value)


class RedactProcessor:
    capabilities = Capabilities(mutates_data=True)  # masks texts in place

    def __init__(self, settings: CreateSettings, cfg: RedactConfig, next_: Consumer) -> None:
        self._redactor = Redactor(cfg)
        self._next = next_
        self._id = str(settings.id)
        self._t = settings.telemetry

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        for r in batch.records:
            self._redactor.record(r)
        for score in batch.scores:
            score.explanation = self._redactor.text(score.explanation)
        for rating in batch.ratings:
            rating.comment = self._redactor.text(rating.comment)
        counts = self._redactor.counts
        for rule, n in counts.items():
            self._t.redactions.labels(self._id, rule).inc(n)
        counts.clear()
        await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: RedactConfig, next_: Consumer) -> RedactProcessor:
    return RedactProcessor(settings, cfg, next_)


FACTORY = processor_factory("redact", RedactConfig, _create, "Masks emails, phones, cards, keys, custom patterns.")
