"""Config sources → one raw tree, as the Collector's ``confmap`` makes one.

- YAML is parsed strictly: a key given twice in one mapping is an error (YAML says keys are
  unique; PyYAML would keep the last silently), and aliases are bounded: a document whose
  aliases expand to more than ``MAX_YAML_NODES`` nodes, or refer to themselves, is refused
  before anything walks it (the "billion laughs").
- Several files (``--config a.yaml --config b.yaml``) merge in order: mappings merge key by key,
  at every depth; anything else (a list, a scalar) in a later file replaces the earlier one.
- ``--set a::b::c=value`` then sets one value (parsed as YAML), creating mappings on the way.
- Scalars are then resolved by :class:`Expander`: ``${env:NAME}``, ``${NAME}``,
  ``${env:NAME:-default}`` (unset or empty: the default), ``${env:NAME:?message}`` (unset or
  empty: an error with the message), ``${file:PATH}`` (the file's content, without one trailing
  newline), ``$$`` (a literal ``$``). An unset or empty variable without a default expands to
  an empty string with a warning that names it. Every value read from the environment or a file is a
  secret as far as messages go: it is never echoed (``<redacted>``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from gateway.errors import ConfigError

MAX_YAML_NODES = 100_000  # nodes of a document once its aliases are expanded
MIN_SECRET_CHARS = 4  # shorter expanded values (a port, a flag) are not scrubbed from messages
REDACTED = "<redacted>"

_REF = re.compile(r"\$\$|\$\{([^}]*)\}|\$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@")


# ---------------------------------------------------------------------------------------------
# YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias expansion past MAX_YAML_NODES."""

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()
        if node is not None:
            _check_size(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            try:
                key = self.construct_object(key_node, deep=True)
                hash(key)
            except TypeError:
                continue  # the base class reports an unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _check_size(root: yaml.Node) -> None:
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise yaml.YAMLError(f"an alias refers to the node that contains it (line {node.start_mark.line + 1})")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        sizes[key] = total
        if total > MAX_YAML_NODES:
            raise yaml.YAMLError(
                f"aliases expand the document past {MAX_YAML_NODES} nodes (line {node.start_mark.line + 1}); "
                "refused as an alias bomb"
            )
        return total

    size(root)


def parse_yaml(text: str, source: str) -> Any:
    """Parses one document strictly; raises ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None


def read_files(paths: list[str]) -> tuple[list[Any], list[str]]:
    """Reads and parses every file; returns the documents and every file's problem."""
    docs: list[Any] = []
    problems: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
            continue
        try:
            docs.append(parse_yaml(text, path))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return docs, problems


# ---------------------------------------------------------------------------------------------
# Merging and --set


def merge(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


def apply_set(raw: Any, assignment: str) -> Any:
    """Applies ``a::b::c=value``; raises ConfigError when it is not of that shape."""
    path, sep, text = assignment.partition("=")
    keys = path.split("::")
    if not sep or not all(keys):
        raise ConfigError([f"--set {assignment}: expected key::subkey=value"])
    value = parse_yaml(text, f"--set {path}") if text else None
    tree = raw if isinstance(raw, dict) else {}
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value
    return tree


# ---------------------------------------------------------------------------------------------
# ${...} references


class Expanded(str):
    """A scalar made by expanding references; ``source`` is the text as written (safe to show).
    It may be read as a number or a bool by the field it fills."""

    source: str


class Unresolved(Expanded):
    """A reference left unresolved (``validate --no-environment``): any type accepts it."""


class Expander:
    """Resolves references in every string of a tree, collecting problems, warnings (unset
    variables) and the secrets to keep out of messages."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, no_environment: bool = False) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.no_environment = no_environment
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.secrets: set[str] = set()

    def tree(self, raw: Any, path: str = "") -> Any:
        if isinstance(raw, str) and "$" in raw:
            return self.scalar(raw, path)
        if isinstance(raw, list):
            return [self.tree(item, _join(path, i)) for i, item in enumerate(raw)]
        if isinstance(raw, dict):
            return {key: self.tree(value, _join(path, str(key))) for key, value in raw.items()}
        return raw

    def scalar(self, text: str, path: str) -> str:
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            whole = match.group(0)
            if whole in ("$$", "$"):
                return "$"
            value = self._reference(match.group(1), whole, path)
            if value is None:
                unresolved = True
                return whole
            return value

        out = _REF.sub(replace, text)
        result: Expanded = Unresolved(out) if unresolved else Expanded(out)
        result.source = text
        return result

    def _reference(self, ref: str, whole: str, path: str) -> str | None:
        where = f"{path}: " if path else ""
        if ref.startswith("file:"):
            file_path = ref[5:]
            if self.no_environment:
                return None
            try:
                with open(file_path, encoding="utf-8") as fh:
                    content = fh.read()
            except OSError as exc:
                self.problems.append(f"{where}cannot read {whole}: {exc.strerror}")
                return ""
            content = content[:-1] if content.endswith("\n") else content
            self._secret(content)
            return content
        if ref.startswith("env:"):
            ref = ref[4:]
        name, op, arg = _split_ref(ref)
        if not _NAME.match(name):
            self.problems.append(
                f"{where}invalid reference {whole!r}: expected ${{env:NAME}}, ${{env:NAME:-default}}, "
                "${env:NAME:?message} or ${file:PATH}"
            )
            return ""
        if self.no_environment:
            return arg if op == ":-" else None
        value = self.environ.get(name)
        if value is None or value == "":
            if op == ":-":
                return arg
            if op == ":?":
                self.problems.append(f"{where}{name} is not set: {arg or 'required'}")
                return ""
            state = "is not set" if value is None else "is empty"
            self.warnings.append(f"{where}{name} {state}; {whole} expands to an empty string")
            return ""
        self._secret(value)
        return value

    def _secret(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS:
            self.secrets.add(value)

    def scrub(self, message: str) -> str:
        """``message`` without any expanded value and without URL credentials."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            message = message.replace(secret, REDACTED)
        return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", message)


def _split_ref(ref: str) -> tuple[str, str, str]:
    for op in (":-", ":?"):
        name, sep, arg = ref.partition(op)
        if sep:
            return name, op, arg
    return ref, "", ""


def _join(path: str, key: str | int) -> str:
    return f"{path}::{key}" if path else str(key)


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Expands the references of one string (no problems collected: raises ValueError)."""
    expander = Expander(environ)
    out = expander.scalar(text, "")
    if expander.problems:
        raise ValueError(expander.problems[0])
    return str(out)
