"""A learner with something of everything, built through the real API, and a deep search of
what the database and Redis still hold about someone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from redis.asyncio import Redis

from models import DOCUMENT_MODELS, AuditLog, Message, Question, User
from server.users import service as users_service
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api

BASE = "/api/v1"


@dataclass
class Learner:
    me: dict[str, Any]
    email: str
    marker: str  # in every message the learner sends: a trace of their content
    private_conversations: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)  # theirs and the replies to them

    @property
    def id(self) -> str:
        return str(self.me["user"]["id"])

    @property
    def auth(self) -> dict[str, str]:
        return dict(self.me["auth"])


@dataclass
class Scene:
    learner: Learner
    other: Learner
    mentor: dict[str, Any]
    group: dict[str, Any]


async def set_role(me: dict[str, Any], role: str) -> None:
    await User.find_one(User.id == PydanticObjectId(me["user"]["id"])).update(
        {"$set": {"role": role}}
    )
    # Written behind the service's back: announce it, as the service's own writes do.
    await users_service.account_changed(user_id=PydanticObjectId(me["user"]["id"]))


async def new_learner(api: Api, name: str) -> Learner:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    me = await api.register(email=email, display_name=name, exam="JEE")
    return Learner(me=me, email=email, marker=f"mark{uuid.uuid4().hex[:12]}")


async def make_group(api: Api, mentor: dict[str, Any], name: str = "JEE batch") -> dict[str, Any]:
    response = await api.client.post(f"{BASE}/groups", json={"name": name}, headers=mentor["auth"])
    assert response.status_code == 201, response.text
    return dict(response.json())


async def join(api: Api, auth: dict[str, str], group: dict[str, Any]) -> None:
    response = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=auth
    )
    assert response.status_code == 200, response.text


async def send(api: Api, learner: Learner, conversation_id: str, text: str) -> dict[str, Any]:
    """A JSON send with the offline mentor: answers once the reply has ended."""
    response = await api.client.post(
        f"{BASE}/conversations/{conversation_id}/messages",
        json=message_body(f"{text} {learner.marker}", provider="offline"),
        headers=learner.auth,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    learner.message_ids += [body["user_message"]["id"], body["assistant_message"]["id"]]
    assert body["assistant_message"]["status"] == "complete"
    return body


async def answer_quiz(api: Api, learner: Learner, *, right: bool) -> None:
    response = await api.client.get(f"{BASE}/quiz/next", headers=learner.auth)
    assert response.status_code == 200, response.text
    question = await Question.get(PydanticObjectId(response.json()["question"]["id"]))
    assert question is not None
    option = question.answer if right else (question.answer + 1) % len(question.options)
    answer = await api.client.post(
        f"{BASE}/quiz/attempts",
        json={"question_id": str(question.id), "option": option},
        headers=learner.auth,
    )
    assert answer.status_code == 201, answer.text


async def scene(api: Api, app: Any) -> Scene:
    """A mentor's group with two learners; `learner` also has two conversations of their own,
    quiz answers, XP, a badge and learner memory; `other` chats in the group first."""
    mentor = await api.register(display_name="Mentor")
    await set_role(mentor, "mentor")
    group = await make_group(api, mentor)
    learner, other = await new_learner(api, "Asha"), await new_learner(api, "Ravi")
    for who in (learner, other):
        await join(api, who.auth, group)
    await send(api, other, group["conversation_id"], "What is a vector?")
    for text in ("I don't understand vectors at all", "What is the mole concept?"):
        conversation = await new_conversation(api.client, learner.auth)
        learner.private_conversations.append(conversation)
        await send(api, learner, conversation, text)
    await send(api, learner, group["conversation_id"], "Explain projectile motion please")
    await answer_quiz(api, learner, right=True)
    await answer_quiz(api, learner, right=False)
    await app.state.ctx.progress.drain()
    return Scene(learner, other, mentor, group)


# ---- searching for traces -------------------------------------------------------------------
def walk(value: Any) -> Iterator[Any]:
    """Every leaf of a stored document (dict keys too: a user id can be a key)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)
    else:
        yield value


def is_trace(value: Any, ids: set[ObjectId], strings: set[str]) -> bool:
    if isinstance(value, ObjectId):
        return value in ids
    if isinstance(value, str):
        return any(s in value for s in strings)
    return False


async def traces_in_mongo(
    ids: set[ObjectId], strings: set[str], *, skip: tuple[type[Any], ...] = (AuditLog,)
) -> dict[str, list[Any]]:
    """Documents of every collection `init_beanie` knows (so a new one is searched too) that
    hold one of `ids` or contain one of `strings`, by collection."""
    found: dict[str, list[Any]] = {}
    for model in DOCUMENT_MODELS:
        if model in skip:
            continue
        async for raw in model.get_pymongo_collection().find({}):
            if any(is_trace(v, ids, strings) for v in walk(raw)):
                found.setdefault(model.get_collection_name(), []).append(raw["_id"])
    return found


async def traces_in_redis(redis: Redis, user_id: str, message_ids: list[str]) -> list[str]:
    """Keys naming the user, sorted-set members that are the user (leaderboards, presence),
    and replay streams of their replies."""
    found: list[str] = []
    async for raw_key in redis.scan_iter(count=500):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        if user_id in key or any(m in key for m in message_ids):
            found.append(key)
        elif await redis.type(key) in (b"zset", "zset"):
            members: list[Any] = await redis.zrange(key, 0, -1)  # type: ignore[assignment]
            texts = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
            if any(t == user_id or t.startswith(f"{user_id}|") for t in texts):
                found.append(f"{key} (member)")
    return found


async def eventually(check: Any, timeout_s: float = 3.0) -> bool:
    """Polls an async predicate: the gateway writes replay streams from its own tasks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if await check():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)


async def messages_of(user_id: str) -> list[Message]:
    return await Message.find({"author_id": PydanticObjectId(user_id)}).to_list()
