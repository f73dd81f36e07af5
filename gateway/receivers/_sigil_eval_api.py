"""Sigil's evaluation control plane on the ``sigil`` receiver's HTTP listener.

Routes (:data:`ROUTES`), under both the documented paths (``/api/v1/evaluators``,
``/api/v1/eval-rules``, ``/api/v1/judge-providers``) and the Sigil server's own
(``/api/v1/eval/evaluators``, ``/api/v1/eval/rules``, ``/api/v1/eval/judge/providers``).

Shapes and statuses are the server's (``sigil/internal/eval/control``): a created or updated
definition comes back whole with 200; lists are ``{"items": [...], "next_cursor": ""}`` with
``limit`` (default 50, at most 500) and ``cursor``; DELETE answers 204; an unknown id 404
(``404 page not found``); bad input 400 with the server's text (``rule_id is required``,
``selector is invalid``, ``evaluator "x" was not found``, ``invalid request body: unknown field
"x"``, …); no tenant 401. Evaluators defined in the gateway's YAML are listed with
``read_only: true`` and cannot be changed here (409). PUT replaces a definition that exists
(404 otherwise); PATCH on a rule changes the fields it names. Rules also keep
``alert_rule_uids`` and the gateway's ``judge_budget_per_minute``. Where the documented shape is
looser than the server (an evaluator without ``version`` or ``output_keys``), the gateway
fills the server's defaults instead of refusing.

Definitions are stored per tenant in the evaluation store (``eval_api.store``,
:mod:`gateway.evaluation.store`), which the ``evaluate`` processors naming the same file
read from their next batch on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gateway.evaluation.definitions import KINDS, compile_evaluator, evaluator_definition, parse_match
from gateway.evaluation.selectors import SELECTORS
from gateway.evaluation.store import EvalStore, StoreError, open_store
from gateway.listeners import HttpListener
from gateway.receivers._http import BadEncoding, BodyLimits, BodyTooLarge, read_body
from gateway.units import ByteSize

MAX_REQUEST_BODY = 1 << 20  # the server's limit for control-plane bodies
DEFAULT_PAGE = 50
MAX_PAGE = 500
DEFAULT_RULE_SAMPLE_RATE = 0.01  # the server's default for a rule without sample_rate
DEFAULT_VERSION = "1"
ACTOR = "gateway-api"  # created_by / updated_by: the gateway has no user identity to record
MAX_ID_LEN = 256
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
_LIMITS = BodyLimits(max_body_bytes=ByteSize(MAX_REQUEST_BODY), max_decompressed_bytes=ByteSize(MAX_REQUEST_BODY))

Authenticate = Callable[[web.Request], Awaitable[str | web.Response]]

# (documented path, the server's path, what it serves, methods); "{id}" stands for an id.
ROUTES = (
    ("/api/v1/evaluators", "/api/v1/eval/evaluators", "evaluators", "GET (list), POST (create or replace)"),
    ("/api/v1/evaluators/{id}", "/api/v1/eval/evaluators/{id}", "evaluators", "GET, PUT, DELETE"),
    ("/api/v1/eval-rules", "/api/v1/eval/rules", "rules", "GET (list), POST (create or replace)"),
    ("/api/v1/eval-rules/{id}", "/api/v1/eval/rules/{id}", "rules", "GET, PUT, PATCH, DELETE"),
    ("/api/v1/judge-providers", "/api/v1/eval/judge/providers", "providers", "GET"),
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EvalApiConfig:
    store: str = ""  # evaluation store file (JSON), shared with evaluate processors' api_store; "" = API off

    def validate(self) -> list[str]:
        if not self.store:
            return []
        try:
            open_store(self.store)
        except StoreError as exc:
            return [f"store: {exc}"]
        return []


class _Invalid(Exception):
    """A 4xx with the server's text."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


def _json(body: Any) -> web.Response:
    return web.Response(status=200, body=orjson.dumps(body), content_type="application/json")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_STRING, _BOOL, _NUMBER, _OBJECT, _LIST, _INT = "string", "bool", "number", "object", "list", "int"
_EVALUATOR_FIELDS = {
    "evaluator_id": _STRING,
    "version": _STRING,
    "kind": _STRING,
    "description": _STRING,
    "config": _OBJECT,
    "output_keys": _LIST,
}
_RULE_FIELDS = {
    "rule_id": _STRING,
    "enabled": _BOOL,
    "selector": _STRING,
    "match": _OBJECT,
    "sample_rate": _NUMBER,
    "evaluator_ids": _LIST,
    "alert_rule_uids": _LIST,
    "judge_budget_per_minute": _INT,
}


def _typed(value: Any, kind: str) -> bool:
    if value is None:
        return True  # JSON null leaves a Go field at its zero value
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, dict if kind == _OBJECT else list)


