"""The syllabus topic taxonomy (shipped as data) and a fast, deterministic topic tagger.

Tagging must be explainable (every score comes from named phrases the learner wrote) and cheap
enough to run on every chat message, so it is a dictionary lookup of token n-grams, not a model
and not a regex over hundreds of phrases. See docs/LEARNER_MEMORY.md.

Normalization, applied identically to the data and to messages: lower case, NFKD with accents
dropped (NFKC's compatibility folding plus "ô" → "o"), possessive "'s" dropped and other
apostrophes removed ("newton's" → "newton", "don't" → "dont"), split on anything that is not
[a-z0-9], then a light plural fold per token ("vectors" → "vector", "properties" → "property",
"processes" → "process", a few irregular ones such as "gases" and "matrices"; "gauss",
"nucleus", "analysis" are kept).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from server.retrieval.topics import TopicTagger

NAME_WEIGHT: Final = 1.25  # a topic's own name is stronger evidence than a synonym
_RECENT_TAGS: Final = 256  # `tag` results kept per taxonomy
OFF_EXAM_WEIGHT: Final = 0.5  # topics outside the learner's exam still count, at half
# How much a phrase hit (relative score 0..1) adds to the meaning score when both are known:
# enough that a topic the learner names wins over a near neighbour, small enough that a
# synonym used in passing ("pancreas" in a digestion question) does not outvote the meaning.
PHRASE_BONUS: Final = 0.1
# A message that names no topic is tagged by meaning only at or above this score.
MIN_MEANING_SCORE: Final = 0.6
# A topic found by meaning alone replaces the named one as first only this far ahead of it.
MEANING_OVERRIDE: Final = 0.1

_WORD = re.compile(r"[a-z0-9]+")
_ACCENTS = re.compile(r"[\u0300-\u036f]")  # combining diacritical marks
_APOSTROPHE = re.compile(r"['’‘`ʼ]")
_POSSESSIVE = re.compile(r"['’‘`ʼ]s\b")
_DROP_APOSTROPHES = str.maketrans("", "", "'’‘`ʼ")
_SUBJECT_ID = re.compile(r"[a-z0-9_]+")
_TOPIC_ID = re.compile(r"([a-z0-9_]+)\.[a-z0-9_]+")

Phrase = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject or UPSC paper; `aliases` are extra names `resolve_subject` accepts."""

    id: str
    name: str
    exams: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: str
    subject: str
    unit: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A tagged topic: `score` is relative to the best match (1.0); `phrases` are the
    phrases of the taxonomy that matched, in the order they first occur, for explanations."""

    topic: Topic
    score: float
    phrases: tuple[str, ...]


# Plurals the suffix rules below would fold wrongly ("gases" → "gase", "lens" → "len").
_IRREGULAR: Final = {
    "gases": "gas",
    "lens": "lens",
    "lenses": "lens",
    "matrices": "matrix",
    "vertices": "vertex",
    "indices": "index",
    "axes": "axis",
}


def _fold(token: str) -> str:
    """Light plural folding; the same on both sides, so it only has to be consistent."""
    irregular = _IRREGULAR.get(token)
    if irregular is not None:
        return irregular
    if len(token) > 3 and token[-1] == "s":
        if token[-3:] == "ies" and len(token) > 4:
            return token[:-3] + "y"
        if token[-4:] == "sses":  # "processes" → "process"
            return token[:-2]
        if token[-2] not in "sui":  # keep "gauss", "nucleus", "analysis"
            return token[:-1]
    return token


def tokenize(text: str) -> Phrase:
    """The normalized tokens of `text` (see the module docstring)."""
    text = text.lower()
    if not text.isascii():
        # NFKD folds compatibility forms (full-width letters, ligatures) like NFKC does, and
        # also splits accents off so they can be dropped: "l'hôpital" → "l'hopital".
        text = _ACCENTS.sub("", unicodedata.normalize("NFKD", text))
    if _APOSTROPHE.search(text):
        text = _POSSESSIVE.sub("", text).translate(_DROP_APOSTROPHES)
    return tuple([_fold(token) for token in _WORD.findall(text)])


class Taxonomy:
    """Subjects and topics with a phrase index for tagging and lookup.

    Every topic name and synonym is indexed by its normalized token tuple. A phrase may belong
    to one topic only, and may not be a subject's id, name or alias: the data is validated here
    so a bad edit fails loudly at load time instead of silently mis-tagging messages.
    """

    def __init__(self, subjects: Iterable[Subject], topics: Iterable[Topic]) -> None:
        self.subjects: dict[str, Subject] = {}
        self.topics: dict[str, Topic] = {}
        self._subject_phrases: dict[Phrase, str] = {}
        # phrase -> (topic id, phrase as written in the data, hit weight factor)
        self._phrases: dict[Phrase, tuple[str, str, float]] = {}
        self._topic_exams: dict[str, frozenset[str]] = {}
        # Tagging by meaning (server/retrieval/topics.py); attached to the packaged taxonomy
        # only, so a hand-built taxonomy (tests, tools) tags by phrases alone.
        self.meaning: TopicTagger | None = None
        # Recent `tag` results: a chat message is tagged by admission and again by grounding
        # (the meaning tagger costs about a millisecond). Keyed by the tagger too, so
        # attaching one later never serves a phrase-only result.
        self._recent: dict[tuple[str, str | None, int, int], tuple[TopicMatch, ...]] = {}

        for subject in subjects:
            if not _SUBJECT_ID.fullmatch(subject.id):
                raise ValueError(f"subject id {subject.id!r} must match [a-z0-9_]+")
            if subject.id in self.subjects:
                raise ValueError(f"duplicate subject id {subject.id!r}")
            if not subject.name.strip():
                raise ValueError(f"subject {subject.id!r} has an empty name")
            self.subjects[subject.id] = subject
            for text in (subject.id, subject.name, *subject.aliases):
                key = tokenize(text)
                if not key:
                    raise ValueError(f"subject {subject.id!r}: {text!r} has no words")
                other = self._subject_phrases.setdefault(key, subject.id)
                if other != subject.id:
                    raise ValueError(
                        f"subject phrase {text!r} is used by both {other!r} and {subject.id!r}"
                    )

        by_first: dict[str, set[int]] = {}
        for topic in topics:
            self._add_topic(topic, by_first)
        # Longest first, so the scan takes the longest phrase starting at each token.
        self._lengths: dict[str, tuple[int, ...]] = {
            first: tuple(sorted(lengths, reverse=True)) for first, lengths in by_first.items()
        }

    def _add_topic(self, topic: Topic, by_first: dict[str, set[int]]) -> None:
        match = _TOPIC_ID.fullmatch(topic.id)
        if match is None:
            raise ValueError(f"topic id {topic.id!r} must look like <subject>.<slug>")
        if topic.id in self.topics:
            raise ValueError(f"duplicate topic id {topic.id!r}")
        if topic.subject not in self.subjects:
            raise ValueError(f"topic {topic.id!r} has unknown subject {topic.subject!r}")
        if match.group(1) != topic.subject:
            raise ValueError(f"topic {topic.id!r} must start with its subject {topic.subject!r}")
        if not topic.name.strip():
            raise ValueError(f"topic {topic.id!r} has an empty name")
        self.topics[topic.id] = topic
        self._topic_exams[topic.id] = frozenset(self.subjects[topic.subject].exams)
        for text, weight in ((topic.name, NAME_WEIGHT), *((s, 1.0) for s in topic.synonyms)):
            key = tokenize(text)
            if not key:
                raise ValueError(f"topic {topic.id!r}: phrase {text!r} has no words")
            if key in self._subject_phrases:
                raise ValueError(
                    f"topic {topic.id!r}: phrase {text!r} is a name of subject "
                    f"{self._subject_phrases[key]!r}"
                )
            existing = self._phrases.get(key)
            if existing is not None:
                if existing[0] == topic.id:
                    continue  # a spelling variant that normalizes the same: harmless
                raise ValueError(
                    f"phrase {text!r} (normalized {' '.join(key)!r}) is used by both "
                    f"{existing[0]!r} ({existing[1]!r}) and {topic.id!r}"
                )
            self._phrases[key] = (topic.id, text, weight)
            by_first.setdefault(key[0], set()).add(len(key))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Taxonomy:
        """Build from the JSON shape of `data/syllabus.json`; malformed data → ValueError."""
        try:
            subjects = [
                Subject(
                    id=str(s["id"]),
                    name=str(s["name"]),
                    exams=tuple(str(e).upper() for e in s["exams"]),
                    aliases=tuple(str(a) for a in s.get("aliases", ())),
                )
                for s in data["subjects"]
            ]
            topics = [
                Topic(
                    id=str(t["id"]),
                    name=str(t["name"]),
                    subject=str(t["subject"]),
                    unit=str(t.get("unit", "")),
                    synonyms=tuple(str(s) for s in t.get("synonyms", ())),
                )
                for t in data["topics"]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed taxonomy data: {exc!r}") from exc
        return cls(subjects, topics)

    def get(self, topic_id: str) -> Topic | None:
        return self.topics.get(topic_id)

    def topics_of(self, subject_id: str) -> list[Topic]:
        """The topics of one subject, in data order."""
        return [t for t in self.topics.values() if t.subject == subject_id]

    def resolve(self, text: str) -> Topic | None:
        """The topic `text` names exactly (its id, name or a synonym), else None.

        For mapping free-form labels such as legacy `weak_topics` entries; a subject's name
        ("Physics") is not a topic and gives None (see `resolve_subject`).
        """
        by_id = self.topics.get(text.strip().lower())
        if by_id is not None:
            return by_id
        key = tokenize(text)
        entry = self._phrases.get(key)
        return self.topics[entry[0]] if entry is not None else None

    def resolve_subject(self, text: str) -> Subject | None:
        """The subject `text` names exactly (id, name or alias), else None."""
        by_id = self.subjects.get(text.strip().lower())
        if by_id is not None:
            return by_id
        subject_id = self._subject_phrases.get(tokenize(text))
        return self.subjects[subject_id] if subject_id is not None else None

    def tag(self, text: str, *, exam: str | None = None, limit: int = 3) -> list[TopicMatch]:
        """The topics `text` is about, most relevant first (at most `limit`).

        Greedy longest match over token n-grams, non-overlapping. A hit scores
        1 + 0.5 × (words − 1), times NAME_WEIGHT when it is the topic's own name; a topic's
        score is the sum of its hits, halved when `exam` is given and the topic's subject is
        not part of that exam. Ties break on topic id, so the result is deterministic.
        """
        if limit <= 0:
            return []
        key = (text, exam, limit, id(self.meaning))
        hit = self._recent.get(key)
        if hit is None:
            hit = tuple(self._tag(text, exam=exam, limit=limit))
            if len(self._recent) >= _RECENT_TAGS:
                self._recent.clear()  # bounded; a plain dict stays safe across threads
            self._recent[key] = hit
        return list(hit)

    def _tag(self, text: str, *, exam: str | None, limit: int) -> list[TopicMatch]:
        tokens = tokenize(text)
        count = len(tokens)
        lengths_by_first = self._lengths
        phrases = self._phrases
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        skip_to = 0
        for i, token in enumerate(tokens):
            if i < skip_to:
                continue
            lengths = lengths_by_first.get(token)
            if lengths is None:
                continue
            for length in lengths:
                if i + length > count:
                    continue
                entry = phrases.get(tokens[i : i + length])
                if entry is None:
                    continue
                topic_id, written, weight = entry
                scores[topic_id] = scores.get(topic_id, 0.0) + (1.0 + 0.5 * (length - 1)) * weight
                seen = matched.setdefault(topic_id, [])
                if written not in seen:
                    seen.append(written)
                skip_to = i + length
                break
        if exam:
            wanted = exam.strip().upper()
            for topic_id in scores:
                if wanted not in self._topic_exams[topic_id]:
                    scores[topic_id] *= OFF_EXAM_WEIGHT
        if self.meaning is not None:
            return self._tag_with_meaning(text, scores, matched, exam=exam, limit=limit)
        if not scores:
            return []
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        best = ranked[0][1]
        return [
            TopicMatch(self.topics[topic_id], round(score / best, 4), tuple(matched[topic_id]))
            for topic_id, score in ranked
        ]

    def _tag_with_meaning(
        self,
        text: str,
        phrase_scores: dict[str, float],
        matched: dict[str, list[str]],
        *,
        exam: str | None,
        limit: int,
    ) -> list[TopicMatch]:
        """Phrase hits fused with the meaning tagger (docs/LEARNER_MEMORY.md).

        The first topic is the best of meaning score + PHRASE_BONUS x phrase score, so a
        problem statement with no topic word still gets one; the others are only topics the
        message names, in phrase order: meaning alone never adds a second guess, which would
        put confusion evidence on topics the learner did not ask about.
        """
        assert self.meaning is not None
        meaning = self.meaning.scores(text)
        if exam:
            wanted = exam.strip().upper()
            for i, topic_id in enumerate(self.meaning.ids):
                if wanted not in self._topic_exams.get(topic_id, frozenset((wanted,))):
                    meaning[i] *= OFF_EXAM_WEIGHT
        best_phrase = max(phrase_scores.values(), default=0.0)
        for topic_id, score in phrase_scores.items():
            position = self.meaning.position(topic_id)
            if position is not None:
                meaning[position] += PHRASE_BONUS * score / best_phrase
        top = int(meaning.argmax())
        top_id, top_score = self.meaning.ids[top], float(meaning[top])
        if phrase_scores:
            named_id = min(phrase_scores, key=lambda t: (-phrase_scores[t], t))
            position = self.meaning.position(named_id)
            named_score = float(meaning[position]) if position is not None else 0.0
            # The topic the message names stays first unless the meaning clearly disagrees.
            if top_id in phrase_scores or top_score < named_score + MEANING_OVERRIDE:
                top_id = named_id
        elif top_score < MIN_MEANING_SCORE:
            return []
        named = sorted(
            (t for t in phrase_scores if t != top_id), key=lambda t: (-phrase_scores[t], t)
        )
        ids = [top_id, *named][:limit]
        base = phrase_scores.get(top_id) or best_phrase or 1.0
        return [
            TopicMatch(
                self.topics[topic_id],
                1.0 if i == 0 else round(min(1.0, phrase_scores[topic_id] / base), 4),
                tuple(matched.get(topic_id, ())),
            )
            for i, topic_id in enumerate(ids)
        ]


def subject_of(matches: Sequence[TopicMatch]) -> str | None:
    """The subject of the most relevant match, if any."""
    return matches[0].topic.subject if matches else None


@cache
def load_taxonomy() -> Taxonomy:
    """The packaged taxonomy, parsed and validated once per process."""
    resource = files("server.memory") / "data" / "syllabus.json"
    taxonomy = Taxonomy.from_dict(json.loads(resource.read_text(encoding="utf-8")))
    from server.retrieval.topics import TopicTagger, TopicText

    taxonomy.meaning = TopicTagger(
        TopicText(t.id, (t.name, *t.synonyms)) for t in taxonomy.topics.values()
    )
    return taxonomy
