"""Cited answers: a reply grounded in the learner's own documents (then the shipped notes)
carries `citations` in the 201 answer, in `assistant:end` and in the stored message, and
another learner's personal documents are never cited."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import PydanticObjectId

from server.chat.grounding import Grounded
from server.config import Settings
from tests.ai_router.fakes import Behaviour, FakeVendors
from tests.chat.conftest import ChatSession
from tests.chat.helpers import message_body, new_conversation, parse_sse
from tests.conftest import Api, make_settings, vendor_settings
from tests.library.helpers import make_pdf, upload, wait_processed

NEWTON = [
    ["Chapter 5: Laws of Motion", "Newton's first law: a body stays at rest unless a force acts."],
    [
        "Newton's third law of motion",
        "To every action there is an equal and opposite reaction.",
        "The forces act on different bodies, so they never cancel each other.",
    ],
]
QUESTION = "Explain Newton's third law"


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory, fake_server: FakeVendors
) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="openai,offline",
        chat_rate_limit="1000/minute",
        **vendor_settings(fake_server),
    )


async def _ready_pdf(api: Api, who: dict[str, Any], pages: list[list[str]], **form: str) -> str:
    form.setdefault("title", "Physics coaching notes")
    response = await upload(api, who, make_pdf(pages), **form)
    assert response.status_code in (200, 202), response.text
    document = await wait_processed(api, who, response.json()["id"])
    assert document["status"] == "ready", document
    return str(document["id"])


async def test_reply_cites_the_learners_pdf_page_first(api: Api, convo: ChatSession) -> None:
    document_id = await _ready_pdf(api, convo.me, NEWTON)
    response = await convo.send(message_body(QUESTION, provider="offline"))
    assert response.status_code == 201, response.text
    reply = response.json()["assistant_message"]
    first = reply["citations"][0]
    assert first["n"] == 1 and first["document_id"] == document_id and first["page"] == 2
    assert first["title"] == "Physics coaching notes" and "different bodies" in first["quote"]
    assert "From your notes:" in reply["content"] and "[1]" in reply["content"]
    assert reply["content"].index("[1]") < reply["content"].index("Worked example")
    shipped = [c for c in reply["citations"] if c["document_id"] is None]
    assert shipped and all(c["title"].startswith("StarGuide notes: ") for c in shipped)
    # The stored message and the SSE end carry the same citations.
    listed = await api.client.get(convo.messages_url, headers=convo.auth)
    assert listed.json()["items"][-1]["citations"] == reply["citations"]
    stream = await convo.send(message_body(QUESTION, provider="offline"), sse=True)
    end = parse_sse(stream.text).named("assistant:end")[0]
    assert end["citations"][0]["document_id"] == document_id


async def test_another_learners_document_is_never_cited(api: Api) -> None:
    owner = await api.register()
    secret = [["Secret mnemonic page", "Zebra quokka mnemonic: third law pairs act on two bodies."]]
    document_id = await _ready_pdf(api, owner, secret)
    other = await api.register()
    conv = await new_conversation(api.client, other["auth"])
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body(
            "Explain the zebra quokka mnemonic for the third law", provider="offline"
        ),
        headers=other["auth"],
    )
    reply = response.json()["assistant_message"]
    assert all(c["document_id"] != document_id for c in reply["citations"])
    assert "quokka mnemonic:" not in reply["content"].lower()


async def test_a_group_conversation_never_quotes_a_members_personal_notes(api: Api) -> None:
    from models import User

    mentor = await api.register()
    await User.find_one(User.id == PydanticObjectId(mentor["user"]["id"])).update(
        {"$set": {"role": "mentor"}}
    )
    group = await api.client.post("/api/v1/groups", json={"name": "B"}, headers=mentor["auth"])
    member = await api.register()
    joined = await api.client.post(
        "/api/v1/groups/join",
        json={"invite_code": group.json()["invite_code"]},
        headers=member["auth"],
    )
    assert joined.status_code == 200
    document_id = await _ready_pdf(api, member, NEWTON)
    sent = await api.client.post(
        f"/api/v1/conversations/{group.json()['conversation_id']}/messages",
        json=message_body(QUESTION, provider="offline"),
        headers=member["auth"],
    )
    reply = sent.json()["assistant_message"]
    assert reply["citations"] and all(c["document_id"] is None for c in reply["citations"])
    assert document_id not in str(reply)


async def _group_with_member(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A mentor's group (its JSON) and a learner who joined it."""
    from models import User

    mentor = await api.register()
    await User.find_one(User.id == PydanticObjectId(mentor["user"]["id"])).update(
        {"$set": {"role": "mentor"}}
    )
    group = await api.client.post("/api/v1/groups", json={"name": "G"}, headers=mentor["auth"])
    assert group.status_code == 201, group.text
    member = await api.register()
    joined = await api.client.post(
        "/api/v1/groups/join",
        json={"invite_code": group.json()["invite_code"]},
        headers=member["auth"],
    )
    assert joined.status_code == 200, joined.text
    return mentor, group.json(), member


