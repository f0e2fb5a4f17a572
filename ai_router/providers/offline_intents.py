"""What a learner's message asks for, and in which language: the offline mentor's first step.

Plain word lists, checked in a fixed order (stress before everything: a worried learner who
also names a topic needs empathy first; then greeting, practice, a problem to solve, an
explanation). The server uses `detect_intent` too, to decide whether to look up a bank
question, so both sides agree on what "asking for practice" means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Intent = Literal["greeting", "stress", "practice", "solve", "explain", "general"]

_STRESS: Final = re.compile(
    r"\b(stress\w*|anxi\w*|scared|afraid|fear|panic\w*|overwhelm\w*|depress\w*|tens(e|ed|ion)|"
    r"nervous|worr(y|ied|ying)|demotivat\w*|hopeless|burn(t|ed)? ?out|exhausted|"
    r"fail(ing|ed)?|give up|can'?t focus|cannot focus|lonely|crying|pressure from|"
    r"dar lag\w*|ghabra\w*|pareshan\w*|dukhi|himmat)\b",
    re.IGNORECASE,
)
_CRISIS: Final = re.compile(
    r"\b(suicid\w*|kill myself|end my life|want to die|self[- ]harm|marna chahta|"
    r"marna chahti|jeena nahi)\b",
    re.IGNORECASE,
)
_GREETING: Final = re.compile(
    r"^\s*(hi+|hello+|hey+|hiya|namaste|namaskar|good (morning|afternoon|evening)|yo|"
    r"hola|kaise ho|kaisa hai|sup)\b",
    re.IGNORECASE,
)
_PRACTICE: Final = re.compile(
    r"\b(practi[cs]e|quiz me|test me|mcq\w*|mock|drill|"
    r"give me (a|an|one|some|another) (\w+ )?(question|problem|numerical)|"
    r"(ask|send) me (a|an|one|some) (\w+ )?(question|problem)|"
    r"(question|sawal|prashn?) (do|dena|dijiye|chahiye)|ek (question|sawal))\b",
    re.IGNORECASE,
)
_SOLVE_WORDS: Final = re.compile(
    r"\b(solve|find|calculate|compute|determine|evaluate|how (far|much|many|long|fast)|"
    r"what is the (value|speed|velocity|force|distance|time|ph|molarity)|nikalo|kitna|kitni)\b",
    re.IGNORECASE,
)
_NUMBER: Final = re.compile(r"\d")
# A number with a unit, or an equation: a problem statement.
_QUANTITY: Final = re.compile(
    r"\d\s*(m/s|km/h|kg|g|cm|mm|km|m|s|N|J|W|V|A|ohm|mol|mL|L|M|K|eV|Hz|%|degrees?)\b|=",
)
_EXPLAIN: Final = re.compile(
    r"\b(explain|what (is|are|was|were|does)|why|how (does|do|is|are)|define|definition|"
    r"meaning|concept|difference between|tell me about|describe|understand|"
    r"samjha\w*|samajh\w*|kya (hai|hota|hoti|hote)|kyun|kyu|kaise|matlab|batao)\b",
    re.IGNORECASE,
)

# Hindi written in Latin letters. Strong words are rarely English; weak ones need company.
_HINGLISH_STRONG: Final = frozenset(
    "kya kyun kyu kaise kaisa kaisi kahan kidhar samjhao samjha samajh samajhna batao bataiye "
    "nahi nahin mujhe hamein humko yaar bhai acha accha thoda bahut padhai padhna padh "
    "chahiye karna karo hota hoti hote raha rahi rahe lagta lagti kitna kitni sawal "
    "matlab banta banti wala wali hai hain kab namaste namaskar".split()
)
_HINGLISH_WEAK: Final = frozenset("ka ki ke ko se mein mai main aur ye yeh woh wo ek".split())
_WORD: Final = re.compile(r"[a-zA-Z']+")


@dataclass(frozen=True, slots=True)
class Reading:
    intent: Intent
    hinglish: bool
    crisis: bool = False


def is_hinglish(text: str) -> bool:
    """Two points of Hinglish evidence: a strong word counts 2, a weak one 1."""
    words = [w.lower() for w in _WORD.findall(text)]
    score = 0
    for word in set(words):
        if word in _HINGLISH_STRONG:
            score += 2
        elif word in _HINGLISH_WEAK:
            score += 1
    return score >= 3 or (score >= 2 and len(words) <= 4)


def detect_intent(text: str) -> Intent:
    """The learner's intent (see the module docstring for the order)."""
    if _STRESS.search(text) or _CRISIS.search(text):
        return "stress"
    words = text.split()
    if _GREETING.search(text) and len(words) <= 6 and not _NUMBER.search(text):
        return "greeting"
    if _PRACTICE.search(text):
        return "practice"
    number, explain = _NUMBER.search(text), _EXPLAIN.search(text)
    if _SOLVE_WORDS.search(text) and (number or not explain):
        return "solve"
    if _QUANTITY.search(text) and not explain:
        return "solve"
    if explain:
        return "explain"
    if number and len(words) >= 8:  # a problem statement without a question word
        return "solve"
    return "general"


def read_message(text: str) -> Reading:
    """Intent, language and whether the learner may be in danger (then safety comes first)."""
    return Reading(
        intent=detect_intent(text),
        hinglish=is_hinglish(text),
        crisis=_CRISIS.search(text) is not None,
    )
