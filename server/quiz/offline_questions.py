"""Questions written without an AI vendor: cloze and recall questions cut from passages.

With no AI keys, question generation still works (docs/PRACTICE.md): from the passages of the
organization's library (or one document) and the topic's own material (the shipped topic notes,
the explanations of its published questions), it blanks a key term of a sentence (cloze) or
asks for the term a sentence defines (recall). Distractors are terms of the same kind from the
same material (other numbers with the same unit, other defined terms, the subject's other topic
names). Everything is deterministic: the same material gives the same questions, so a retried
job makes duplicates (rejected) rather than new questions.

Each draft keeps the sentence it came from (`evidence`) and a `template` with the blank:
`solve` puts every option into the blank and finds the one that gives the sentence back; the
generation job requires that to be the answer key (the offline "second pass").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ai_router.providers.offline_knowledge import EXAMPLE_MARK, sentences, tokens
from server.memory.taxonomy import Topic, load_taxonomy
from server.quiz.visibility import normalise

BLANK: Final = "_____"
OPTION_COUNT: Final = 4
MIN_SENTENCE: Final = 40
MAX_SENTENCE: Final = 320
_NUMBER: Final = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(\s?(?:m/s\^?2|m/s²|m/s|km/h|kg|N|J|W|Hz|eV|nm|cm|mm|km|mol|"
    r"K|V|A|Pa|L|g|s|m|%))(?![\w/^])"
)
_DEFINITION: Final = re.compile(
    r"^(?:An?\s+|The\s+)?(?P<term>[A-Za-z][\w'-]*(?:\s+[\w'-]+){0,3}?)\s+"
    r"(?P<verb>is defined as|refers to|is)\s+(?P<rest>(?:the|a|an)\s.{20,})$"
)
_WORD: Final = re.compile(r"[A-Za-z][A-Za-z-]{5,}")
_LABEL: Final = re.compile(r"^(?:Step \d+|Example|Note)\s*[:.]\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SourceText:
    """A passage to write questions from, and how to name it in an explanation."""

    title: str
    text: str
    page: int | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A generated question before its checks; `evidence` and `template` exist for offline
    drafts only (the sentence it came from, and it with the blank where the answer goes)."""

    stem: str
    options: tuple[str, ...]
    answer: int
    explanation: str
    evidence: str | None = None
    template: str | None = None


def solve(draft: Draft) -> int | None:
    """The one option that fills the blank of `template` to give back `evidence` (None when
    no option or several do): a check independent of how the key was chosen."""
    if draft.evidence is None or draft.template is None:
        return None
    wanted = normalise(draft.evidence)
    fits = [
        i
        for i, option in enumerate(draft.options)
        if normalise(draft.template.replace(BLANK, option, 1)) == wanted
    ]
    return fits[0] if len(fits) == 1 else None


def _clean(sentence: str) -> str:
    """A sentence without the labels of worked examples ("Worked example:", "Step 2:")."""
    return _LABEL.sub("", sentence.removeprefix(EXAMPLE_MARK).strip()).strip()


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _arrange(answer: str, distractors: Sequence[str], seed: str) -> tuple[tuple[str, ...], int]:
    """The answer among three distractors at a position fixed by the question's text."""
    position = _digest(seed) % OPTION_COUNT
    options = list(distractors[: OPTION_COUNT - 1])
    options.insert(position, answer)
    return tuple(options), position


def _distinct(answer: str, tiers: Sequence[Sequence[str]], seed: str) -> list[str]:
    """Up to three entries unlike the answer and each other: the first tier's (the closest
    kind) first, each tier in a seed-fixed order."""
    seen = {normalise(answer)}
    picked: list[str] = []
    for tier in tiers:
        for candidate in sorted(tier, key=lambda c: _digest(seed, c)):
            key = normalise(candidate)
            if len(picked) < OPTION_COUNT - 1 and key and key not in seen:
                seen.add(key)
                picked.append(candidate)
    return picked


def _number_variants(value: str, unit: str) -> list[str]:
    """Plausible wrong values in the same unit: double, half, ten times."""
    number = float(value)
    if number == 0:
        return []
    decimals = len(value.split(".")[1]) if "." in value else 0
    out = []
    for factor in (2.0, 0.5, 10.0, 3.0):
        candidate = number * factor
        text = f"{candidate:.{max(decimals, 0 if candidate.is_integer() else 1)}f}"
        out.append(f"{text}{unit}")
    return out


