"""Conversations: CRUD, cursor pages, messages pages, and 404 for anything not the caller's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import Conversation, Message, Organization
from models.common import utcnow
from tests.conftest import Api

BASE = "/api/v1/conversations"


async def _create(api: Api, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await api.client.post(BASE, headers=auth, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_get_and_shape(api: Api) -> None:
    user = await api.register()
    created = await _create(api, user["auth"], title="Rotational motion", subject="physics")
    assert set(created) >= {
        "id",
        "title",
        "subject",
        "archived",
        "pinned",
        "created_at",
        "updated_at",
        "last_message_at",
        "message_count",
    }
    assert created["title"] == "Rotational motion" and created["subject"] == "physics"
    assert created["archived"] is False and created["pinned"] is False
    assert created["message_count"] == 0 and created["last_message_at"] is None
    fetched = await api.client.get(f"{BASE}/{created['id']}", headers=user["auth"])
    assert fetched.status_code == 200 and fetched.json() == created
    untitled = await _create(api, user["auth"])
    assert untitled["title"] is None
    stored = await Conversation.get(created["id"])
    assert stored is not None and stored.title_set_by_user is True


async def test_list_is_newest_first_with_cursor_pages(api: Api) -> None:
    user = await api.register()
    ids = [(await _create(api, user["auth"], title=f"c{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get(BASE, headers=user["auth"], params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_list_filters_archived_and_rejects_bad_params(api: Api) -> None:
    user = await api.register()
    keep = await _create(api, user["auth"], title="keep")
    old = await _create(api, user["auth"], title="old")
    await api.client.patch(f"{BASE}/{old['id']}", headers=user["auth"], json={"archived": True})
    active = await api.client.get(BASE, headers=user["auth"], params={"archived": "false"})
    assert [c["id"] for c in active.json()["items"]] == [keep["id"]]
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "garbage!!"}):
        response = await api.client.get(BASE, headers=user["auth"], params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] in {"validation_error", "invalid_cursor"}


async def test_patch_renames_archives_and_pins(api: Api) -> None:
    user = await api.register()
    conv = await _create(api, user["auth"])
    response = await api.client.patch(
        f"{BASE}/{conv['id']}",
        headers=user["auth"],
        json={"title": "Organic chemistry", "archived": True, "pinned": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["archived"], body["pinned"]) == ("Organic chemistry", True, True)
    assert body["updated_at"] >= conv["updated_at"]
    stored = await Conversation.get(conv["id"])
    assert stored is not None and stored.title_set_by_user is True


@pytest.mark.parametrize(
    "body",
    [
        {"archived": "yes"},
        {"pinned": 1},
        {"title": ""},
        {"title": "t" * 201},
        {"title": {"$ne": None}},
        {"user_id": "65f000000000000000000000"},
        {"message_count": 99},
    ],
)
async def test_bad_patch_is_422_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    user = await api.register()
    conv = await _create(api, user["auth"], title="same")
    response = await api.client.patch(f"{BASE}/{conv['id']}", headers=user["auth"], json=body)
    assert response.status_code == 422
    stored = await Conversation.get(conv["id"])
    assert stored is not None
    assert (stored.title, stored.archived, stored.pinned, stored.message_count) == (
        "same",
        False,
        False,
        0,
    )


async def _add_messages(conversation_id: str, count: int) -> list[str]:
    start = utcnow() - timedelta(minutes=count)
    ids = []
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        msg = await Message(
            conversation_id=PydanticObjectId(conversation_id),
            role=role,
            content=f"m{i}",
            client_message_id=f"c{i}" if role == "user" else None,
            created_at=start + timedelta(seconds=i),
        ).insert()
        ids.append(str(msg.id))
    return ids


async def test_messages_pages_go_back_in_time_oldest_first_within_a_page(api: Api) -> None:
    user = await api.register()
    conv = await _create(api, user["auth"])
    ids = await _add_messages(conv["id"], 5)
    url = f"{BASE}/{conv['id']}/messages"
    first = (await api.client.get(url, headers=user["auth"], params={"limit": 2})).json()
    assert [m["id"] for m in first["items"]] == ids[3:5]
    second = (
        await api.client.get(
            url, headers=user["auth"], params={"limit": 2, "before": first["next_cursor"]}
        )
    ).json()
    assert [m["id"] for m in second["items"]] == ids[1:3]
    last = (
        await api.client.get(
            url, headers=user["auth"], params={"limit": 2, "before": second["next_cursor"]}
        )
    ).json()
    assert [m["id"] for m in last["items"]] == ids[0:1] and last["next_cursor"] is None
    message = first["items"][0]
    assert set(message) >= {
        "id",
        "conversation_id",
        "role",
        "content",
        "status",
        "client_message_id",
        "parent_id",
        "author_id",
        "provider",
        "model",
        "usage",
        "topics",
        "error",
        "created_at",
    }
    assert message["topics"] == [] and message["status"] == "complete"
    empty = await _create(api, user["auth"])
    response = await api.client.get(f"{BASE}/{empty['id']}/messages", headers=user["auth"])
    assert response.json() == {"items": [], "next_cursor": None}


async def test_messages_page_back_with_the_generic_cursor_parameter(api: Api) -> None:
    """Clients generic over `{items, next_cursor}` send `cursor`; it pages like `before`."""
    user = await api.register()
    conv = await _create(api, user["auth"])
    ids = await _add_messages(conv["id"], 7)
    url = f"{BASE}/{conv['id']}/messages"
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(5):  # bounded: a route ignoring `cursor` would repeat the first page
        page = (await api.client.get(url, headers=user["auth"], params=params)).json()
        pages.append([m["id"] for m in page["items"]])
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert pages == [ids[4:7], ids[1:4], ids[0:1]]
    first = (await api.client.get(url, headers=user["auth"], params={"limit": 3})).json()
    same = {"limit": 3, "cursor": first["next_cursor"], "before": first["next_cursor"]}
    both = await api.client.get(url, headers=user["auth"], params=same)
    assert [m["id"] for m in both.json()["items"]] == ids[1:4]
    other = (
        await api.client.get(
            url, headers=user["auth"], params={"limit": 1, "cursor": first["next_cursor"]}
        )
    ).json()["next_cursor"]
    conflicting = await api.client.get(
        url, headers=user["auth"], params={"cursor": first["next_cursor"], "before": other}
    )
    assert conflicting.status_code == 422
    assert conflicting.json()["error"]["code"] == "conflicting_cursors"
    garbage = await api.client.get(url, headers=user["auth"], params={"cursor": "not-a-cursor"})
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "invalid_cursor"


async def test_delete_removes_the_conversation_and_its_messages(api: Api) -> None:
    user = await api.register()
    conv = await _create(api, user["auth"])
    other = await _create(api, user["auth"])
    await _add_messages(conv["id"], 3)
    await _add_messages(other["id"], 2)
    response = await api.client.delete(f"{BASE}/{conv['id']}", headers=user["auth"])
    assert response.status_code == 204
    assert (await api.client.get(f"{BASE}/{conv['id']}", headers=user["auth"])).status_code == 404
    assert await Message.find(Message.conversation_id == PydanticObjectId(conv["id"])).count() == 0
    assert await Message.find(Message.conversation_id == PydanticObjectId(other["id"])).count() == 2


async def test_other_users_and_other_orgs_get_404_on_every_verb(api: Api) -> None:
    owner = await api.register()
    stranger = await api.register()
    await Organization(name="Other", slug="other-org").insert()
    outsider = await api.register(org_slug="other-org")
    conv = await _create(api, owner["auth"], title="mine")
    await _add_messages(conv["id"], 2)
    cid = conv["id"]
    for intruder in (stranger, outsider):
        calls = [
            api.client.get(f"{BASE}/{cid}", headers=intruder["auth"]),
            api.client.patch(f"{BASE}/{cid}", headers=intruder["auth"], json={"title": "x"}),
            api.client.delete(f"{BASE}/{cid}", headers=intruder["auth"]),
            api.client.get(f"{BASE}/{cid}/messages", headers=intruder["auth"]),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "conversation_not_found"
        listed = await api.client.get(BASE, headers=intruder["auth"])
        assert cid not in [c["id"] for c in listed.json()["items"]]
    stored = await Conversation.get(cid)
    assert stored is not None and stored.title == "mine"
    for bad_id in ("not-an-id", "65f000000000000000000000"):
        response = await api.client.get(f"{BASE}/{bad_id}", headers=owner["auth"])
        assert response.status_code == 404


async def test_conversations_require_a_token(api: Api) -> None:
    assert (await api.client.get(BASE)).status_code == 401
    assert (await api.client.post(BASE, json={})).status_code == 401