async def test_a_group_conversation_cites_the_groups_shared_documents(api: Api) -> None:
    mentor, group, member = await _group_with_member(api)
    shared = await _ready_pdf(
        api, mentor, NEWTON, title="Group handout", scope=f"group:{group['id']}"
    )
    private = await _ready_pdf(
        api, mentor, [["Mentor's own draft", "Third law pairs: action and reaction forces."]]
    )
    sent = await api.client.post(
        f"/api/v1/conversations/{group['conversation_id']}/messages",
        json=message_body(QUESTION, provider="offline"),
        headers=member["auth"],
    )
    assert sent.status_code == 201, sent.text
    reply = sent.json()["assistant_message"]
    first = reply["citations"][0]
    assert first["document_id"] == shared and first["title"] == "Group handout"
    assert first["page"] == 2 and "[1]" in reply["content"]
    # The mentor's personal draft stays out of the group's conversation, even for the mentor.
    asked = await api.client.post(
        f"/api/v1/conversations/{group['conversation_id']}/messages",
        json=message_body("Explain third law pairs of action and reaction", provider="offline"),
        headers=mentor["auth"],
    )
    assert asked.status_code == 201, asked.text
    assert private not in str(asked.json()["assistant_message"])


DECOYS = [
    "Kepler's third law: from Newton's law of gravitation, the square of the period is "
    "proportional to the cube of the orbit radius.",
    "Newton's law of cooling: the rate of cooling of a body is proportional to the "
    "temperature difference, a third of it in the first minute.",
    "Newton's rings appear in the third experiment on thin films: the law of interference "
    "of light decides the dark rings.",
]
WALL = (
    "Action and reaction: when you push a wall, the wall pushes back on you with an equal "
    "force in the opposite direction."
)


async def test_a_weak_topic_pulls_the_learners_notes_on_it_first(
    api: Api, fakes: FakeVendors
) -> None:
    from models import TopicRef
    from server.memory import service as memory

    me = await api.register()
    for i, text in enumerate(DECOYS):
        response = await upload(api, me, text.encode(), filename="n.txt", title=f"Decoy {i}")
        await wait_processed(api, me, response.json()["id"])
    response = await upload(api, me, WALL.encode(), filename="n.txt", title="Wall notes")
    await wait_processed(api, me, response.json()["id"])
    conv = await new_conversation(api.client, me["auth"])

    async def passages() -> str:
        """The passages the vendor was given, in their numbered order."""
        fakes.script("openai", Behaviour(chunks=("Pairs [1].",)))
        sent = await api.client.post(
            f"/api/v1/conversations/{conv}/messages",
            json=message_body(QUESTION, provider="openai"),
            headers=me["auth"],
        )
        assert sent.status_code == 201, sent.text
        system: str = fakes.bodies("openai")[-1]["messages"][0]["content"]
        return system

    # Newton, third and law: the decoys share the question's words and fill the library's
    # three places on their own.
    assert "Wall notes" not in await passages()
    topic = TopicRef(id="physics.laws_of_motion", name="Laws of motion", subject="physics")
    await memory.signal(PydanticObjectId(me["user"]["id"]), topic, "declared", reason="test")
    # Now a weak topic: the learner's passage tagged with it comes first.
    assert "[1] Wall notes" in await passages()


async def test_a_vendor_reply_keeps_only_what_it_cites(
    api: Api, convo: ChatSession, fakes: FakeVendors
) -> None:
    fakes.script("openai", Behaviour(chunks=("Forces ", "come ", "in ", "pairs ", "[1]. ")))
    response = await convo.send(
        message_body("Explain Newton's third law of motion", provider="openai"), sse=True
    )
    end = parse_sse(response.text).named("assistant:end")[0]
    assert [c["n"] for c in end["citations"]] == [1]
    system = fakes.bodies("openai")[-1]["messages"][0]["content"]
    assert "cite them as [n]" in system and "[1] StarGuide notes: Newton's laws" in system


async def test_practice_request_gets_a_bank_question(convo: ChatSession) -> None:
    response = await convo.send(
        message_body("Give me a practice question on projectile motion", provider="offline"),
        sse=False,
    )
    text = response.json()["assistant_message"]["content"]
    assert "StarGuide question bank" in text and "\nA) " in text and "\nD) " in text


def test_citations_keep_only_numbers_the_text_uses() -> None:
    from models.message import Citation

    grounded = Grounded(
        sources=(Citation(n=1, title="a", quote="x"), Citation(n=2, title="b", quote="y"))
    )
    assert [c.n for c in grounded.cited("see [2] and [7]")] == [2]
    assert grounded.cited("no markers") == []
