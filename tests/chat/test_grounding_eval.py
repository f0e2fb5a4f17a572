"""The offline tutor measured on learner prompts (tests/chat/data/tutor_prompts.json) with
simple text rules per intent, through the whole server path: REST send, grounding in the
shipped knowledge, the router's offline provider, stored citations. Reports the pass rate and
requires every prompt to pass."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from tests.chat.conftest import ChatSession
from tests.chat.helpers import message_body
from tests.conftest import Api, make_settings

PROMPTS = json.loads((Path(__file__).parent / "data" / "tutor_prompts.json").read_text("utf-8"))
EMPATHY = ("i hear you", "sorry", "a lot to carry", "samajh sakta", "pressure hai", "afsos")
ADVICE = ("minute", "topic", "plan", "revise", "tasks")
HINGLISH = ("hai", "hain", "karo", "batao", "samajh", "aap", "kya", "dekho", "chalo", "mein")
FORBIDDEN = ("large language model", "language model", "as an ai")
_MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="offline",
        chat_rate_limit="1000/minute",
    )


def _cited(reply: dict[str, Any]) -> list[str]:
    """Problems with the reply's citations: markers must name stored citations and back."""
    markers = {int(n) for n in _MARKER.findall(reply["content"])}
    stored = {c["n"] for c in reply["citations"]}
    problems = []
    if not markers:
        problems.append("no [n] citation")
    if markers != stored:
        problems.append(f"markers {sorted(markers)} != citations {sorted(stored)}")
    for c in reply["citations"]:
        if c["document_id"] is None and not c["title"].startswith("StarGuide "):
            problems.append(f"shipped citation titled {c['title']!r}")
    return problems


def _greeting(text: str, reply: dict[str, Any]) -> list[str]:
    problems = [] if len(text.split()) <= 40 else ["greeting longer than 40 words"]
    return problems + ([] if "?" in text else ["greeting asks nothing"])


def _stress(text: str, reply: dict[str, Any]) -> list[str]:
    lowered = text.lower()
    first = re.split(r"(?<=[.!?])\s", lowered, maxsplit=1)[0]
    if not any(word in first for word in EMPATHY):
        return ["stress reply does not open with empathy"]
    empathy_at = min(lowered.find(w) for w in EMPATHY if w in lowered)
    advice_at = [lowered.find(w) for w in ADVICE if w in lowered]
    if advice_at and min(advice_at) < empathy_at:
        return ["study advice before empathy"]
    return []


def _explain(text: str, reply: dict[str, Any]) -> list[str]:
    lowered = text.lower()
    has_example = "example" in lowered or "step 1" in lowered
    return ([] if has_example else ["no worked example"]) + _cited(reply)


def _practice(text: str, reply: dict[str, Any]) -> list[str]:
    missing = [f"{letter})" for letter in "ABCD" if f"\n{letter}) " not in text]
    return [f"options missing: {missing}"] if missing else []


def _solve(text: str, reply: dict[str, Any]) -> list[str]:
    return [] if "step 1" in text.lower() else ["no first step"]


RULES: dict[str, Callable[[str, dict[str, Any]], list[str]]] = {
    "greeting": _greeting,
    "stress": _stress,
    "explain": _explain,
    "practice": _practice,
    "solve": _solve,
}


def _common(case: dict[str, Any], text: str) -> list[str]:
    lowered = text.lower()
    problems = [f"says {w!r}" for w in FORBIDDEN if w in lowered]
    if not text.strip():
        problems.append("empty reply")
    if case.get("hinglish"):
        words = set(re.findall(r"[a-z]+", lowered))
        if len(words & set(HINGLISH)) < 2:
            problems.append("not in Hinglish")
    return problems


async def _regenerate(api: Api, convo: ChatSession, reply: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        f"{convo.messages_url}/{reply['id']}/regenerate",
        json={"provider": "offline"},
        headers=convo.auth,
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["assistant_message"])


async def test_the_tutor_passes_every_learner_prompt(api: Api, convo: ChatSession) -> None:
    assert len(PROMPTS["prompts"]) >= 30
    failures: dict[str, list[str]] = {}
    for case in PROMPTS["prompts"]:
        response = await convo.send(message_body(case["prompt"], provider="offline"))
        assert response.status_code == 201, response.text
        reply = response.json()["assistant_message"]
        text = reply["content"]
        problems = _common(case, text) + RULES[case["intent"]](text, reply)
        if case.get("regenerate"):
            again = await _regenerate(api, convo, reply)
            if again["content"] == text:
                problems.append("regenerate gave the same text")
            problems += _common(case, again["content"])
            problems += RULES[case["intent"]](again["content"], again)
        if problems:
            failures[case["prompt"]] = problems
    total = len(PROMPTS["prompts"])
    print(f"\noffline tutor: {total - len(failures)}/{total} prompts pass")
    assert not failures, json.dumps(failures, indent=1)
