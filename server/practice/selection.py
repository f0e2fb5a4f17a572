"""Which questions a test asks: pure, given the candidates and the learner's priorities.

Per section, up to `PRIORITY_SHARE` of the questions come from the learner's priority topics
(due FSRS reviews first, then weak topics from learner memory), one question per topic in
turn; the rest are spread over every topic of the section that has questions, one per topic
in turn in a random order, so the test covers the syllabus rather than following where the
bank happens to be dense (the taxonomy gives topics no weights: each weighs the same). No
question appears twice in a test; a section with fewer questions than asked for is capped.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Final

from server.practice.patterns import SectionSpec
from server.quiz.service import Candidate

PRIORITY_SHARE: Final = 0.3


def _round_robin(
    pools: dict[str, list[Candidate]], order: Sequence[str], wanted: int, used: set[object]
) -> list[Candidate]:
    """One question per topic in `order`, round after round, until `wanted` or dry."""
    chosen: list[Candidate] = []
    live = [t for t in order if pools.get(t)]
    while live and len(chosen) < wanted:
        next_live = []
        for topic in live:
            if len(chosen) >= wanted:
                break
            pool = pools[topic]
            while pool and pool[-1].id in used:
                pool.pop()
            if not pool:
                continue
            question = pool.pop()
            used.add(question.id)
            chosen.append(question)
            if pool:
                next_live.append(topic)
        live = next_live
    return chosen


def draw(
    candidates: Iterable[Candidate],
    sections: Sequence[SectionSpec],
    *,
    priority_topics: Sequence[str] = (),
    rng: random.Random | None = None,
) -> list[tuple[SectionSpec, list[Candidate]]]:
    """The questions of each section, shuffled within it; sections keep their order."""
    rng = rng or random.Random()  # noqa: S311 - variety, not a secret
    unique = {c.id: c for c in candidates}
    used: set[object] = set()
    drawn = []
    for section in sections:
        pools: dict[str, list[Candidate]] = {}
        for c in unique.values():
            if c.subject in section.subjects:
                pools.setdefault(c.topic_id, []).append(c)
        for pool in pools.values():
            rng.shuffle(pool)
        priority = [t for t in dict.fromkeys(priority_topics) if t in pools]
        share = min(section.questions, int(section.questions * PRIORITY_SHARE))
        chosen = _round_robin(pools, priority, share, used) if priority else []
        spread = sorted(pools)
        rng.shuffle(spread)
        chosen += _round_robin(pools, spread, section.questions - len(chosen), used)
        rng.shuffle(chosen)
        drawn.append((section, chosen))
    return drawn
