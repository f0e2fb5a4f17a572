"""What the mentor is told: its character, the learner's memory and the recent conversation.

History is fitted to a token budget newest first, so the oldest turns go first; turns that do
not fit are summarised deterministically (topics covered, the learner's earlier questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from beanie import PydanticObjectId

from ai_router import ChatTurn
from models import Conversation, Message, TopicRef, User
from server.memory.service import WeakTopicView
from server.memory.taxonomy import Taxonomy

MENTOR_CHARACTER = """\
You are StarGuide, a warm and exacting mentor for Indian competitive-exam learners \
(JEE, NEET, UPSC).
How you teach:
- Be Socratic. First find out what the learner already knows, then guide with one question \
or hint at a time. Give the full worked answer only after they have tried, when they ask \
for it outright, or when they are clearly stuck after two hints.
- Adapt to the learner's exam and level: JEE wants rigour and speed tricks, NEET wants \
NCERT-exact facts and diagrams in words, UPSC wants structured, balanced answers with examples.
- Keep answers short and concrete; use LaTeX-free plain notation (v = u + at).
- When a weak topic comes up, slow down, check understanding, and suggest one practice step.
- Never invent facts, exam dates or cut-offs; say when you are unsure.
- Reply in the learner's language."""

_CHARS_PER_TOKEN = 4
_TURN_OVERHEAD_TOKENS = 4
_GIST_CHARS = 120
_MAX_GISTS = 6


def estimate_tokens(text: str) -> int:
    return len(text) // _CHARS_PER_TOKEN + _TURN_OVERHEAD_TOKENS


@dataclass(frozen=True, slots=True)
class Context:
    system_prompt: str
    history: tuple[ChatTurn, ...]
    earlier_topics: tuple[tuple[TopicRef, ...], ...]  # learner messages before, newest first
    dropped_turns: int


def _learner_section(user: User, weak: Sequence[WeakTopicView]) -> str:
    profile = user.profile
    facts = [f"Name: {profile.display_name}."]
    if profile.exam:
        facts.append(f"Preparing for: {profile.exam}.")
    if profile.coaching:
        facts.append(f"Coaching: {profile.coaching}.")
    if profile.grade:
        facts.append(f"Class/level: {profile.grade}.")
    facts.append(f"Preferred language: {profile.language}.")
    lines = ["About the learner:", " ".join(facts)]
    if weak:
        listed = "; ".join(f"{w.name} ({w.subject}, weakness {w.score:.1f})" for w in weak)
        lines.append(f"Weak topics, weakest first: {listed}.")
    return "\n".join(lines)


def _summary(
    conversation: Conversation, taxonomy: Taxonomy, dropped: Sequence[Message]
) -> str | None:
    covered: list[tuple[int, str]] = []
    for subject, slugs in conversation.topics_seen.items():
        for slug, count in slugs.items():
            topic = taxonomy.get(f"{subject}.{slug}")
            if topic is not None:
                covered.append((count, topic.name))
    covered.sort(key=lambda item: (-item[0], item[1]))
    questions = []
    for message in [m for m in dropped if m.role == "user"][-_MAX_GISTS:]:
        gist = " ".join(message.content.split())
        if len(gist) > _GIST_CHARS:
            gist = gist[: _GIST_CHARS - 1].rsplit(" ", 1)[0] + "…"
        questions.append(f'"{gist}"')
    if not covered and not questions:
        return None
    parts = ["Summary of the earlier conversation (older turns are not shown):"]
    if covered:
        parts.append("Topics so far: " + ", ".join(f"{n} ({c}x)" for c, n in covered[:8]) + ".")
    if questions:
        parts.append("Earlier questions from the learner: " + "; ".join(questions) + ".")
    return " ".join(parts)


def _threads(messages: Sequence[Message]) -> list[Message]:
    """Chronological learner messages each followed by its newest complete reply."""
    replies: dict[PydanticObjectId, Message] = {}
    for m in messages:  # newest first: the first complete reply seen is the newest
        if m.role == "assistant" and m.status == "complete" and m.parent_id is not None:
            replies.setdefault(m.parent_id, m)
    ordered: list[Message] = []
    for m in reversed(messages):
        if m.role == "user":
            ordered.append(m)
            assert m.id is not None
            if (reply := replies.get(m.id)) is not None:
                ordered.append(reply)
    return ordered


def build_context(
    *,
    user: User,
    conversation: Conversation,
    taxonomy: Taxonomy,
    weak: Sequence[WeakTopicView],
    recent: Sequence[Message],
    token_budget: int,
) -> Context:
    thread = _threads(recent)
    kept: list[Message] = []
    used = 0
    for message in reversed(thread):
        cost = estimate_tokens(message.content)
        if used + cost > token_budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Never start the history with a reply whose question was dropped.
    while kept and kept[0].role != "user":
        kept.pop(0)
    dropped = thread[: len(thread) - len(kept)]
    turns: list[ChatTurn] = []
    for message in kept:
        role = "user" if message.role == "user" else "assistant"
        if turns and turns[-1].role == role:  # providers want alternating turns
            turns[-1] = ChatTurn(role=role, content=turns[-1].content + "\n\n" + message.content)
        else:
            turns.append(ChatTurn(role=role, content=message.content))
    sections = [MENTOR_CHARACTER, _learner_section(user, weak)]
    older_than_window = conversation.message_count > len(recent) + 1
    if dropped or older_than_window:
        summary = _summary(conversation, taxonomy, dropped)
        if summary:
            sections.append(summary)
    earlier = tuple(tuple(m.topics) for m in recent if m.role == "user")
    return Context(
        system_prompt="\n\n".join(sections),
        history=tuple(turns),
        earlier_topics=earlier,
        dropped_turns=len(dropped),
    )


def make_title(content: str, max_chars: int = 60) -> str:
    """A title from the learner's first message: its first sentence, cut at a word."""
    text = " ".join(content.split())
    for stop in ("? ", ". ", "! "):
        head, sep, _ = text.partition(stop)
        if sep and len(head) >= 12:
            text = head + sep.strip()
            break
    if len(text) > max_chars:
        text = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text or "New conversation"
