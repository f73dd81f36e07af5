"""The evaluation store: evaluators and rules created through Sigil's evaluation API, shared by
the ``sigil`` receiver (which serves the API) and the ``evaluate`` processors (which run them).

How the two meet: both name the same file. The receiver's ``eval_api.store`` and the
processor's ``api_store`` are paths; :func:`open_store` returns one :class:`EvalStore` per
absolute path for the whole process, so a write through the API is seen by every processor
that names the file on its next batch, without a restart. The file is JSON, written atomically
(a temporary file renamed over it) after every change, and re-read when another process changed
it (checked at most every ``RELOAD_INTERVAL`` seconds), so gateway workers that share the file
converge; concurrent writes from two processes are last-writer-wins.

Definitions are kept in the API's shapes (``evaluator_id``, ``version``, ``kind``, ``config``,
``output_keys``, …; ``rule_id``, ``enabled``, ``selector``, ``match``, ``sample_rate``,
``evaluator_ids``, ``alert_rule_uids``, …), per tenant, as the Sigil server scopes them.

Each processor *attaches* what its YAML defines (evaluators, rules) and its judge providers
while it runs. The API lists those beside the stored ones, marked ``read_only``, for every
tenant; it refuses to change them (409), and it checks new definitions against them (a stored
rule may use a YAML evaluator; an ``llm_judge`` must name an attached provider).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import Any

log = logging.getLogger(__name__)

RELOAD_INTERVAL = 1.0  # seconds between checks of the file for another process's writes
FILE_VERSION = 1

Definition = dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    """What one running processor brings: its YAML definitions and its judge providers."""

    evaluators: dict[str, Definition]
    rules: dict[str, Definition]
    providers: dict[str, dict[str, str]]


class StoreError(Exception):
    """The store file cannot be read or written."""


class EvalStore:
    """Per-tenant evaluators and rules in one JSON file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.generation = 0  # bumped on every change: processors rebuild what they compiled
        self._tenants: dict[str, dict[str, dict[str, Definition]]] = {}
        self._attached: dict[str, Attachment] = {}
        self._mtime_ns: int | None = None
        self._checked = 0.0
        self._load()

    # -- the file ---------------------------------------------------------------------------

    def _stat(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _load(self) -> None:
        mtime = self._stat()
        tenants: dict[str, dict[str, dict[str, Definition]]] = {}
        if mtime is not None:
            try:
                with open(self.path, encoding="utf-8") as fh:
                    raw = json.load(fh)
            except (OSError, ValueError) as exc:
                raise StoreError(f"{self.path}: cannot read the evaluation store: {exc}") from None
            if not isinstance(raw, dict) or not isinstance(raw.get("tenants"), dict):
                raise StoreError(f"{self.path}: not an evaluation store (expected {{version, tenants}})")
            for tenant, sections in raw["tenants"].items():
                if isinstance(sections, dict):
                    tenants[tenant] = {name: _definitions(sections.get(name)) for name in ("evaluators", "rules")}
        self._tenants = tenants
        self._mtime_ns = mtime
        self.generation += 1

    def _save(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        body = json.dumps({"version": FILE_VERSION, "tenants": self._tenants}, indent=1, sort_keys=True)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".eval-store-", dir=directory)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write the evaluation store: {exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise StoreError(f"{self.path}: cannot write the evaluation store: {exc}") from None
        self._mtime_ns = self._stat()
        self.generation += 1

    def refresh(self) -> None:
        """Re-reads the file if another process changed it (at most every RELOAD_INTERVAL)."""
        now = time.monotonic()
        if now - self._checked < RELOAD_INTERVAL:
            return
        self._checked = now
        if self._stat() != self._mtime_ns:
            try:
                self._load()
            except StoreError as exc:
                log.warning("%s; keeping the definitions already loaded", exc)
                self._mtime_ns = self._stat()

    # -- attachments ------------------------------------------------------------------------

    def attach(self, owner: str, attachment: Attachment) -> None:
        self._attached[owner] = attachment
        self.generation += 1

    def detach(self, owner: str) -> None:
        if self._attached.pop(owner, None) is not None:
            self.generation += 1

    def providers(self) -> list[dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for a in self._attached.values():
            for pid, info in a.providers.items():
                found.setdefault(pid, info)
        return [found[k] for k in sorted(found)]

    def config_evaluator(self, evaluator_id: str) -> Definition | None:
        return next((a.evaluators[evaluator_id] for a in self._attached.values() if evaluator_id in a.evaluators), None)

    def config_rule(self, rule_id: str) -> Definition | None:
        return next((a.rules[rule_id] for a in self._attached.values() if rule_id in a.rules), None)

    def _config(self, section: str) -> dict[str, Definition]:
        found: dict[str, Definition] = {}
        for a in self._attached.values():
            for key, value in (a.evaluators if section == "evaluators" else a.rules).items():
                found.setdefault(key, value)
        return found

    # -- reading ----------------------------------------------------------------------------

    def _section(self, tenant: str, section: str) -> dict[str, Definition]:
        return self._tenants.get(tenant, {}).get(section, {})

    def stored(self, tenant: str, section: str) -> dict[str, Definition]:
        """The API-made definitions of one tenant (``evaluators`` or ``rules``), by id."""
        return self._section(tenant, section)

    def merged(self, tenant: str, section: str) -> list[Definition]:
        """YAML-defined (``read_only``) and stored definitions, sorted by id; copies."""
        out = {k: {**v, "read_only": True} for k, v in self._config(section).items()}
        for k, v in self._section(tenant, section).items():
            out.setdefault(k, {**copy.deepcopy(v), "read_only": False})
        return [out[k] for k in sorted(out)]

    def get(self, tenant: str, section: str, item_id: str) -> Definition | None:
        config = self.config_evaluator(item_id) if section == "evaluators" else self.config_rule(item_id)
        if config is not None:
            return {**config, "read_only": True}
        stored = self._section(tenant, section).get(item_id)
        return {**copy.deepcopy(stored), "read_only": False} if stored is not None else None

    # -- writing ----------------------------------------------------------------------------

    def put(self, tenant: str, section: str, item_id: str, definition: Definition) -> None:
        sections = self._tenants.setdefault(tenant, {"evaluators": {}, "rules": {}})
        previous = sections[section].get(item_id)
        sections[section][item_id] = definition
        try:
            self._save()
        except StoreError:
            if previous is None:
                del sections[section][item_id]
            else:
                sections[section][item_id] = previous
            raise

    def delete(self, tenant: str, section: str, item_id: str) -> bool:
        sections = self._tenants.get(tenant)
        if sections is None or item_id not in sections[section]:
            return False
        previous = sections[section].pop(item_id)
        try:
            self._save()
        except StoreError:
            sections[section][item_id] = previous
            raise
        return True


def _definitions(raw: Any) -> dict[str, Definition]:
    """A section of the file; entries that are not objects (a hand edit gone wrong) are left out."""
    return {str(k): v for k, v in raw.items() if isinstance(v, dict)} if isinstance(raw, dict) else {}


_STORES: dict[str, EvalStore] = {}


def open_store(path: str) -> EvalStore:
    """The process's one store for ``path`` (created and loaded on first use); raises StoreError."""
    key = os.path.abspath(path)
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = EvalStore(key)
    else:
        store.refresh()
    return store
