"""A small world for the admin tests: two organizations, every role in each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from models import User
from server.users import service as users_service
from tests.conftest import Api

BASE = "/api/v1"


async def set_role(account: dict[str, Any], role: str) -> dict[str, Any]:
    """Straight in the database: the tests of PATCH /admin/users must not depend on it."""
    await User.find_one(User.id == PydanticObjectId(account["user"]["id"])).update(
        {"$set": {"role": role}}
    )
    # Written behind the service's back: announce it, as the service's own writes do.
    await users_service.account_changed(user_id=PydanticObjectId(account["user"]["id"]))
    account["user"]["role"] = role
    return account


@dataclass
class World:
    root: dict[str, Any]  # admin of the default organization: every organization
    learner: dict[str, Any]  # default organization
    mentor: dict[str, Any]  # default organization
    north: dict[str, Any]  # a second organization, as the API returns it
    north_admin: dict[str, Any]
    north_mentor: dict[str, Any]
    north_learner: dict[str, Any]

    def id(self, name: str) -> str:
        account: dict[str, Any] = getattr(self, name)
        return str(account["user"]["id"])


async def build_world(api: Api, slug: str) -> World:
    root = await set_role(await api.register(display_name="Root Admin"), "admin")
    created = await api.client.post(
        f"{BASE}/admin/orgs",
        json={"name": f"North Academy {slug}", "slug": slug},
        headers=root["auth"],
    )
    assert created.status_code == 201, created.text
    return World(
        root=root,
        learner=await api.register(display_name="Kiran Learner"),
        mentor=await set_role(await api.register(display_name="Meera Mentor"), "mentor"),
        north=created.json(),
        north_admin=await set_role(await api.register(org_slug=slug), "admin"),
        north_mentor=await set_role(await api.register(org_slug=slug), "mentor"),
        north_learner=await api.register(org_slug=slug, display_name="Nikhil North"),
    )