class _Material:
    """The sentences of all passages, and the pools distractors come from."""

    def __init__(self, topic: Topic, sources: Sequence[SourceText]) -> None:
        self.topic = topic
        self.sentences: list[tuple[SourceText, str]] = [
            (source, s)
            for source in sources
            for s in map(_clean, sentences(source.text))
            if MIN_SENTENCE <= len(s) <= MAX_SENTENCE and not s.endswith("?")
        ]
        taxonomy = load_taxonomy()
        self.topic_names = [t.name for t in taxonomy.topics_of(topic.subject)]
        # Other topics' phrases, the same unit's first: distractors for a blanked topic phrase.
        others = [t for t in taxonomy.topics_of(topic.subject) if t.id != topic.id]
        self.unit_phrases = [p for t in others if t.unit == topic.unit for p in t.synonyms]
        self.subject_phrases = [p for t in others if t.unit != topic.unit for p in t.synonyms]
        self.phrases = sorted({topic.name, *topic.synonyms}, key=len, reverse=True)
        self.defined: list[str] = []
        counts: dict[str, int] = {}
        for _, sentence in self.sentences:
            match = _DEFINITION.match(sentence)
            if match:
                self.defined.append(match.group("term"))
            for word in {w.lower() for w in _WORD.findall(sentence) if tokens(w)}:
                counts[word] = counts.get(word, 0) + 1
        # Words the material keeps using are its key terms (and their fellow distractors).
        self.keywords = sorted(
            (w for w, n in counts.items() if n >= 2), key=lambda w: (-counts[w], w)
        )

    def cite(self, source: SourceText) -> str:
        where = f", page {source.page}" if source.page is not None else ""
        return f"“{source.title}”{where}"


def _cloze(material: _Material, source: SourceText, sentence: str) -> Iterator[Draft]:
    """One sentence with a key term blanked: a value with its unit, a key word of the
    material, or a name of the topic (the first with three distractors)."""
    lowered = sentence.lower()
    # Where the term is in the sentence, and its distractor pool.
    choices: list[tuple[re.Match[str], list[list[str]]]] = []
    number = _NUMBER.search(sentence)
    if number:
        value, unit = number.group(1), number.group(2) or ""
        choices.append((number, [_number_variants(value, unit)]))
    for word in material.keywords:
        found = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", lowered)
        if found:
            choices.append((found, [[k for k in material.keywords if k != word]]))
            break
    for phrase in material.phrases:
        found = re.search(rf"(?<![\w]){re.escape(phrase.lower())}(?![\w])", lowered)
        if found:
            choices.append((found, [material.unit_phrases, material.subject_phrases]))
            break
    for found, pool in choices:
        term = sentence[found.start() : found.end()]
        distractors = _distinct(term, pool, sentence)
        if len(distractors) < OPTION_COUNT - 1:
            continue
        template = sentence[: found.start()] + BLANK + sentence[found.end() :]
        options, answer = _arrange(term, distractors, template)
        yield Draft(
            stem=f"Fill in the blank: {template}",
            options=options,
            answer=answer,
            explanation=f"From {material.cite(source)}: “{sentence}”",
            evidence=sentence,
            template=template,
        )
        return


def _recall(material: _Material, source: SourceText, sentence: str) -> Iterator[Draft]:
    """A sentence that defines a term ("Inertia is ..."): which term is described so?"""
    match = _DEFINITION.match(sentence)
    if match is None:
        return
    term, verb, rest = match.group("term"), match.group("verb"), match.group("rest")
    keywords = (
        [k.capitalize() for k in material.keywords] if term[:1].isupper() else material.keywords
    )
    tiers = [material.defined, keywords, [n for n in material.topic_names if len(n.split()) <= 4]]
    distractors = _distinct(term, tiers, sentence)
    if len(distractors) < OPTION_COUNT - 1:
        return
    template = sentence[: match.start("term")] + BLANK + sentence[match.end("term") :]
    options, answer = _arrange(term, distractors, template)
    yield Draft(
        stem=f"Which term {verb} {rest.rstrip('.')}?",
        options=options,
        answer=answer,
        explanation=f"From {material.cite(source)}: “{sentence}”",
        evidence=sentence,
        template=template,
    )


def make_drafts(topic: Topic, sources: Sequence[SourceText]) -> Iterator[Draft]:
    """Drafts from the passages in order, recall questions where a sentence defines a term
    and cloze questions otherwise; the caller takes as many as it needs."""
    material = _Material(topic, sources)
    for source, sentence in material.sentences:
        made = list(_recall(material, source, sentence)) or list(_cloze(material, source, sentence))
        yield from made
