"""Deterministic detection of difficulty in a learner's message.

A difficulty phrase is evidence that the learner finds the message's topic hard
(docs/LEARNER_MEMORY.md). The match is a fixed list of patterns, so every signal can be
explained by the phrase that fired. `confusion_phrases` returns canonical names:

- "i don't understand": don't / didn't / can't / unable to / not able to (really) understand,
  "not understanding"
- "don't get it": don't / didn't / can't get, not getting + it / this / that / why / how / what
- "doesn't make sense": doesn't / don't / isn't / not make (any) sense, "makes no sense"
- "not clear": not / isn't / still not (very / fully ...) clear, "unclear"
- "explain again": explain / repeat / go over (it) again / once more / one more time
- "explain more simply": explain (it) simply / in simpler terms / like I'm 5
- "help me understand", "please help" (please / pls / plz help)
- "confused" (confused, confusion), "confusing"
- "stuck", "lost" (I'm / feeling / totally ... lost, "you lost me")
- "struggling": struggle(s/d/ing) with / to / in, "I'm struggling"
- "weak in": weak in / at, "my weak topic / area / chapter"
- "always get it wrong": always / keep / still get(ting) ... wrong;
  "getting it wrong": get / got ... wrong; "keep making mistakes"
- "finding it hard": find(ing) it / this (very) hard / difficult / tough / confusing
- "having trouble": having / facing (a lot of) trouble / difficulty / problems with / in
- "hard for me": hard / difficult / tough / tricky for me
- "difficult" (is / seems / too / very ... difficult),
  "very hard" (too / so / very hard / tough / tricky)
- "no idea" (no idea, no clue, clueless), "don't know how to solve"
- Hinglish: "samajh nahi aa raha", "samajh nahi aaya" (samajh / samaj / samjh ... nahi / nhi),
  "nahi samjha", "confuse ho gaya", "phir se samjhao" (phir se / dobara samjhao),
  "mushkil lag raha" (mushkil)

Apostrophes are removed before matching, so "don't", "dont" and "don’t" are the same. A
phrase describing a state ("confused", "stuck", "difficult", ...) does not count when
negated just before it ("not confused anymore", "no longer stuck", "not that difficult") or
right after it ("confused, but not anymore"). "That makes sense" is not a difficulty phrase.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# (canonical name, pattern, whether a negation in front cancels it). Order matters where two
# patterns can start at the same place: the first listed wins.
_PATTERNS: Final[tuple[tuple[str, str, bool], ...]] = (
    (
        "i don't understand",
        r"(?:dont|do not|didnt|did not|doesnt|does not|cant|cannot|can not|couldnt|could not"
        r"|unable to|not able to)\s+(?:(?:really|fully|quite|totally|completely|even)\s+)?"
        r"understand|not understanding",
        False,
    ),
    (
        "don't get it",
        r"(?:(?:dont|do not|didnt|did not|cant|cannot)\s+(?:really\s+|quite\s+)?get"
        r"|not\s+getting)\s+(?:it|this|that|why|how|what)",
        False,
    ),
    (
        "doesn't make sense",
        r"(?:doesnt|does not|dont|do not|didnt|did not|isnt|is not|not|wont|cant)\s+"
        r"(?:really\s+|quite\s+)?mak(?:e|es|ing)\s+(?:any\s+|much\s+)?sense"
        r"|mak(?:e|es)\s+no\s+sense",
        False,
    ),
    (
        "not clear",
        r"(?:not|isnt|wasnt|arent|still not)\s+(?:(?:very|fully|quite|really|that|so|entirely)"
        r"\s+)?clear|unclear",
        False,
    ),
    (
        "explain again",
        r"(?:explain|repeat|go over)\s+(?:it\s+|this\s+|that\s+)?"
        r"(?:again|once more|one more time)",
        False,
    ),
    (
        "explain more simply",
        r"(?:explain|say)\s+(?:it\s+|this\s+|that\s+)?(?:more\s+)?(?:simply|in simpler terms"
        r"|in simple terms|in easy words|like (?:im|i am) (?:5|five))",
        False,
    ),
    ("help me understand", r"help\s+me\s+(?:to\s+)?understand", False),
    ("please help", r"(?:please|pls|plz)\s+help", False),
    # Hinglish, before "confused" so "confused ho gaya" gets its own name.
    (
        "samajh nahi aa raha",
        r"sam(?:a)?jh?(?:a|i|e)?\s+(?:(?:me|mein|mai|main)\s+)?(?:nahi|nahin|nhi|nai)\s+"
        r"(?:aa?\s*r(?:a)?h[aie]|aa?t[aie])",
        False,
    ),
    (
        "samajh nahi aaya",
        r"sam(?:a)?jh?(?:a|i|e)?\s+(?:(?:me|mein|mai|main)\s+)?(?:nahi|nahin|nhi|nai)"
        r"(?:\s+(?:aaya|aya|aayi|ayi|aai|aaye))?",
        False,
    ),
    ("nahi samjha", r"(?:nahi|nahin|nhi)\s+sam(?:a)?jh?(?:a|i|e|aa)?", False),
    (
        "confuse ho gaya",
        r"confused?\s+(?:ho\s*)?(?:gaya|gayi|gaye|gya|gyi|raha|rahi|rha|rhi|hu|hoon|hun)",
        False,
    ),
    (
        "phir se samjhao",
        r"(?:phir se|fir se|phirse|firse|dobara)\s+(?:samjhao|samjha do|samjhaiye|samjhayiye"
        r"|explain karo|explain kijiye|batao)",
        False,
    ),
    ("mushkil lag raha", r"mushkil", True),
    (
        "finding it hard",
        r"find(?:ing|s)?\s+(?:\w+\s+){1,3}?(?:(?:really|very|so|quite|a bit|kind of|pretty|too)"
        r"\s+)?(?:hard|difficult|tough|confusing|tricky)",
        True,
    ),
    (
        "having trouble",
        r"(?:having|have|had|facing|face)\s+(?:(?:a lot of|lots of|some|real|so much|much)\s+)?"
        r"(?:trouble|difficulty|difficulties|problems?|issues?)\s+"
        r"(?:with|in|understanding|solving|figuring)",
        True,
    ),
    ("hard for me", r"(?:hard|difficult|tough|tricky)\s+for\s+me", True),
    (
        "difficult",
        # Said of the learner's own work ("this is so difficult"), not a ranking ("the most
        # difficult chapter") or a description ("the difficult part").
        r"(?:is|its|seems|feels|looks|getting|too|so|very|really|quite|super|extremely)"
        r"\s+difficult",
        True,
    ),
    (
        "very hard",
        r"(?:too|so|very|really|quite|super|extremely)\s+(?:hard|tough|tricky)",
        True,
    ),
    ("confused", r"confused|confusion", True),
    ("confusing", r"confusing", True),
    ("stuck", r"stuck", True),
    (
        "lost",
        r"(?:(?:im|i am|i feel|feeling|i got|getting|totally|completely)\s+"
        r"(?:(?:so|totally|completely|a bit|kind of|kinda|really|very)\s+)?lost)|you lost me",
        True,
    ),
    (
        "struggling",
        r"struggl(?:e|es|ed|ing)\s+(?:with|to|in|on|a lot|so much)"
        r"|(?:im|i am|really|been)\s+struggling",
        True,
    ),
    (
        "weak in",
        r"weak\s+(?:in|at)|my\s+weak(?:est)?\s+(?:area|topic|subject|point|chapter|spot)s?",
        True,
    ),
    (
        "always get it wrong",
        r"(?:always|keep|keeps|still|often)\s+(?:getting|get|got|gets)\s+(?:\w+\s+){0,5}?wrong",
        True,
    ),
    (
        "getting it wrong",
        r"(?:get|gets|got|getting)\s+(?:(?!nothing\b|none\b)\w+\s+){0,4}?wrong",
        True,
    ),
    (
        "keep making mistakes",
        r"(?:keep|keeps|kept|always)\s+making\s+(?:\w+\s+){0,2}?(?:mistakes?|errors?)",
        True,
    ),
    ("no idea", r"no idea|no clue|not a clue|clueless", True),
    (
        "don't know how to solve",
        r"(?:dont|do not|didnt|did not)\s+know\s+how\s+to\s+"
        r"(?:solve|do|approach|start|answer|attempt)",
        False,
    ),
)

_NAMES: Final = tuple(name for name, _, _ in _PATTERNS)
_NEGATABLE: Final = frozenset(f"p{i}" for i, (_, _, neg) in enumerate(_PATTERNS) if neg)
_MATCHER: Final = re.compile(
    "|".join(rf"\b(?P<p{i}>{pattern})\b" for i, (_, pattern, _) in enumerate(_PATTERNS))
)
# A negation up to two words before the phrase, or "... but not anymore" right after it.
_NEGATED_BEFORE: Final = re.compile(
    r"\b(?:not|no longer|never|isnt|wasnt|arent|werent|dont|doesnt|didnt|no more|hardly"
    r"|barely|nothing)\s+(?:\w+\s+){0,2}$"
)
_NEGATED_AFTER: Final = re.compile(
    r"^[\s,.!]*(?:\w+\s+){0,3}?(?:not|no longer|no more)\s+(?:anymore|any more|now)\b"
)
_APOSTROPHES: Final = str.maketrans("", "", "'’‘`ʼ")


def _normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.lower().translate(_APOSTROPHES).split())


def confusion_phrases(text: str) -> tuple[str, ...]:
    """Canonical names of the difficulty phrases in `text`, in order of first occurrence."""
    normalized = _normalize(text)
    found: list[str] = []
    for match in _MATCHER.finditer(normalized):
        group = match.lastgroup
        if group is None:  # pragma: no cover - every alternative is a named group
            continue
        if group in _NEGATABLE and (
            _NEGATED_BEFORE.search(normalized, max(0, match.start() - 48), match.start())
            or _NEGATED_AFTER.match(normalized[match.end() : match.end() + 48])
        ):
            continue
        name = _NAMES[int(group[1:])]
        if name not in found:
            found.append(name)
    return tuple(found)


def is_confused(text: str) -> bool:
    """Whether the message shows any difficulty phrase."""
    return bool(confusion_phrases(text))
