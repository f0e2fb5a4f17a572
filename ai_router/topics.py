"""Compact keyword table used both to classify tasks and by the offline mentor.

Keywords ending in `*` match as word prefixes ("integra*" matches integral, integrate);
others match whole words only, so short ones ("sin", "ph") do not fire inside other words.
One compiled regex with a named group per label keeps classification to a single scan.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final, Literal

Subject = Literal["physics", "chemistry", "maths", "biology", "upsc_gs"]
SUBJECTS: Final[tuple[Subject, ...]] = ("physics", "chemistry", "maths", "biology", "upsc_gs")

SUBJECT_LABELS: Final[dict[Subject, str]] = {
    "physics": "physics",
    "chemistry": "chemistry",
    "maths": "maths",
    "biology": "biology",
    "upsc_gs": "UPSC general studies",
}

KEYWORDS: Final[dict[str, tuple[str, ...]]] = {
    "physics": (
        "velocit*",
        "acceleration",
        "accelerat*",
        "force*",
        "newton*",
        "momentum",
        "friction*",
        "projectile*",
        "kinematic*",
        "gravit*",
        "torque",
        "inertia",
        "displacement",
        "speed",
        "circuit*",
        "resist*",
        "voltage",
        "current",
        "capacit*",
        "magnet*",
        "electrostat*",
        "optic*",
        "lens",
        "lenses",
        "refract*",
        "reflect*",
        "wavelength*",
        "wave*",
        "photon*",
        "thermodynamic*",
        "heat engine*",
        "entropy",
        "pendulum*",
        "oscillat*",
        "spring*",
        "work-energy",
        "kinetic",
        "potential energy",
        "collision*",
        "ohm*",
        "physics",
        "semiconductor*",
        "nucle*",
        "doppler",
        "fluid*",
        "pressure",
        "buoyan*",
        "m/s",
    ),
    "chemistry": (
        "mole",
        "moles",
        "molar*",
        "reaction*",
        "equilibri*",
        "ph",
        "acid*",
        "base",
        "bases",
        "oxidation",
        "reduction",
        "redox",
        "organic",
        "alkane*",
        "alkene*",
        "alkyne*",
        "benzene",
        "hybridi*",
        "periodic",
        "electrochem*",
        "enthalp*",
        "titration*",
        "stoichiometr*",
        "isomer*",
        "ionic",
        "covalent",
        "bond*",
        "valence",
        "electron*",
        "orbital*",
        "catalys*",
        "chemistry",
        "chemical*",
        "compound*",
        "salt*",
        "ester*",
        "aldehyde*",
        "ketone*",
        "buffer*",
        "solubility",
        "gibbs",
        "kinetics",
        "polymer*",
    ),
    "maths": (
        "integra*",
        "derivative*",
        "differentia*",
        "limit*",
        "matri*",
        "determinant*",
        "probabilit*",
        "quadratic*",
        "polynomial*",
        "triangle*",
        "trigonometr*",
        "sin",
        "cos",
        "tan",
        "log",
        "logarithm*",
        "sequence*",
        "series",
        "vector*",
        "equation*",
        "inequalit*",
        "permutation*",
        "combination*",
        "binomial",
        "parabola*",
        "ellipse*",
        "hyperbola*",
        "circle*",
        "coordinate*",
        "calculus",
        "maths",
        "math",
        "mathematics",
        "function*",
        "complex number*",
        "prove",
        "theorem*",
        "area under",
        "dy/dx",
        "x^2",
        "root*",
    ),
    "biology": (
        "cell",
        "cells",
        "dna",
        "rna",
        "gene*",
        "photosynthe*",
        "enzyme*",
        "mitosis",
        "meiosis",
        "evolution*",
        "ecolog*",
        "hormone*",
        "kidney*",
        "nephron*",
        "heart",
        "neuron*",
        "protein*",
        "chromosom*",
        "inherit*",
        "mendel*",
        "biology",
        "respiration",
        "digest*",
        "blood",
        "immun*",
        "plant*",
        "organism*",
        "ecosystem*",
        "bacteri*",
        "virus*",
        "reproduct*",
        "anatomy",
        "physiolog*",
        "ncert biology",
        "neet",
    ),
    "upsc_gs": (
        "constitution*",
        "article",
        "parliament*",
        "polity",
        "governance",
        "economy",
        "gdp",
        "inflation",
        "fiscal",
        "monetary",
        "rbi",
        "history",
        "mughal*",
        "freedom struggle",
        "colonial*",
        "geography",
        "monsoon*",
        "ethics",
        "gs",
        "gs1",
        "gs2",
        "gs3",
        "gs4",
        "mains",
        "prelims",
        "upsc",
        "fundamental right*",
        "panchayat*",
        "federalism",
        "judiciary",
        "supreme court",
        "president",
        "governor*",
        "policy",
        "policies",
        "welfare",
        "agricultur*",
        "environment*",
        "climate",
        "international relations",
        "bilateral",
        "reform*",
        "democracy",
        "secularism",
        "directive principle*",
    ),
    # Task cues (not subjects).
    "code": (
        "python",
        "java",
        "javascript",
        "c++",
        "code",
        "coding",
        "program",
        "programming",
        "function in",
        "compile*",
        "bug",
        "debug*",
        "algorithm*",
        "script",
        "sql",
        "api",
        "stack trace",
        "traceback",
        "syntax error",
        "runtime error",
    ),
    "revision": (
        "summar*",
        "revise",
        "revision",
        "recap",
        "key points",
        "cheat sheet",
        "quick notes",
        "short notes",
        "flashcard*",
        "mind map",
        "one-pager",
        "bullet points",
        "revise*",
    ),
    "longform": (
        "answer writing",
        "in 150 words",
        "in 250 words",
        "150 words",
        "250 words",
        "essay",
        "critically",
        "examine",
        "elaborate",
        "discuss",
        "comment on",
        "analyse",
        "analyze",
        "evaluate the",
        "mains answer",
    ),
    "problem": (
        "solve",
        "find",
        "calculate",
        "compute",
        "derive",
        "prove",
        "evaluate",
        "determine",
        "how many",
        "how much",
        "step by step",
        "step-by-step",
        "steps",
        "show that",
        "numerical",
        "what is the value",
        "value of",
    ),
}


def _pattern(word: str) -> str:
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"[\w-]*"
    return re.escape(word) + r"(?![\w])"


def _group(label: str, words: tuple[str, ...]) -> str:
    # Longest first so "potential energy" wins over shorter alternatives.
    alternatives = "|".join(_pattern(w) for w in sorted(words, key=len, reverse=True))
    return f"(?P<{label}>(?<![\\w])(?:{alternatives}))"


_REGEX: Final[re.Pattern[str]] = re.compile(
    "|".join(_group(label, words) for label, words in KEYWORDS.items()), re.IGNORECASE
)

# Planning must stay well under 100 µs, so only the start of a long message is scanned.
SCAN_LIMIT: Final[int] = 1500


def keyword_hits(text: str) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Count keyword hits per label; also return (label, matched word) pairs in order."""
    counts: Counter[str] = Counter()
    matches: list[tuple[str, str]] = []
    for m in _REGEX.finditer(text, 0, SCAN_LIMIT):
        label = m.lastgroup
        if label is not None:
            counts[label] += 1
            matches.append((label, m.group(0).lower()))
    return counts, matches


def subject_of(counts: Counter[str]) -> Subject | None:
    """The subject with most hits (ties go to the earlier subject in `SUBJECTS`)."""
    best: Subject | None = None
    best_n = 0
    for subject in SUBJECTS:
        n = counts.get(subject, 0)
        if n > best_n:
            best, best_n = subject, n
    return best
