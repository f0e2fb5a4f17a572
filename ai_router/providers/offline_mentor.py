"""A deterministic local tutor: no network, grounded in passages, streamed word by word.

It reads what the learner asks for (offline_intents: greeting, stress, practice, a problem,
an explanation; English or Hinglish) and composes from the request's numbered passages: the
learner's own documents first, then the knowledge the app ships (topic notes, question-bank
explanations), quoting their best sentences with `[n]`. Explanations end with a worked
example and a check; practice gives a bank question with options A-D; stress is met with
empathy before any study advice; a greeting gets a short reply. `variant` (a regenerate)
changes the angle: the order, the sentences chosen and the closing question. Same request,
same text (no randomness). Usage is a word count, so it is reported as estimated.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from ai_router.providers import offline_replies as say
from ai_router.providers.base import ProviderCall, ProviderEvent, ProviderFinish, ProviderUsage
from ai_router.providers.offline_intents import Reading, read_message
from ai_router.providers.offline_knowledge import (
    EXAMPLE_MARK,
    match_notes,
    sentences,
    tokens,
)
from ai_router.request import GroundingPassage, PracticeQuestion
from ai_router.topics import SUBJECT_LABELS, keyword_hits, subject_of

_WORD = re.compile(r"\S+\s*")
_GIVEN = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:m/s\^?2|m/s|km/h|kg|g|cm|mm|km|m|s|min|N|J|W|V|A|ohm|mol|mL|L|M|K|"
    r"eV|Hz|%|degrees?)(?![a-zA-Z])"
)
_LETTERS = "ABCDEF"


@dataclass(frozen=True, slots=True)
class Source:
    """A passage split for composing: `n` None for the provider's own notes (not citable)."""

    n: int | None
    title: str
    body: tuple[str, ...]
    example: str | None
    from_learner: bool

    def cite(self, sentence: str) -> str:
        """`sentence` with this source's `[n]` before its final stop."""
        if self.n is None:
            return sentence
        if sentence[-1:] in ".!?":
            return f"{sentence[:-1]} [{self.n}]{sentence[-1]}"
        return f"{sentence} [{self.n}]"


def _source(passage: GroundingPassage) -> Source:
    body, mark, example = passage.text.partition(EXAMPLE_MARK)
    found = example.strip() if mark else None
    parts = sentences(body)
    if found is None:  # a learner's page: its own "for example" sentence, if any
        found = next((s for s in parts if "example" in s.lower() or "e.g." in s), None)
    title = passage.title.split(": ", 1)[-1] if passage.source != "document" else passage.title
    return Source(passage.n, title, tuple(parts), found, passage.source == "document")


def sources_for(message: str, passages: Sequence[GroundingPassage]) -> list[Source]:
    """Passages that share a content word with the message, the learner's own first (the
    server ranked them; this keeps a vendor-grade order without trusting it blindly). With
    no passages, the shipped notes stand in, uncited."""
    wanted = set(tokens(message))
    relevant = [
        _source(p)
        for p in passages
        if p.source == "document" or wanted & set(tokens(f"{p.title} {p.text}"))
    ]
    relevant = [s for s in relevant if s.body and (not s.from_learner or _overlap(s, wanted))]
    relevant.sort(key=lambda s: not s.from_learner)  # stable: server order within each group
    if relevant or passages:
        return relevant
    return [
        Source(None, note.title, tuple(sentences(note.text)), note.example, False)
        for note in match_notes(message)
    ]


def _overlap(source: Source, wanted: set[str]) -> int:
    return len(wanted & set(tokens(" ".join(source.body))))


def sentence_score(source: Source, index: int, message: str) -> float:
    """Shared words weighted by how few of the passage's sentences hold them (a word every
    sentence has tells nothing), plus one per shared word pair ("third law")."""
    wanted = tokens(message)
    words = tokens(source.body[index])
    held = [set(tokens(s)) for s in source.body]
    score = sum(1 / sum(w in h for h in held) for w in set(wanted) & set(words))
    pairs = set(itertools.pairwise(words))
    return score + sum(1 for pair in itertools.pairwise(wanted) if pair in pairs)


