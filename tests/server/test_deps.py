"""The one reusable role check."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from fastapi import Depends

from models import User
from server.deps import require_role
from server.users import service as users_service
from tests.conftest import Api


async def test_require_role_allows_listed_roles_only(api: Api, app: Any) -> None:
    async def mentors_area(user: User = Depends(require_role("mentor", "admin"))) -> dict[str, str]:  # noqa: B008
        return {"role": user.role}

    app.add_api_route("/api/v1/_test/mentors", mentors_area)
    learner = await api.register()
    denied = await api.client.get("/api/v1/_test/mentors", headers=learner["auth"])
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    await User.find_one(User.id == PydanticObjectId(learner["user"]["id"])).update(
        {"$set": {"role": "mentor"}}
    )
    # Written behind the service's back: announce it, as the service's own writes do.
    await users_service.account_changed(user_id=PydanticObjectId(learner["user"]["id"]))
    allowed = await api.client.get("/api/v1/_test/mentors", headers=learner["auth"])
    assert allowed.status_code == 200 and allowed.json() == {"role": "mentor"}
    anonymous = await api.client.get("/api/v1/_test/mentors")
    assert anonymous.status_code == 401
