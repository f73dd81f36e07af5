"""Ratings: read and replay only by the authenticated tenant that owns them, stored as the
processors left them, and bounded in bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway.model import Rating
from gateway.receivers._sigil_ratings import RatingsConfig, RatingStore
from gateway.units import ByteSize
from tests.conftest import StartGateway, http_port
from tests.security.support import HTTP, config, rss_mb, spy_on

PATH = "/api/v1/conversations/conv-1/ratings"
GOOD = "CONVERSATION_RATING_VALUE_GOOD"


async def _call(
    session: aiohttp.ClientSession, url: str, method: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    async with session.request(method, url, json=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, (orjson.loads(raw) if resp.content_type == "application/json" else raw)


async def test_ratings_belong_to_the_authenticated_tenant(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(config(tmp_path, form="processor"))
    url = f"http://127.0.0.1:{http_port(service, HTTP)}{PATH}"
    team_a = {"Authorization": "Bearer key-a"}
    team_b = {"Authorization": "Bearer key-b"}
    rating = {"rating_id": "r1", "rating": GOOD, "comment": "team a's private note"}
    async with aiohttp.ClientSession() as s:
        assert (await _call(s, url, "POST", team_a, rating))[0] == 200
        # The bypass: the tenant header alone, no key.
        assert (await _call(s, url, "GET", {"X-Scope-OrgID": "team-a"}))[0] == 401
        assert (await _call(s, url, "POST", {"X-Scope-OrgID": "team-a"}, rating))[0] == 401
        # Another tenant's valid key, claiming team-a in the header, sees nothing of team-a's...
        status, listed = await _call(s, url, "GET", {**team_b, "X-Scope-OrgID": "team-a"})
        assert (status, listed["items"]) == (200, [])
        # ...and its replay of the same id is its own rating, not a conflict that leaks a match.
        changed = {**rating, "comment": "guess"}
        status, reply = await _call(s, url, "POST", {**team_b, "X-Scope-OrgID": "team-a"}, changed)
        assert status == 200 and reply["summary"]["total_count"] == 1
        # The owner reads its own.
        status, listed = await _call(s, url, "GET", team_a)
        assert status == 200
        assert b"team a's private note" in orjson.dumps(listed)
        assert (await _call(s, url, "POST", team_a, {**rating, "rating": "CONVERSATION_RATING_VALUE_BAD"}))[0] == 409


async def test_ratings_are_stored_after_content_and_redact(start_gateway: StartGateway, tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        form="processor",
        processors={"redact": {"rules": ["credit_card"]}},
        pipeline_processors=["redact"],
    )
    service = await start_gateway(cfg)
    spy = spy_on(service)
    url = f"http://127.0.0.1:{http_port(service, HTTP)}{PATH}"
    headers = {"Authorization": "Bearer key-a"}
    rating = {"rating_id": "r1", "rating": GOOD, "comment": "card 4111 1111 1111 1111 was charged"}
    async with aiohttp.ClientSession() as s:
        status, reply = await _call(s, url, "POST", headers, rating)
        assert status == 200
        assert "4111" not in orjson.dumps(reply).decode()
        status, listed = await _call(s, url, "GET", headers)
        assert status == 200 and "4111" not in orjson.dumps(listed).decode()
        # The identical resend is recognised as such (compared with what the client sent).
        status, again = await _call(s, url, "POST", headers, rating)
        assert (status, again) == (200, reply)
    assert "4111" not in spy.batches[0].ratings[0].comment


async def test_ratings_with_metadata_only_content_keep_no_comment(start_gateway: StartGateway, tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        form="processor",
        processors={"content": {"mode": "metadata_only"}},
        pipeline_processors=["content"],
    )
    service = await start_gateway(cfg)
    url = f"http://127.0.0.1:{http_port(service, HTTP)}{PATH}"
    headers = {"Authorization": "Bearer key-a"}
    async with aiohttp.ClientSession() as s:
        await _call(s, url, "POST", headers, {"rating_id": "r1", "rating": GOOD, "comment": "TOPSECRET"})
        status, listed = await _call(s, url, "GET", headers)
    assert status == 200 and b"TOPSECRET" not in orjson.dumps(listed)


async def test_rating_flood_stays_within_the_byte_budget(start_gateway: StartGateway, tmp_path: Path) -> None:
    cfg = config(tmp_path, form="processor")
    cfg["receivers"]["sigil"]["ratings"] = {"max_bytes": "256KiB"}
    service = await start_gateway(cfg)
    base = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/conversations"
    headers = {"Authorization": "Bearer key-a"}
    before = rss_mb()
    comment = "x" * 2000
    async with aiohttp.ClientSession() as s:
        for i in range(600):  # ~1.5 MB of comments, six times the budget
            body = {"rating_id": f"r{i}", "rating": GOOD, "comment": comment, "metadata": {"n": i}}
            assert (await _call(s, f"{base}/c{i % 50}/ratings", "POST", headers, body))[0] == 200
    receiver: Any = service.graph.receivers[next(r for r in service.graph.receivers if r.type == "sigil")]
    store: RatingStore = receiver._ratings
    print(f"\nratings store after the flood: {store.size} bytes (budget 262144); RSS {before:.0f} → {rss_mb():.0f} MB")
    assert 0 < store.size <= 256 * 1024
    assert rss_mb() - before < 200  # what the flood adds (see test_bombs.RSS_GROWTH_LIMIT_MB)


def test_byte_budget_evicts_least_recent_conversations_first() -> None:
    store = RatingStore(RatingsConfig(max_bytes=ByteSize(64 * 1024)))
    for i in range(40):
        store.add("t", Rating(id=f"r{i}", conversation_id=f"c{i}", comment="y" * 2000))
    assert store.size <= 64 * 1024
    assert store.get("t", "r0") is None and store.get("t", "r39") is not None
    # One huge conversation: its own oldest ratings go, the summary keeps counting them.
    store = RatingStore(RatingsConfig(max_bytes=ByteSize(64 * 1024)))
    for i in range(60):
        store.add("t", Rating(id=f"r{i}", conversation_id="c", comment="y" * 2000))
    assert store.size <= 64 * 1024 and store.summary("t", "c").total == 60