def best_sentences(source: Source, message: str, *, count: int, skip: int = 0) -> list[str]:
    """The `count` sentences sharing most words with the message (after skipping the best
    `skip`: a regenerate quotes different ones), in their order in the passage."""
    ranked = sorted(range(len(source.body)), key=lambda i: (-sentence_score(source, i, message), i))
    chosen = ranked[skip : skip + count] or ranked[:count]
    return [source.body[i] for i in sorted(chosen)]


def _weak_line(message: str, weak_topics: tuple[str, ...], hi: bool) -> str | None:
    if not weak_topics:
        return None
    lowered = message.lower()
    related = [
        t
        for t in weak_topics
        if any(len(w) >= 4 and w.rstrip("s") in lowered for w in t.lower().split())
    ]
    if related:
        return say.WEAK_RELATED[hi].format(topics=", ".join(related))
    return say.WEAK_OTHER[hi].format(topics=", ".join(weak_topics))


def _pick(options: tuple[str, ...], variant: int) -> str:
    return options[variant % len(options)]


# ---- by intent ---------------------------------------------------------------------------
def _explain(message: str, found: list[Source], reading: Reading, variant: int) -> list[str]:
    hi, angle = reading.hinglish, variant % 3
    main = found[0]
    shipped = next((s for s in found if not s.from_learner), None)
    example_source = next((s for s in found if s.example), None)
    parts = [say.EXPLAIN_OPEN[hi][angle].format(title=main.title)]
    quoted: list[str] = []
    if main.from_learner:
        quoted.append(say.FROM_NOTES[hi])
    count = 1 if angle == 2 else 2
    quoted.extend(main.cite(s) for s in best_sentences(main, message, count=count, skip=angle))
    if main.from_learner and shipped is not None:
        quoted.extend(shipped.cite(s) for s in best_sentences(shipped, message, count=1))
    example: list[str] = []
    if example_source is not None and example_source.example:
        text = example_source.cite(example_source.example)
        if angle == 2:
            example = [say.TRY_FIRST[hi], text]
        else:
            example = [say.EXAMPLE[hi], text]
    if angle == 1 and example:
        parts += [*example, say.IDEA[hi], *quoted]
    else:
        parts += quoted + example
    parts.append(_pick(say.CHECKS[hi], angle))
    return parts


def _solve(message: str, found: list[Source], reading: Reading, variant: int) -> list[str]:
    hi, angle = reading.hinglish, variant % 3
    parts = [say.SOLVE_OPEN[hi][angle]]
    given = ", ".join(m.group(0) for m in _GIVEN.finditer(message))
    steps = [say.GIVEN[hi].format(given=given) if given else say.GIVEN_NONE[hi]]
    main = found[0] if found else None
    if main is not None:
        rule = [s for s in main.body if "=" in s] or best_sentences(main, message, count=1)
        steps.append(f"{say.RULE[hi]} {main.cite(rule[angle % len(rule)])}")
    else:
        counts, _ = keyword_hits(message)
        steps.append(say.STEPS[subject_of(counts)])
    _, matches = keyword_hits(message)
    hint = next((say.HINTS[w] for _, w in matches if w in say.HINTS), None)
    if hint:
        steps.append(hint)
    solved = next((s for s in found if s.example), None)
    worked = [say.SIMILAR[hi], solved.cite(solved.example)] if solved and solved.example else []
    parts += (worked + steps) if angle == 1 else (steps + worked)
    parts.append(say.SOLVE_CLOSE[hi])
    return parts


