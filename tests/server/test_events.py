"""server/events.py and docs/asyncapi.yaml describe the same events: every event the code
defines is documented under the same name, in the same direction, with the same fields, and
the documentation lists no event the code does not define."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from beanie import PydanticObjectId

from models import Message, MessageError, Usage
from server.conversations.schemas import MessagePublic
from server.events import (
    CLIENT_EVENTS,
    SERVER_EVENTS,
    AchievementUnlocked,
    AssistantEnd,
    AssistantError,
    AssistantToken,
    MessageNew,
    ServerEvent,
    parse_event,
)

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
# Not an event: the Socket.IO CONNECT_ERROR packet, documented for clients alongside them.
PACKETS = {"connect_error"}


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text())
    return loaded


def _deref(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    while isinstance(node, dict) and "$ref" in node:
        node = _deref(document, node["$ref"])
    assert isinstance(node, dict)
    return node


def _documented(action: str) -> dict[str, dict[str, Any]]:
    """Event name -> payload schema, for the operations of one direction (`send`: server to
    client, `receive`: client to server)."""
    document = _document()
    found: dict[str, dict[str, Any]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        for ref in operation["messages"]:
            message = _deref(document, ref["$ref"])
            found[message["name"]] = _deref(document, message["payload"]["$ref"])
    return found


def _payload_fields(model: type[ServerEvent]) -> set[str]:
    if model is MessageNew:
        return set(MessagePublic.model_fields)
    return {field.alias or name for name, field in model.model_fields.items()}


def test_every_server_event_is_documented_under_its_name() -> None:
    documented = _documented("send")
    assert set(SERVER_EVENTS) == set(documented) - PACKETS


def test_every_client_event_is_documented_under_its_name() -> None:
    assert set(CLIENT_EVENTS) == set(_documented("receive"))


@pytest.mark.parametrize("name", sorted(SERVER_EVENTS))
def test_a_server_event_sends_the_documented_fields(name: str) -> None:
    schema = _documented("send")[name]
    assert _payload_fields(SERVER_EVENTS[name]) == set(schema["properties"])
    assert set(schema.get("required", ())) <= _payload_fields(SERVER_EVENTS[name])


@pytest.mark.parametrize("name", sorted(CLIENT_EVENTS))
def test_a_client_event_accepts_the_documented_fields(name: str) -> None:
    schema = _documented("receive")[name]
    assert set(CLIENT_EVENTS[name].model_fields) == set(schema["properties"])


def _reply(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "id": PydanticObjectId(),
        "conversation_id": PydanticObjectId(),
        "role": "assistant",
        "content": "Torque is r × F.",
        "status": "complete",
        "parent_id": PydanticObjectId(),
        "provider": "offline",
        "model": "starguide-offline",
        "usage": Usage(input_tokens=3, output_tokens=5, cost_usd=0.0),
    }
    return Message(**(values | changes))


def test_payloads_keep_the_wire_format(app: Any) -> None:
    """The exact objects clients have always received, keys and nulls included (`app`: the
    documents are initialised)."""
    reply = _reply()
    assert AssistantEnd.of(reply).payload() == {
        "message_id": str(reply.id),
        "conversation_id": str(reply.conversation_id),
        "content": "Torque is r × F.",
        "usage": {"input_tokens": 3, "output_tokens": 5, "cost_usd": 0.0, "estimated": False},
        "provider": "offline",
        "model": "starguide-offline",
        "status": "complete",
        "finish_reason": None,
        "citations": [],
    }
    failed = _reply(status="failed", error=MessageError(code="ai_unavailable", message="Down."))
    assert AssistantError.of(failed).payload() == {
        "message_id": str(failed.id),
        "conversation_id": str(failed.conversation_id),
        "code": "ai_unavailable",
        "message": "Down.",
    }
    earned = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    badge = AchievementUnlocked.of(
        code="first_steps", name="First steps", tier="bronze", xp_reward=10, earned_at=earned
    )
    assert badge.name == "achievement:unlocked"
    assert badge.payload() == {
        "code": "first_steps",
        "name": "First steps",
        "tier": "bronze",
        "xp_reward": 10,
        "earned_at": "2026-01-02T03:04:05+00:00",  # isoformat(), as before
    }


def test_a_payload_read_back_gives_the_same_event(app: Any) -> None:
    """What the replay buffer stores (name and JSON payload) parses back into the event."""
    question = _reply(role="user", status="complete", parent_id=None, usage=None)
    events: list[ServerEvent] = [
        AssistantToken(message_id="m1", seq=1, delta="Hi"),
        AssistantEnd.of(_reply()),
        MessageNew(message=MessagePublic.from_doc(question)),
        AchievementUnlocked.of(
            code="c", name="N", tier="gold", xp_reward=0, earned_at=datetime.now(UTC)
        ),
    ]
    for event in events:
        again = parse_event(event.name, event.payload())
        assert type(again) is type(event) and again.payload() == event.payload()
