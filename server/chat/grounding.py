"""Grounding a reply: the numbered passages it may cite, and the citations it kept.

For a learner message, passages come from the learner's library first (the documents feature's
one search entry point, which already filters to what the learner may read; in a conversation
with other members, only what every member may read: the group's and the organization's
documents; on a topic the learner finds hard, passages tagged with it first) and then from
knowledge the app ships: the offline mentor's topic notes and the question bank's
explanations, ranked by the retrieval feature's hybrid index with the local embedder (shipped
knowledge must work with no network and no keys), preferring the syllabus topics the message
is tagged with. They are numbered [1..n] and travel in the AI request: vendors read them in
the system prompt (ai_router.request.grounding_prompt), the offline mentor composes from
them. After the reply, only the passages its text refers to become `citations`.

Grounding never fails a reply: when the library search fails (the database is down, an
embeddings vendor refuses), the reply is grounded in the shipped knowledge alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ai_router import GroundingPassage, PracticeQuestion
from ai_router.providers.offline_intents import detect_intent
from ai_router.providers.offline_knowledge import load_notes, match_notes
from ai_router.request import PassageSource
from models import Conversation, User
from models.message import Citation
from server.groups import service as groups_service
from server.library import service as library_service
from server.memory.taxonomy import Taxonomy
from server.quiz.bank import QuestionSpec, load_bank
from server.retrieval.embedders import local_embedder
from server.retrieval.index import Candidate, HybridIndex, Passage

log = logging.getLogger("starguide.chat")

LIBRARY_PASSAGES: Final = 3
SHIPPED_PASSAGES: Final = 2
PRACTICE_QUESTIONS: Final = 3
QUOTE_CHARS: Final = 300
PASSAGE_CHARS: Final = 900
NOTES_PREFIX: Final = "StarGuide notes: "
BANK_PREFIX: Final = "StarGuide question bank: "
_MARKER: Final = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class Grounded:
    """What a reply is grounded in: passages for the request, and who each `n` cites."""

    passages: tuple[GroundingPassage, ...] = ()
    practice: tuple[PracticeQuestion, ...] = ()
    sources: tuple[Citation, ...] = ()

    def cited(self, text: str) -> list[Citation]:
        """The citations the reply's text refers to as [n], in `n` order (a marker that
        names no passage is ignored)."""
        used = {int(m) for m in _MARKER.findall(text)}
        return [c for c in self.sources if c.n in used]


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True, slots=True)
class _Shipped:
    title: str
    text: str
    topic: str
    source: PassageSource


class ShippedKnowledge:
    """The app's own notes and bank explanations, indexed once per process: at a server's
    start (`warm`), else by the first grounded message (about half a second of embedding)."""

    def __init__(self, *, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy
        self._items: dict[str, _Shipped] = {}
        self._bank: list[QuestionSpec] = []
        self._index: HybridIndex | None = None
        self._lock = asyncio.Lock()

    def _build(self) -> HybridIndex:
        for i, note in enumerate(load_notes()):
            self._items[f"note:{i}"] = _Shipped(
                NOTES_PREFIX + note.title, note.passage_text(), note.topic, "notes"
            )
        self._bank = load_bank(taxonomy=self._taxonomy)
        for q in self._bank:
            topic = self._taxonomy.get(q.topic)
            text = f"{q.stem} Answer: {q.options[q.answer]}. {q.explanation}"
            name = topic.name if topic is not None else q.topic
            self._items[f"bank:{q.key}"] = _Shipped(BANK_PREFIX + name, text, q.topic, "bank")
        keys = list(self._items)
        vectors = local_embedder().embed_sync([self._items[k].text for k in keys])
        return HybridIndex(
            Candidate(
                chunk_id=k,
                document_id=k,
                title=self._items[k].title,
                page=1,
                text=self._items[k].text,
                embedding=[float(x) for x in vectors[i]],
            )
            for i, k in enumerate(keys)
        )

    async def warm(self) -> None:
        """Builds the index now (a server process at start-up), not on the first message."""
        await self._ready()
        log.info("shipped knowledge indexed", extra={"passages": len(self._items)})

    async def _ready(self) -> HybridIndex:
        if self._index is None:
            async with self._lock:
                if self._index is None:
                    self._index = await asyncio.to_thread(self._build)
        return self._index

    async def search(self, query: str, *, exam: str | None, limit: int) -> list[_Shipped]:
        """Notes the message names first, then the hybrid ranking's best (a hit on one of
        the message's syllabus topics ahead of the rest)."""
        index = await self._ready()
        [vector] = await local_embedder().embed([query])
        tagged = {m.topic.id for m in self._taxonomy.tag(query, exam=exam)}
        notes = load_notes()
        chosen: list[_Shipped] = [self._items[f"note:{notes.index(n)}"] for n in match_notes(query)]
        ranked = index.rank(query, vector, 8)
        hits = [self._items[r.candidate.chunk_id] for r in ranked]
        hits.sort(key=lambda item: item.topic not in tagged)  # stable: keeps the fused order
        for item in hits:
            if item not in chosen:
                chosen.append(item)
        # At most one note first, so a bank explanation can stand beside it.
        first_note = next((c for c in chosen if c.source == "notes"), None)
        rest = [c for c in chosen if c is not first_note]
        ordered = ([first_note] if first_note else []) + rest
        if not ordered:
            return []
        # The rest must be on the best hit's topic or one the message is tagged with:
        # "photoelectric effect" is not helped by organic chemistry's "electronic effects",
        # nor Newton's third law by Ohm's law, however many words they share.
        topics = tagged | {ordered[0].topic}
        same = [item for item in ordered[1:] if item.topic in topics]
        return [ordered[0], *same][:limit]

    async def practice(
        self, query: str, *, exam: str | None, weak: Sequence[str], limit: int
    ) -> list[PracticeQuestion]:
        """Bank questions for a practice request: on the topic the message names, else the
        learner's weakest topic, else any of the learner's exam (picked by the message, so
        the same request gets the same question)."""
        await self._ready()
        topics = [m.topic.id for m in self._taxonomy.tag(query, exam=exam)]
        if not topics:
            topics = [n.topic for n in match_notes(query, limit=1)]
        if not topics:
            topics = [t.id for name in weak if (t := self._taxonomy.resolve(name)) is not None]
        pool = [q for q in self._bank if q.topic in topics[:1]]
        if not pool:
            wanted = (exam or "").upper()
            pool = [q for q in self._bank if not wanted or wanted in {e.upper() for e in q.exams}]
        if not pool:
            return []
        start = int.from_bytes(hashlib.sha256(query.encode()).digest()[:4], "big") % len(pool)
        picked = [pool[(start + i) % len(pool)] for i in range(min(limit, len(pool)))]
        return [self._question(q) for q in picked]

    def _question(self, q: QuestionSpec) -> PracticeQuestion:
        topic = self._taxonomy.get(q.topic)
        return PracticeQuestion(
            stem=q.stem,
            options=tuple(q.options),
            answer=q.answer,
            explanation=q.explanation,
            topic=topic.name if topic is not None else None,
        )


