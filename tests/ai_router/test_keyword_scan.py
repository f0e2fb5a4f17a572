"""The keyword scan is branched on each keyword's first character for speed (issue 20); it must
find exactly what one plain alternation of the table finds (same labels, words and spans)."""

from __future__ import annotations

import random
import re

from ai_router.topics import KEYWORDS, SCAN_LIMIT, _pattern, keyword_counts, keyword_hits


def _reference() -> re.Pattern[str]:
    """The unoptimised form: one named group per label, each label's words longest first."""
    groups = []
    for label, words in KEYWORDS.items():
        alternatives = "|".join(_pattern(w) for w in sorted(words, key=len, reverse=True))
        groups.append(f"(?P<{label}>(?<![\\w])(?:{alternatives}))")
    return re.compile("|".join(groups), re.IGNORECASE)


REFERENCE = _reference()


def _reference_hits(text: str) -> list[tuple[str | None, str]]:
    return [(m.lastgroup, m.group(0).lower()) for m in REFERENCE.finditer(text, 0, SCAN_LIMIT)]


def _messages() -> list[str]:
    """Keyword soup: every keyword (as a prefix too), cased and glued in ways that test word
    boundaries, longest-first and label order; plus Unicode case variants (ſ, K, İ)."""
    words = [w.rstrip("*") for ws in KEYWORDS.values() for w in ws]
    words += ["the", "of", "ſolve", "\u212ainetic", "İnertia", "x2", "-", "_", "```"]
    rnd = random.Random(20)
    out = []
    for _ in range(3000):
        parts = []
        for _ in range(rnd.randint(1, 30)):
            word = rnd.choice(words)
            if rnd.random() < 0.3:
                word = word.upper()
            if rnd.random() < 0.2:
                word += rnd.choice(["s", "ing", "-x", "ed"])
            if rnd.random() < 0.1:
                word = rnd.choice(["x", "_", "1", "-"]) + word
            parts.append(word)
        out.append(rnd.choice([" ", ", ", "\n", ".", "-"]).join(parts))
    return out


def test_scan_matches_plain_alternation() -> None:
    for text in _messages():
        expected = _reference_hits(text)
        counts, matches = keyword_hits(text)
        assert matches == expected, text
        assert counts == keyword_counts(text)
        assert sum(counts.values()) == len(expected)


def test_scan_stops_at_limit() -> None:
    text = "filler " * (SCAN_LIMIT // 7) + "friction " * 10
    _, matches = keyword_hits(text)
    assert matches == _reference_hits(text)
    assert len(matches) < 10