def _practice(
    message: str, practice: Sequence[PracticeQuestion], found: list[Source], hi: bool, variant: int
) -> list[str]:
    if not practice:
        solved = next((s for s in found if s.example), None)
        if solved is None or not solved.example:
            return [say.PRACTICE_NONE[hi], say.QUESTIONS[None]]
        return [say.PRACTICE_NONE[hi], solved.example.split(" Step 1:")[0]]
    q = practice[variant % len(practice)]
    on = f" on {q.topic}" if q.topic else ""
    lines = [say.PRACTICE_OPEN[hi].format(on=on), "", q.stem, ""]
    lines += [f"{_LETTERS[i]}) {option}" for i, option in enumerate(q.options)]
    lines += ["", say.PRACTICE_CLOSE[hi]]
    return ["\n".join(lines)]


def _stress(reading: Reading, weak_topics: tuple[str, ...], variant: int) -> list[str]:
    hi = reading.hinglish
    if reading.crisis:
        return [say.CRISIS[hi]]
    parts = [_pick(say.EMPATHY[hi], variant), _pick(say.ADVICE[hi], variant)]
    if weak_topics:
        parts.append(
            f"We can start with {weak_topics[0]}, one small step at a time."
            if not hi
            else f"Hum {weak_topics[0]} se shuru kar sakte hain, ek chhota step at a time."
        )
    parts.append(say.STRESS_CLOSE[hi])
    return parts


def _guide(message: str, hi: bool) -> list[str]:
    counts, matches = keyword_hits(message)
    subject = subject_of(counts)
    label = f"{SUBJECT_LABELS[subject]} " if subject else ""
    parts = [say.GUIDE_OPEN[hi].format(subject=label), say.QUESTIONS[subject], say.STEPS[subject]]
    hint = next((say.HINTS[w] for _, w in matches if w in say.HINTS), None)
    if hint:
        parts.append(hint)
    parts.append("For example, try it on the simplest case first and tell me what you get.")
    return parts


def compose_reply(
    message: str,
    weak_topics: tuple[str, ...] = (),
    *,
    passages: Sequence[GroundingPassage] = (),
    practice: Sequence[PracticeQuestion] = (),
    variant: int = 0,
) -> str:
    """The full deterministic reply (exposed for tests and docs)."""
    reading = read_message(message)
    hi = reading.hinglish
    if reading.intent == "greeting":
        return _pick(say.GREETINGS[hi], variant)
    if reading.intent == "stress":
        return " ".join(_stress(reading, weak_topics, variant))
    found = sources_for(message, passages)
    if reading.intent == "practice":
        parts = _practice(message, practice, found, hi, variant)
    elif reading.intent == "solve":
        parts = _solve(message, found, reading, variant)
    elif found:
        parts = _explain(message, found, reading, variant)
    else:
        parts = _guide(message, hi)
    if reading.intent != "practice" and (weak := _weak_line(message, weak_topics, hi)):
        parts.insert(len(parts) - 1, weak)
    return " ".join(parts)


class OfflineProvider:
    """Streams `compose_reply` word by word with `token_delay_s` between words."""

    name = "offline"

    def __init__(self, *, token_delay_s: float) -> None:
        self._delay = token_delay_s

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        text = compose_reply(
            call.message,
            call.weak_topics,
            passages=call.passages,
            practice=call.practice,
            variant=call.variant,
        )
        if call.partial:
            # Continue our own text if the partial is a prefix of it; else add ours after it.
            text = text[len(call.partial) :] if text.startswith(call.partial) else "\n\n" + text
        words = _WORD.findall(text)
        for word in words:
            if self._delay:
                await asyncio.sleep(self._delay)
            yield word
        prompt_words = (
            len(call.message.split())
            + len(call.system_prompt.split())
            + sum(len(t.content.split()) for t in call.history)
        )
        yield ProviderUsage(input_tokens=prompt_words, output_tokens=len(words), estimated=True)
        yield ProviderFinish("stop")

    async def aclose(self) -> None:
        return None
