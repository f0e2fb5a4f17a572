"""Two instances behind one Redis and one database: the per-process caches of accounts and
organizations (server/lookups.py) are invalidated on every instance by a write on any one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.realtime.conftest import ServerProcess, register, set_role

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def pair(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    db = f"t_{uuid.uuid4().hex[:12]}"
    env = {"REDIS_URL": redis_url}
    a = ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path_factory.mktemp("a"), **env)
    b = ServerProcess(mongo_url=mongo_url, db=db, data_dir=tmp_path_factory.mktemp("b"), **env)
    await asyncio.gather(a.start(), b.start())
    yield a, b
    await asyncio.gather(a.stop(), b.stop())


async def test_account_changes_on_one_instance_are_seen_on_the_other_at_once(
    pair: tuple[ServerProcess, ServerProcess], mongo_url: str
) -> None:
    a, b = pair
    admin, learner, other = await register(a), await register(a), await register(a)
    await set_role(a, mongo_url, admin.id, "admin")  # before the admin's first request
    async with a.rest() as on_a, b.rest() as on_b:
        for who in (learner, other):  # both accounts are now in B's cache
            me = await on_b.get("/users/me", headers=who.headers)
            assert me.status_code == 200 and me.json()["role"] == "learner"
        # B answers from its cache: a write behind the services' back is not seen there...
        await set_role(a, mongo_url, other.id, "mentor")
        assert (await on_b.get("/users/me", headers=other.headers)).json()["role"] == "learner"
        # ...while every write through the services on A reaches B before A answers.
        assert (await on_b.get("/admin/users", headers=learner.headers)).status_code == 403
        promoted = await on_a.patch(
            f"/admin/users/{learner.id}", json={"role": "admin"}, headers=admin.headers
        )
        assert promoted.status_code == 200, promoted.text
        assert (await on_b.get("/users/me", headers=learner.headers)).json()["role"] == "admin"
        assert (await on_b.get("/admin/users", headers=learner.headers)).status_code == 200

        renamed = await on_a.patch(
            "/users/me", json={"display_name": "Meera"}, headers=learner.headers
        )
        assert renamed.status_code == 200, renamed.text
        me = await on_b.get("/users/me", headers=learner.headers)
        assert me.json()["profile"]["display_name"] == "Meera"

        disabled = await on_a.patch(
            f"/admin/users/{learner.id}", json={"disabled": True}, headers=admin.headers
        )
        assert disabled.status_code == 200, disabled.text
        assert (await on_b.get("/users/me", headers=learner.headers)).status_code == 401


async def test_an_organization_change_on_one_instance_applies_to_the_next_send_on_the_other(
    pair: tuple[ServerProcess, ServerProcess], mongo_url: str
) -> None:
    a, b = pair
    admin, learner = await register(a), await register(a)
    await set_role(a, mongo_url, admin.id, "admin")
    conversation = await learner.conversation()
    url = f"/conversations/{conversation}/messages"
    async with a.rest() as on_a, b.rest() as on_b:
        org_id = (await on_a.get("/users/me", headers=admin.headers)).json()["org_id"]
        sent = await on_b.post(
            url,
            json={"content": "What is inertia?", "client_message_id": "m1", "provider": "offline"},
            headers=learner.headers,
        )
        assert sent.status_code == 201, sent.text  # B has the organization cached now
        limited = await on_a.patch(
            f"/admin/orgs/{org_id}", json={"allowed_providers": ["openai"]}, headers=admin.headers
        )
        assert limited.status_code == 200, limited.text
        try:
            refused = await on_b.post(
                url,
                json={"content": "And momentum?", "client_message_id": "m2", "provider": "offline"},
                headers=learner.headers,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "provider_not_allowed"
        finally:
            restored = await on_a.patch(
                f"/admin/orgs/{org_id}", json={"allowed_providers": None}, headers=admin.headers
            )
            assert restored.status_code == 200, restored.text
        again = await on_b.post(
            url,
            json={"content": "And momentum?", "client_message_id": "m3", "provider": "offline"},
            headers=learner.headers,
        )
        assert again.status_code == 201, again.text
