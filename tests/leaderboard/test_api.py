"""GET /leaderboard through the API, with Redis as in production: shape, scopes, validation,
and 404 for a group the caller cannot see."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import PydanticObjectId

from models import User
from server.config import Settings
from tests.conftest import Api, make_settings

BASE = "/api/v1"


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"), redis_url=redis_url)


async def _user(api: Api, name: str, role: str = "learner") -> dict[str, Any]:
    me = await api.register(display_name=name)
    if role != "learner":
        await User.find_one(User.id == PydanticObjectId(me["user"]["id"])).update(
            {"$set": {"role": role}}
        )
    return me


async def _earn(app: Any, me: dict[str, Any], amount: int) -> None:
    user = await User.get(PydanticObjectId(me["user"]["id"]))
    assert user is not None
    award = await app.state.ctx.progress.award(
        user=user, amount=amount, source="test", source_id="api"
    )
    assert award is not None


async def test_the_org_board_ranks_learners_with_their_names(api: Api, app: Any) -> None:
    # Every registration joins the default organization; this module has its own database.
    ravi, meera, arjun = [await _user(api, n) for n in ("Ravi", "Meera", "Arjun")]
    await _earn(app, ravi, 12)
    await _earn(app, meera, 30)
    response = await api.client.get(f"{BASE}/leaderboard", headers=arjun["auth"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scope"], body["period"], body["group_id"]) == ("org", "week", None)
    assert body["week"].startswith("20") and "-W" in body["week"]
    assert body["items"] == [
        {"rank": 1, "user_id": meera["user"]["id"], "display_name": "Meera", "xp": 30},
        {"rank": 2, "user_id": ravi["user"]["id"], "display_name": "Ravi", "xp": 12},
    ]
    assert body["me"] == {"rank": 3, "xp": 0}
    explicit = await api.client.get(
        f"{BASE}/leaderboard?scope=org&period=week&limit=1", headers=ravi["auth"]
    )
    assert explicit.json()["items"][0]["display_name"] == "Meera"
    assert explicit.json()["me"] == {"rank": 2, "xp": 12}


@pytest.mark.parametrize(
    "query",
    [
        "scope=world",
        "period=month",
        "period=",
        "scope=group",  # which group?
        "week=2026-47",
        "week=2024-W99",  # issue 14: weeks that do not exist were an empty 200 board
        "week=2024-W00",
        "week=2025-W53",  # 2025 has 52 ISO weeks
        "week=%E0%A5%A8%E0%A5%A6%E0%A5%A8%E0%A5%AA-W01",  # Devanagari digits: २०२४-W01
        "week=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-W01",  # full-width digits: ２０２４-W01
        "limit=0",
        "limit=101",
    ],
)
async def test_bad_queries_are_422(api: Api, query: str) -> None:
    me = await _user(api, "Asha")
    response = await api.client.get(f"{BASE}/leaderboard?{query}", headers=me["auth"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_the_last_week_depends_on_the_year(api: Api) -> None:
    # 2026 and 2020 are long ISO years (53 weeks), 2025 is not: W53 exists only in the former.
    me = await _user(api, "Kiran")
    for week in ("2026-W01", "2026-W53", "2020-W53"):
        response = await api.client.get(f"{BASE}/leaderboard?week={week}", headers=me["auth"])
        assert response.status_code == 200, response.text
        assert response.json()["week"] == week
    response = await api.client.get(f"{BASE}/leaderboard?week=2025-W53", headers=me["auth"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["fields"][0]["field"] == "query.week"


async def test_a_token_is_required(api: Api) -> None:
    response = await api.client.get(f"{BASE}/leaderboard")
    assert response.status_code == 401


async def test_a_group_board_lists_its_members_and_hides_from_others(api: Api, app: Any) -> None:
    mentor = await _user(api, "Mentor", role="mentor")
    created = await api.client.post(
        f"{BASE}/groups", json={"name": "NEET batch"}, headers=mentor["auth"]
    )
    group = created.json()
    learner, outsider = await _user(api, "Kabir"), await _user(api, "Zoya")
    joined = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=learner["auth"]
    )
    assert joined.status_code == 200
    await _earn(app, learner, 8)
    await _earn(app, outsider, 99)  # same organization, not in the group

    url = f"{BASE}/leaderboard?scope=group&group_id={group['id']}"
    response = await api.client.get(url, headers=learner["auth"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "group" and body["group_id"] == group["id"]
    assert [(e["rank"], e["display_name"], e["xp"]) for e in body["items"]] == [
        (1, "Kabir", 8),
        (2, "Mentor", 0),
    ]
    assert body["me"] == {"rank": 1, "xp": 8}
    for who, gid in (
        (outsider, group["id"]),
        (learner, "nope"),
        (learner, '{"$ne": null}'),
        (learner, str(PydanticObjectId())),
    ):
        hidden = await api.client.get(
            f"{BASE}/leaderboard?scope=group&group_id={gid}", headers=who["auth"]
        )
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["error"]["code"] == "group_not_found"
