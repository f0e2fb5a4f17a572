"""GET/PATCH /users/me: the learner's own profile, with server-owned fields refused."""

from __future__ import annotations

from typing import Any

import pytest

from models import User
from tests.conftest import Api

ME = "/api/v1/users/me"


async def test_me_has_the_contract_shape(api: Api) -> None:
    data = await api.register(exam="NEET")
    response = await api.client.get(ME, headers=data["auth"])
    assert response.status_code == 200
    body = response.json()
    assert {
        "id",
        "email",
        "role",
        "org_id",
        "profile",
        "preferred_provider",
        "memory",
        "created_at",
    } <= set(body)
    assert set(body["profile"]) >= {
        "display_name",
        "exam",
        "coaching",
        "grade",
        "timezone",
        "language",
    }
    assert body["profile"]["exam"] == "NEET"
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert "password" not in str(body)


async def test_patch_updates_flat_and_nested_profile_fields(api: Api) -> None:
    data = await api.register()
    response = await api.client.patch(
        ME,
        headers=data["auth"],
        json={
            "display_name": "Asha R",
            "exam": "UPSC",
            "coaching": "Vajiram",
            "timezone": "America/New_York",
            "language": "hi",
            "preferred_provider": "anthropic",
            "profile": {"grade": "12"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"] == {
        "display_name": "Asha R",
        "exam": "UPSC",
        "coaching": "Vajiram",
        "grade": "12",
        "timezone": "America/New_York",
        "language": "hi",
    }
    assert body["preferred_provider"] == "anthropic"
    cleared = await api.client.patch(ME, headers=data["auth"], json={"exam": None})
    assert cleared.json()["profile"]["exam"] is None
    assert cleared.json()["profile"]["coaching"] == "Vajiram"
    again = await api.client.get(ME, headers=data["auth"])
    assert again.json()["profile"]["timezone"] == "America/New_York"


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": "../../etc/passwd"},
        {"preferred_provider": "skynet"},
        {"role": "admin"},
        {"org_id": "65f000000000000000000000"},
        {"disabled": False},
        {"email": "new@example.com"},
        {"display_name": None},
        {"display_name": {"$set": {"role": "admin"}}},
        {"language": "english please"},
        {"exam": "x" * 81},
        {"profile": {"role": "admin"}},
    ],
)
async def test_bad_patch_is_422_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    data = await api.register()
    before = await User.get(data["user"]["id"])
    response = await api.client.patch(ME, headers=data["auth"], json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    after = await User.get(data["user"]["id"])
    assert before is not None and after is not None
    assert after.model_dump() == before.model_dump()


async def test_me_requires_a_token(api: Api) -> None:
    for method in ("GET", "PATCH"):
        response = await api.client.request(method, ME, json={} if method == "PATCH" else None)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_token"
