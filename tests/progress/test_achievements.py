"""Achievements: the shipped catalog, its idempotent sync, and exactly-once unlocks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree

import pytest
from pydantic import ValidationError

from models import Achievement, UserAchievement
from server.progress.badges import render_badge
from server.progress.catalog import AchievementSpec, Catalog, load_catalog
from tests.conftest import Api
from tests.progress.helpers import Recorder, events_of, learner, progress_of, service, spec

AT = datetime(2026, 4, 2, 6, 30, tzinfo=UTC)


def test_the_shipped_catalog_is_valid_data() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 8
    metrics = {s.criteria.metric for s in catalog}
    assert {"xp_total", "streak_current", "chat_messages", "daily_goals"} <= metrics
    for entry in catalog:
        assert entry.criteria.threshold > 0 and entry.criteria.narrative
        assert entry.image and entry.tier in ("bronze", "silver", "gold", "platinum")


async def test_every_badge_image_url_from_the_api_resolves_to_an_image(api: Api) -> None:
    """`<img src=image>` works: no token (an img tag sends none), an image type, the badge's
    own art (its name as the accessible title), and 404 in the error shape for anything else."""
    me = await api.register()
    listed = await api.client.get("/api/v1/achievements", headers=me["auth"])
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == len(load_catalog())
    for item in items:
        url = urljoin(str(api.client.base_url), item["image"])
        image = await api.client.get(url)
        assert image.status_code == 200, (item["image"], image.text)
        assert image.headers["content-type"].startswith("image/svg+xml")
        assert image.headers["x-content-type-options"] == "nosniff"
        svg = ElementTree.fromstring(image.content)  # noqa: S314 (our own output)
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        title = svg.find("{http://www.w3.org/2000/svg}title")
        assert title is not None and item["name"] in (title.text or "")
    for missing in ("/badges/nope.svg", "/badges/first_question.png", "/badges/..%2Fx.svg"):
        gone = await api.client.get(missing)
        assert gone.status_code == 404, missing
        assert gone.json()["error"]["code"] in ("badge_not_found", "not_found")


def test_a_catalog_image_must_be_a_served_badge_or_an_https_url() -> None:
    assert spec("ok", "xp_total", 1).image == "/badges/ok.svg"
    data = spec("ok", "xp_total", 1).model_dump()
    AchievementSpec.model_validate({**data, "image": "https://cdn.example.com/ok.png"})
    for image in ("/static/ok.svg", "badges/ok.svg", "http://cdn.example.com/ok.png", ""):
        with pytest.raises(ValidationError):
            AchievementSpec.model_validate({**data, "image": image})


def test_badge_art_escapes_catalog_text() -> None:
    svg = render_badge(name='<script>alert("x")</script> & Co', tier="gold")
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own output)
    assert root.find(".//{http://www.w3.org/2000/svg}script") is None
    assert "<script>" not in svg


def test_duplicate_codes_are_refused() -> None:
    try:
        Catalog([spec("same", "xp_total", 1), spec("same", "xp_total", 2)])
    except ValueError as exc:
        assert "same" in str(exc)
    else:
        raise AssertionError("a catalog with a duplicate code was accepted")


async def test_the_catalog_sync_is_idempotent(app: Any) -> None:
    shipped = [s.code for s in load_catalog()]
    before = await Achievement.find_all().to_list()
    assert [a.code for a in sorted(before, key=lambda a: a.position)] == shipped
    again = service(*load_catalog())
    await again.sync_catalog()
    after = await Achievement.find_all().to_list()
    assert sorted((a.code, a.created_at) for a in after) == sorted(
        (a.code, a.created_at) for a in before
    )
    assert [s.code for s in again.catalog] == shipped


async def test_20_concurrent_unlocks_of_one_achievement_give_one(app: Any) -> None:
    user = await learner()
    await service().award(user=user, amount=60, source="test", source_id="seed", at=AT)
    recorder = Recorder()
    progress = service(spec("sixty", "xp_total", 60, xp_reward=7), notifier=recorder)
    await asyncio.gather(*[progress.check_achievements(user=user, at=AT) for _ in range(20)])
    assert await UserAchievement.find({"user_id": user.id}).count() == 1
    rewards = await events_of(user, "achievement")
    assert [(e.source_id, e.amount) for e in rewards] == [("sixty", 7)]
    stored = await progress_of(user)
    assert stored.xp_total == 67 and stored.achievements == ["sixty"]
    unlocked = recorder.named("achievement:unlocked")
    assert len(unlocked) == 1
    assert {k: unlocked[0][k] for k in ("code", "name", "tier", "xp_reward")} == {
        "code": "sixty",
        "name": "Sixty",
        "tier": "bronze",
        "xp_reward": 7,
    }
    assert unlocked[0]["earned_at"]
    assert [e["source"] for e in recorder.named("xp:gained")] == ["achievement"]


async def test_awards_unlock_as_they_happen_and_rewards_can_chain(app: Any) -> None:
    """An award crossing a threshold unlocks at once; that badge's XP may cross the next."""
    user = await learner()
    recorder = Recorder()
    progress = service(
        spec("ten", "xp_total", 10, xp_reward=5),
        spec("fifteen", "xp_total", 15, xp_reward=1),
        spec("level_two", "level", 2),
        notifier=recorder,
    )
    await progress.award(user=user, amount=10, source="test", source_id="a", at=AT)
    assert [e["code"] for e in recorder.named("achievement:unlocked")] == ["ten", "fifteen"]
    assert (await progress_of(user)).xp_total == 16
    await progress.award(user=user, amount=84, source="test", source_id="b", at=AT)
    assert (await progress_of(user)).achievements == ["ten", "fifteen", "level_two"]
    listed = await progress.achievements_for(user=user)
    assert [(i.code, i.earned_at is not None) for i in listed.items] == [
        ("ten", True),
        ("fifteen", True),
        ("level_two", True),
    ]


async def test_stored_entries_are_adopted_unless_this_version_cannot_evaluate_them(
    app: Any,
) -> None:
    collection = Achievement.get_pymongo_collection()
    seeded = spec("seeded", "chat_messages", 3).model_dump() | {"position": 100}
    future = spec("future", "xp_total", 1).model_dump() | {"position": 101}
    future["criteria"]["metric"] = "essays_written"  # a metric only a newer version knows
    await collection.insert_many([seeded, future])
    try:
        progress = service(*load_catalog())
        await progress.sync_catalog()
        codes = [s.code for s in progress.catalog]
        assert codes == [*(s.code for s in load_catalog()), "seeded"]
    finally:
        await collection.delete_many({"code": {"$in": ["seeded", "future"]}})
