"""The offline mentor as a grounded tutor: cites passages (the learner's first), explains with
a worked example, gives bank questions, meets stress with empathy, speaks Hinglish, and takes
another angle on a regenerate; vendors get the same passages in their system prompt."""

from __future__ import annotations

import re

from ai_router import ChatRequest, GroundingPassage, PracticeQuestion, grounding_prompt
from ai_router.providers.offline_intents import detect_intent, is_hinglish
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import FakeVendors
from tests.ai_router.helpers import collect, finish

NOTES = GroundingPassage(
    n=2,
    title="StarGuide notes: Newton's laws of motion",
    text=(
        "Newton's first law says a body keeps its state of motion unless a net force acts. "
        "The third law says forces come in pairs: equal and opposite, on different bodies. "
        "Worked example: A 2 kg block is pushed with 10 N. Step 1: a = 10/2 = 5 m/s^2."
    ),
    source="notes",
)
MINE = GroundingPassage(
    n=1,
    title="Coaching notes, chapter 5",
    page=12,
    text="Third law pairs never cancel because they act on two different bodies. "
    "A horse pulls a cart and the cart pulls the horse back.",
    source="document",
)
QUESTION = PracticeQuestion(
    stem="A ball is thrown horizontally from a 20 m cliff. How long until it lands?",
    options=("1 s", "2 s", "3 s", "4 s"),
    answer=1,
    explanation="h = g t^2 / 2 gives t = 2 s.",
    topic="Kinematics",
)


async def _text(router_factory: RouterFactory, **fields: object) -> str:
    router = router_factory(["offline"])
    return finish(await collect(router, ChatRequest(**fields))).result.text  # type: ignore[arg-type]


async def test_explains_from_the_learners_passage_first_with_citations(
    make_router: RouterFactory,
) -> None:
    text = await _text(make_router, message="Explain Newton's third law", passages=(MINE, NOTES))
    assert "From your notes:" in text
    assert text.index("[1]") < text.index("[2]")  # the learner's own notes come first
    assert "act on two different bodies [1]." in text
    assert "Worked example:" in text and "Step 1" in text


async def test_irrelevant_passages_are_not_cited(make_router: RouterFactory) -> None:
    other = GroundingPassage(n=1, title="Mughals", text="Akbar built the mansabdari system.")
    text = await _text(make_router, message="What is osmosis?", passages=(other,))
    assert "[1]" not in text


async def test_practice_gives_the_bank_question_with_options(make_router: RouterFactory) -> None:
    text = await _text(
        make_router, message="Give me a practice question on projectiles", practice=(QUESTION,)
    )
    assert QUESTION.stem in text
    for letter, option in zip("ABCD", QUESTION.options, strict=True):
        assert f"{letter}) {option}" in text
    assert "2 s." not in text.split("D) 4 s")[-1]  # the answer is not given away


async def test_stress_gets_empathy_before_advice(make_router: RouterFactory) -> None:
    text = await _text(make_router, message="I'm so stressed about failing my exams")
    first = text.split(". ")[0]
    assert "I hear you" in first
    assert text.index("I hear you") < text.index("25 minutes")
    crisis = await _text(make_router, message="I want to end my life, I failed again")
    assert "14416" in crisis and "minutes" not in crisis


async def test_greeting_is_short_and_asks(make_router: RouterFactory) -> None:
    text = await _text(make_router, message="hello!")
    assert len(text.split()) <= 40 and text.rstrip().endswith("?")


async def test_hinglish_gets_hinglish(make_router: RouterFactory) -> None:
    assert is_hinglish("ATP kahan banta hai cell mein?")
    assert not is_hinglish("Explain the main idea of the third law")
    text = await _text(make_router, message="Newton ka third law samjhao", passages=(NOTES,))
    assert "samajhte hain" in text and "[2]" in text


async def test_regenerate_takes_another_angle(make_router: RouterFactory) -> None:
    replies = [
        await _text(make_router, message="Explain Newton's third law", passages=(NOTES,), variant=v)
        for v in range(3)
    ]
    assert len(set(replies)) == 3
    assert all("[2]" in r for r in replies)


async def test_never_claims_to_be_a_language_model(make_router: RouterFactory) -> None:
    for message in ("Are you ChatGPT?", "who are you", "What model are you?"):
        text = (await _text(make_router, message=message)).lower()
        assert "language model" not in text and "as an ai" not in text


def test_intents() -> None:
    assert detect_intent("Hi") == "greeting"
    assert detect_intent("I feel anxious about NEET") == "stress"
    assert detect_intent("quiz me on thermodynamics") == "practice"
    assert detect_intent("A car starts from rest at 2 m/s^2, how far in 5 s?") == "solve"
    assert detect_intent("What is entropy?") == "explain"


async def test_vendors_get_the_passages_in_the_system_prompt(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    router = make_router(["openai"])
    request = ChatRequest(
        message="Explain Newton's third law", system_prompt="Be brief.", passages=(MINE, NOTES)
    )
    await collect(router, request)
    system = fakes.bodies("openai")[-1]["messages"][0]["content"]
    assert system == request.full_system_prompt()
    assert system.startswith("Be brief.") and "cite them as [n]" in system
    assert "[1] Coaching notes, chapter 5, page 12: Third law pairs" in system
    assert re.search(r"\[2\] StarGuide notes: Newton's laws of motion: ", system)
    assert grounding_prompt(()) == ""