async def _body(request: web.Request, fields: dict[str, str]) -> dict[str, Any]:
    """The JSON object, checked as Go's decoder with DisallowUnknownFields; raises _Invalid."""
    try:
        raw = await read_body(request, _LIMITS)
    except BodyTooLarge:
        raise _Invalid("request body too large") from None
    except BadEncoding as exc:
        raise _Invalid(str(exc)) from None
    if not raw.strip():
        raise _Invalid("request body is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Invalid(f"invalid request body: malformed JSON at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise _Invalid("invalid request body: field has the wrong type")
    for key, value in body.items():
        if key not in fields:
            raise _Invalid(f'invalid request body: unknown field "{key}"')
        if not _typed(value, fields[key]):
            raise _Invalid(f'invalid request body: field "{key}" has the wrong type')
    return {k: v for k, v in body.items() if v is not None}


def _check_id(name: str, value: str) -> None:
    if not value:
        raise _Invalid(f"{name} is required")
    if len(value) > MAX_ID_LEN or not _ID.match(value):
        raise _Invalid(f"{name} {value!r} is invalid: use letters, digits and . _ : @ - (at most {MAX_ID_LEN})")


def _strings(name: str, value: list[Any]) -> list[str]:
    if not all(isinstance(v, str) for v in value):
        raise _Invalid(f'invalid request body: field "{name}" has the wrong type')
    return [v.strip() for v in value]


def _page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    limit_text, cursor_text = request.query.get("limit", "").strip(), request.query.get("cursor", "").strip()
    limit = DEFAULT_PAGE
    if limit_text:
        if not limit_text.lstrip("+-").isdigit() or int(limit_text) <= 0:
            raise _Invalid("invalid limit")
        limit = min(int(limit_text), MAX_PAGE)
    cursor = 0
    if cursor_text:
        if not cursor_text.isascii() or not cursor_text.isdigit() or int(cursor_text) >= 2**64:
            raise _Invalid("invalid cursor")
        cursor = int(cursor_text)
    end = cursor + limit
    return _json({"items": items[cursor:end], "next_cursor": str(end) if end < len(items) else ""})


class EvalApi:
    def __init__(self, store: EvalStore, authenticate: Authenticate) -> None:
        self._store = store
        self._auth = authenticate

    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
        out: list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]] = []
        for documented, server, section, _methods in ROUTES:
            for path in (documented, server):
                if section == "providers":
                    out.append((path, self._providers))
                else:
                    collection = not path.endswith("/{id}")
                    out.append((path.replace("{id}", "{item_id}"), self._handler(section, collection=collection)))
        return out

    def _handler(self, section: str, *, collection: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            tenant = await self._auth(request)
            if isinstance(tenant, web.Response):
                return tenant
            self._store.refresh()
            try:
                if collection:
                    return await self._collection(request, tenant, section)
                return await self._item(request, tenant, section, request.match_info["item_id"].strip())
            except _Invalid as exc:
                return _text(exc.status, str(exc))
            except StoreError as exc:
                return _text(503, f"evaluation store unavailable: {exc}")

        return handle

    async def _providers(self, request: web.Request) -> web.Response:
        tenant = await self._auth(request)
        if isinstance(tenant, web.Response):
            return tenant
        if request.method != "GET":
            return _text(405, "method not allowed")
        return _json({"providers": self._store.providers()})

    # -- dispatch -----------------------------------------------------------------------------

    async def _collection(self, request: web.Request, tenant: str, section: str) -> web.Response:
        if request.method == "GET":
            items = [{**d, "tenant_id": tenant} for d in self._store.merged(tenant, section)]
            return _page(request, items)
        if request.method != "POST":
            return _text(405, "method not allowed")
        if section == "evaluators":
            body = await _body(request, _EVALUATOR_FIELDS)
            return _json(self._save_evaluator(tenant, body, str(body.get("evaluator_id", "")).strip()))
        body = await _body(request, _RULE_FIELDS)
        return _json(self._save_rule(tenant, body, str(body.get("rule_id", "")).strip()))

    async def _item(self, request: web.Request, tenant: str, section: str, item_id: str) -> web.Response:
        what = "evaluator" if section == "evaluators" else "rule"
        current = self._store.get(tenant, section, item_id)
        if request.method == "GET":
            return _json({**current, "tenant_id": tenant}) if current is not None else _text(404, "404 page not found")
        if request.method not in ("PUT", "PATCH", "DELETE") or (request.method == "PATCH" and what == "evaluator"):
            return _text(405, "method not allowed")
        if current is not None and current.get("read_only"):
            raise _Invalid(f"{what} {item_id!r} is defined in the gateway configuration and is read-only", 409)
        if current is None:
            return _text(404, "404 page not found")
        if request.method == "DELETE":
            if what == "evaluator":
                self._check_unreferenced(tenant, item_id)
            self._store.delete(tenant, section, item_id)
            return web.Response(status=204)
        fields = _EVALUATOR_FIELDS if what == "evaluator" else _RULE_FIELDS
        body = await _body(request, fields)
        key = f"{what}_id"
        if str(body.get(key, item_id)).strip() != item_id:
            raise _Invalid(f"{key} in the body does not match the path")
        if request.method == "PATCH":
            changes = {k: v for k, v in body.items() if k != key}
            if not changes:
                raise _Invalid("at least one field must be provided")
            body = {**{k: v for k, v in current.items() if k in _RULE_FIELDS}, **changes}
        save = self._save_evaluator if what == "evaluator" else self._save_rule
        return _json(save(tenant, body, item_id))

    # -- evaluators ---------------------------------------------------------------------------

    def _save_evaluator(self, tenant: str, body: dict[str, Any], evaluator_id: str) -> dict[str, Any]:
        _check_id("evaluator_id", evaluator_id)
        version = str(body.get("version", "")).strip() or DEFAULT_VERSION
        kind = str(body.get("kind", "")).strip()
        if kind not in KINDS:
            raise _Invalid(f"invalid evaluator kind {kind!r} (one of {', '.join(KINDS)})")
        if "config" not in body:
            raise _Invalid("config is required")
        if self._store.config_evaluator(evaluator_id) is not None:
            raise _Invalid(f"evaluator {evaluator_id!r} is defined in the gateway configuration and is read-only", 409)
        providers = {p["id"] for p in self._store.providers()}
        compiled, problems = compile_evaluator(
            evaluator_id, kind, version, body["config"], body.get("output_keys"), providers=providers
        )
        if compiled is None:
            raise _Invalid("; ".join(problems))
        definition = evaluator_definition(
            evaluator_id, kind, version, body["config"], compiled.output, str(body.get("description", "")).strip()
        )
        return self._stamp(tenant, "evaluators", evaluator_id, definition)

    def _check_unreferenced(self, tenant: str, evaluator_id: str) -> None:
        users = sorted(
            d["rule_id"]
            for d in self._store.merged(tenant, "rules")
            if d.get("enabled", True) and evaluator_id in d.get("evaluator_ids", [])
        )
        if users:
            raise _Invalid(f"cannot delete evaluator {evaluator_id!r}: referenced by enabled rules {', '.join(users)}")

    # -- rules --------------------------------------------------------------------------------

    def _save_rule(self, tenant: str, body: dict[str, Any], rule_id: str) -> dict[str, Any]:
        if not rule_id:
            raise _Invalid("rule_id is required")
        _check_id("rule_id", rule_id)
        evaluator_ids = _strings("evaluator_ids", body.get("evaluator_ids", []))
        if not evaluator_ids:
            raise _Invalid("evaluator_ids must include at least one id")
        if "" in evaluator_ids:
            raise _Invalid("evaluator_ids cannot include empty values")
        selector = str(body.get("selector", "")).strip() or "user_visible_turn"
        if selector not in SELECTORS:
            raise _Invalid("selector is invalid")
        sample_rate = float(body.get("sample_rate", DEFAULT_RULE_SAMPLE_RATE))
        if not 0 <= sample_rate <= 1:
            raise _Invalid("sample_rate must be between 0 and 1")
        match, problems = parse_match(body.get("match"))
        if problems:
            raise _Invalid(problems[0])
        budget = body.get("judge_budget_per_minute")
        if budget is not None and budget < 0:
            raise _Invalid("judge_budget_per_minute must be 0 (no limit) or more")
        if self._store.config_rule(rule_id) is not None:
            raise _Invalid(f"rule {rule_id!r} is defined in the gateway configuration and is read-only", 409)
        for eid in evaluator_ids:
            if self._store.get(tenant, "evaluators", eid) is None:
                raise _Invalid(f'evaluator "{eid}" was not found')
        definition: dict[str, Any] = {
            "rule_id": rule_id,
            "enabled": body.get("enabled", True),
            "selector": selector,
            "match": {k: list(v) for k, v in match.items()},
            "sample_rate": sample_rate,
            "evaluator_ids": evaluator_ids,
            "alert_rule_uids": [u for u in _strings("alert_rule_uids", body.get("alert_rule_uids", [])) if u],
        }
        if budget is not None:
            definition["judge_budget_per_minute"] = budget
        return self._stamp(tenant, "rules", rule_id, definition)

    def _stamp(self, tenant: str, section: str, item_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        previous = self._store.stored(tenant, section).get(item_id)
        now = _now()
        stored = {
            "tenant_id": tenant,
            **definition,
            "created_by": previous.get("created_by", ACTOR) if previous else ACTOR,
            "updated_by": ACTOR,
            "created_at": previous.get("created_at", now) if previous else now,
            "updated_at": now,
        }
        self._store.put(tenant, section, item_id, stored)
        return {**stored, "read_only": False}


def register_eval_api(listener: HttpListener, owner: str, cfg: EvalApiConfig, authenticate: Authenticate) -> None:
    """Adds the evaluation API's routes to ``listener`` when ``cfg.store`` is set.
    ``authenticate`` returns the request's tenant, or the response refusing it."""
    if not cfg.store:
        return
    api = EvalApi(open_store(cfg.store), authenticate)
    for path, handler in api.routes():
        listener.add_route("*", path, handler, owner)


__all__ = ("EvalApiConfig", "register_eval_api")
