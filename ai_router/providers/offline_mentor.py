"""A deterministic local mentor: no network, useful guidance, streamed word by word.

It recognises the subject, asks a Socratic question, gives a first step, and points to the
learner's weak topics. Same request, same text (choices hash the message with sha256, not
Python's randomised `hash`). Usage is a word count, so it is reported as estimated.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncGenerator

from ai_router.providers.base import ProviderCall, ProviderEvent, ProviderFinish, ProviderUsage
from ai_router.topics import SUBJECT_LABELS, Subject, keyword_hits, subject_of

_QUESTIONS: dict[Subject | None, tuple[str, ...]] = {
    "physics": (
        "Before reaching for a formula: which quantities are given, which one is asked for, "
        "and which law links them — Newton's laws, energy conservation or the kinematic "
        "equations?",
        "What would you see if you drew the situation: which forces or fields act, and in "
        "which directions?",
    ),
    "chemistry": (
        "What is actually changing here — the number of moles, the bonding, or the energy of "
        "the system — and which quantity in the question tells you that?",
        "Can you write the balanced equation first? What does it say about the ratio of "
        "reactants to products?",
    ),
    "maths": (
        "What kind of object are you working with, and which standard result or identity is "
        "built for exactly that form?",
        "Can you try a simpler special case first (a small number, a particular value) and "
        "see what pattern appears?",
    ),
    "biology": (
        "Where in the organism or cell does this happen, and what is its purpose for survival?",
        "Which structure does this process depend on, and what would go wrong if that "
        "structure failed?",
    ),
    "upsc_gs": (
        "Which part of the syllabus does this sit in, and what would a balanced answer need: "
        "context, both sides of the argument, and a way forward?",
        "What are the two or three dimensions (constitutional, economic, social) an examiner "
        "expects you to cover here?",
    ),
    None: (
        "What do you already know about this, and where exactly do you get stuck?",
        "Can you restate the question in your own words, and say what a good answer must contain?",
    ),
}

_STEPS: dict[Subject | None, str] = {
    "physics": "First step: list the knowns with their units, mark the unknown, and draw a "
    "quick diagram with directions. Then write the one equation that connects them before "
    "putting in any numbers.",
    "chemistry": "First step: write the balanced equation (or the structure) and convert every "
    "given quantity to moles. Most numericals become a ratio problem after that.",
    "maths": "First step: write down what is given and what must be found, then rewrite the "
    "expression into a standard form (factorise, substitute, or use an identity) before "
    "calculating.",
    "biology": "First step: name the structure involved and the sequence of events in order; "
    "a labelled flow diagram is the fastest way to remember it for NEET.",
    "upsc_gs": "First step: frame an introduction in two lines (definition or recent context), "
    "then plan three or four body points under clear sub-headings and end with a way forward.",
    None: "First step: break the question into what is given, what is asked, and what idea "
    "connects the two.",
}

_KEYWORD_HINTS: dict[str, str] = {
    "projectile": "Hint: treat horizontal and vertical motion separately; only the vertical "
    "part feels g, and time of flight links the two.",
    "friction": "Hint: friction opposes relative motion; check whether the body actually "
    "slides before using μN.",
    "circuit": "Hint: reduce series and parallel groups step by step, then apply Ohm's law "
    "and Kirchhoff's rules.",
    "current": "Hint: the current is the same through series elements; the voltage is the same "
    "across parallel ones.",
    "momentum": "Hint: if no external force acts along a direction, momentum along it is "
    "conserved.",
    "lens": "Hint: use the lens formula with the sign convention fixed before you substitute.",
    "mole": "Hint: moles = mass / molar mass; everything else follows from the ratio in the "
    "balanced equation.",
    "molarity": "Hint: molarity = moles of solute / volume of solution in litres.",
    "equilibrium": "Hint: write the expression for K first, then use an ICE table.",
    "integral": "Hint: look for a substitution that turns part of the integrand into the "
    "derivative of another part; otherwise try integration by parts.",
    "integrate": "Hint: look for a substitution that turns part of the integrand into the "
    "derivative of another part; otherwise try integration by parts.",
    "derivative": "Hint: identify whether you need the product, quotient or chain rule before "
    "differentiating.",
    "probability": "Hint: define the sample space clearly and count favourable outcomes; check "
    "whether events are independent.",
    "quadratic": "Hint: the discriminant tells you the nature of the roots before you solve.",
    "photosynthesis": "Hint: separate the light reactions (thylakoid) from the Calvin cycle "
    "(stroma) and track where ATP and NADPH go.",
    "mitosis": "Hint: follow the chromosomes phase by phase; count chromatids at each stage.",
    "dna": "Hint: remember the direction (5' to 3') and base pairing rules first.",
    "constitution": "Hint: cite the relevant Article and a landmark judgment to anchor your "
    "answer.",
    "federalism": "Hint: contrast the constitutional design with how it works in practice, "
    "with one recent example.",
    "inflation": "Hint: separate demand-pull from cost-push causes, then mention the RBI's tools.",
}

_WORD = re.compile(r"\S+\s*")


def _pick(options: tuple[str, ...], seed: int) -> str:
    return options[seed % len(options)]


def compose_reply(message: str, weak_topics: tuple[str, ...]) -> str:
    """The full deterministic reply for `message` (exposed for tests and docs)."""
    seed = int.from_bytes(hashlib.sha256(message.encode()).digest()[:4], "big")
    counts, matches = keyword_hits(message)
    subject = subject_of(counts)
    parts: list[str] = []
    if subject is not None:
        parts.append(f"Let's work through this {SUBJECT_LABELS[subject]} question together.")
    else:
        parts.append("Let's work through this together.")
    parts.append(_pick(_QUESTIONS[subject], seed))
    parts.append(_STEPS[subject])
    for _, word in matches:
        hint = _KEYWORD_HINTS.get(word)
        if hint is not None:
            parts.append(hint)
            break
    if weak_topics:
        lowered = message.lower()
        related = [
            t
            for t in weak_topics
            if any(len(w) >= 4 and w.rstrip("s") in lowered for w in t.lower().split())
        ]
        if related:
            parts.append(
                f"This touches {', '.join(related)}, which you marked as a weak topic, so go "
                "slowly and check each step."
            )
        else:
            parts.append(
                f"Once this is clear, let's revisit your weak topics: {', '.join(weak_topics)}."
            )
    parts.append("Try the first step and tell me what you get; I'll check it with you.")
    parts.append("(Offline mentor: a guided start while the AI service is unavailable.)")
    return " ".join(parts)


class OfflineProvider:
    """Streams `compose_reply` word by word with `token_delay_s` between words."""

    name = "offline"

    def __init__(self, *, token_delay_s: float) -> None:
        self._delay = token_delay_s

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        text = compose_reply(call.message, call.weak_topics)
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
