"""The offline mentor's shipped topic notes, and the small text tools it composes with.

The notes (`data/offline_notes.json`, written for this project) are short explanations with a
worked example for the most common JEE, NEET and UPSC topics. The server indexes them as
citable passages ("StarGuide notes: ..."); the provider falls back to them itself only when it
is used without the server (no passages in the request), and then cites nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Final

EXAMPLE_MARK: Final = "Worked example:"

_STOPWORDS: Final = frozenset(
    "the a an and or of to in on at for with by from is are was were be been it its this that "
    "these those what which who how why when where do does did can could would should will "
    "me my i you your we our us he she they them his her their as if so not no yes than then "
    "there here about into over under between also just only very more most some any each "
    "explain tell give please want need help know understand question questions "
    "kya hai hain ka ki ke ko se mein me mai main aur ye yeh woh wo kaise kyun kyu batao "
    "samjhao samjha nahi nahin mujhe hota hoti hote karo kar".split()
)
_TOKEN: Final = re.compile(r"[a-z0-9][a-z0-9'^/+-]*")
# A full stop ends a sentence unless it ends an initial ("S.R. Bommai") or "e.g."/"i.e.".
_SENTENCE: Final = re.compile(
    r"(?<![\s.][A-Z]\.)(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=[A-Z0-9(\"'])"
)


@dataclass(frozen=True, slots=True)
class TopicNote:
    topic: str
    title: str
    keywords: tuple[str, ...]
    text: str
    example: str

    def passage_text(self) -> str:
        """The note as one passage: the explanation, then its worked example."""
        return f"{self.text} {EXAMPLE_MARK} {self.example}"


@cache
def load_notes() -> tuple[TopicNote, ...]:
    """The packaged notes (read once; the file ships inside the package)."""
    raw = files("ai_router.providers").joinpath("data/offline_notes.json").read_text("utf-8")
    return tuple(
        TopicNote(
            topic=n["topic"],
            title=n["title"],
            keywords=tuple(k.lower() for k in n["keywords"]),
            text=n["text"],
            example=n["example"],
        )
        for n in json.loads(raw)["notes"]
    )


def tokens(text: str) -> list[str]:
    """Lower-cased content words (stop words out; a plural's trailing s folded)."""
    return list(_tokens(text))


# Memoised: per message the mentor tokenises the same static text (note titles and bodies,
# a passage's sentences, the message itself) many times over.
@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    out = []
    for token in _TOKEN.findall(text.lower()):
        token = token.strip("'").removesuffix("'s")
        if len(token) < 2 or token in _STOPWORDS:
            continue
        if len(token) > 4 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.append(token)
    return tuple(out)


def sentences(text: str) -> list[str]:
    """Sentences of a passage, in order (a plain split: notes and book text use full stops)."""
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def keyword_score(note: TopicNote, lowered: str) -> float:
    """How strongly a message names a note's topic: whole-phrase keyword hits, longer
    phrases counting more."""
    score = 0.0
    for keyword in note.keywords:
        # The substring test is a cheap necessary condition; the pattern checks word edges.
        if keyword in lowered and _keyword_pattern(keyword).search(lowered):
            score += 1.0 + 0.5 * keyword.count(" ")
    return score


@cache
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z]){re.escape(keyword)}(?![a-z])")


@cache
def _title_tokens() -> tuple[frozenset[str], ...]:
    """Each note's title words, in `load_notes()` order (static: computed once)."""
    return tuple(frozenset(tokens(note.title)) for note in load_notes())


def match_notes(text: str, *, limit: int = 2) -> list[TopicNote]:
    """The notes a message is about, best first (keyword hits, then shared title words)."""
    lowered = text.lower()
    wanted = set(tokens(text))
    scored: list[tuple[float, int, TopicNote]] = []
    for i, (note, title) in enumerate(zip(load_notes(), _title_tokens(), strict=True)):
        score = keyword_score(note, lowered)
        score += 0.3 * len(wanted & title)
        if score > 0:
            scored.append((score, -i, note))
    scored.sort(reverse=True)
    return [note for _, _, note in scored[:limit]]