class Grounding:
    """Gathers the passages for one learner message (see the module docstring)."""

    def __init__(self, *, taxonomy: Taxonomy) -> None:
        self.shipped = ShippedKnowledge(taxonomy=taxonomy)

    async def gather(
        self,
        *,
        user: User,
        message: str,
        weak: Sequence[str] = (),
        conversation: Conversation | None = None,
        topics: Sequence[str] = (),
        weak_ids: Sequence[str] = (),
    ) -> Grounded:
        """`weak`: the learner's weak topics by name (for practice questions), `weak_ids`
        the same by id; `topics`: the message's topic ids. A message on a weak topic gets
        the learner's passages tagged with that topic first."""
        intent = detect_intent(message)
        if intent in ("greeting", "stress"):
            return Grounded()  # a greeting or a worried learner needs no passages
        exam = user.profile.exam
        focus = [t for t in topics if t in set(weak_ids)]
        scopes = await self._scopes(user, conversation)
        found = await self._library(user, message, scopes=scopes, focus=focus)
        shipped = await self._shipped(message, exam)
        passages: list[GroundingPassage] = []
        sources: list[Citation] = []
        for hit in found:
            n = len(passages) + 1
            passages.append(
                GroundingPassage(
                    n=n,
                    title=hit.title,
                    page=hit.page,
                    text=_trim(hit.text, PASSAGE_CHARS),
                    source="document",
                )
            )
            sources.append(
                Citation(
                    n=n,
                    document_id=hit.document_id,
                    title=hit.title,
                    page=hit.page,
                    quote=_trim(hit.text, QUOTE_CHARS),
                )
            )
        for item in shipped:
            n = len(passages) + 1
            passages.append(
                GroundingPassage(
                    n=n, title=item.title, text=_trim(item.text, PASSAGE_CHARS), source=item.source
                )
            )
            sources.append(Citation(n=n, title=item.title, quote=_trim(item.text, QUOTE_CHARS)))
        practice: list[PracticeQuestion] = []
        if intent == "practice":
            practice = await self.shipped.practice(
                message, exam=exam, weak=weak, limit=PRACTICE_QUESTIONS
            )
        return Grounded(tuple(passages), tuple(practice), tuple(sources))

    async def _shipped(self, message: str, exam: str | None) -> list[_Shipped]:
        try:
            return await self.shipped.search(message, exam=exam, limit=SHIPPED_PASSAGES)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not cost the learner the reply
            log.exception("searching the shipped knowledge failed")
            return []

    async def _scopes(self, user: User, conversation: Conversation | None) -> list[str] | None:
        """None (all the sender may read) in the sender's own conversation. With other
        members (a study group's), who read the reply's quotes too: only what every member
        may read, the group's documents and the organization's, never anyone's personal
        ones (not the sender's either)."""
        if conversation is None or not conversation.member_ids:
            return None
        assert user.id is not None and conversation.id is not None
        group_id = await groups_service.conversation_group_id(
            conversation_id=conversation.id, member_id=user.id
        )
        return ["org"] if group_id is None else ["org", f"group:{group_id}"]

    async def _library(
        self, user: User, message: str, *, scopes: list[str] | None, focus: Sequence[str]
    ) -> list[Passage]:
        """The best passages, those on the learner's weak `focus` topics first (a second
        search narrowed to them, so a passage on the hard topic is not crowded out)."""
        searches = (
            [
                library_service.search(
                    user=user, query=message, limit=LIBRARY_PASSAGES, scopes=scopes, topics=focus
                )
            ]
            if focus
            else []
        )
        searches.append(
            library_service.search(user=user, query=message, limit=LIBRARY_PASSAGES, scopes=scopes)
        )
        try:
            results = await asyncio.gather(*searches)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # grounding must never fail the reply
            log.warning("library search for grounding failed: %s", type(exc).__name__)
            return []
        found: list[Passage] = []
        for hit in (h for result in results for h in result):
            if not any(
                (f.document_id, f.page, f.text) == (hit.document_id, hit.page, hit.text)
                for f in found
            ):
                found.append(hit)
        return found[:LIBRARY_PASSAGES]
