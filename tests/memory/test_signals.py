"""Difficulty phrases in a learner's message."""

from __future__ import annotations

import pytest

from server.memory.signals import confusion_phrases, is_confused


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't understand projectile motion", "i don't understand"),
        ("i didnt understand the last step", "i don't understand"),
        ("I'm not able to understand hybridisation", "i don't understand"),
        ("dont get it", "don't get it"),
        ("I still don't get why the torque is zero", "don't get it"),
        ("not getting this at all", "don't get it"),
        ("I am confused about Lenz's law", "confused"),
        ("please clear my confusion", "confused"),
        ("this chapter is so confusing", "confusing"),
        ("I'm stuck on question 3", "stuck"),
        ("it doesn't make sense to me", "doesn't make sense"),
        ("this makes no sense", "doesn't make sense"),
        ("still not clear", "not clear"),
        ("the derivation is unclear", "not clear"),
        ("can you explain again?", "explain again"),
        ("please explain it once more", "explain again"),
        ("explain it in simpler terms", "explain more simply"),
        ("I'm totally lost", "lost"),
        ("you lost me at step 2", "lost"),
        ("I'm struggling with integration", "struggling"),
        ("I am weak in organic chemistry", "weak in"),
        ("optics is my weakest chapter", "weak in"),
        ("I always get these questions wrong", "always get it wrong"),
        ("I keep making silly mistakes in calculus", "keep making mistakes"),
        ("what did I get wrong here?", "getting it wrong"),
        ("rotational motion is hard for me", "hard for me"),
        ("I find rotation problems really tough", "finding it hard"),
        ("having trouble with limits", "having trouble"),
        ("this is difficult", "difficult"),
        ("way too hard", "very hard"),
        ("I have no idea where to start", "no idea"),
        ("I don't know how to solve this", "don't know how to solve"),
        ("please help with this question", "please help"),
        ("help me understand entropy", "help me understand"),
    ],
)
def test_difficulty_phrases_are_found(text: str, expected: str) -> None:
    assert expected in confusion_phrases(text)
    assert is_confused(text)


@pytest.mark.parametrize(
    "text",
    [
        "I don't understand",
        "I dont understand",
        "I don’t understand",
        "I don‘t understand",
        "I DO NOT UNDERSTAND",
        "i  don't\n understand",
    ],
)
def test_apostrophe_case_and_spacing_variants(text: str) -> None:
    assert confusion_phrases(text) == ("i don't understand",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("samajh nahi aaya", "samajh nahi aaya"),
        ("sir ye samaj nhi aya", "samajh nahi aaya"),
        ("kuch samajh nahi aa raha", "samajh nahi aa raha"),
        ("samjh nahi aa rha yaar", "samajh nahi aa raha"),
        ("main nahi samjha", "nahi samjha"),
        ("nahi samjhi ye wala part", "nahi samjha"),
        ("confuse ho gaya", "confuse ho gaya"),
        ("main confused ho gayi", "confuse ho gaya"),
        ("phir se samjhao please", "phir se samjhao"),
        ("ye chapter bahut mushkil lag raha hai", "mushkil lag raha"),
    ],
)
def test_hinglish(text: str, expected: str) -> None:
    assert expected in confusion_phrases(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "What is projectile motion?",
        "Thanks, that makes sense!",
        "Got it, that is clear now.",
        "I'm not confused anymore, thanks",
        "I was confused, but not anymore",
        "no longer stuck, solved it",
        "it's not that difficult",
        "this isn't confusing at all",
        "I don't find it hard",
        "the Indian freedom struggle after 1857",
        "don't get me wrong, great explanation",
        "I got nothing wrong in the test!",
        "I lost my notes yesterday",
        "explain the difficulty level of JEE advanced",
        "Which is the most difficult chapter?",
        "explain the difficult part of rotational motion",
        "can you help me plan my week",
        "is this a weak acid?",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert confusion_phrases(text) == ()
    assert not is_confused(text)


def test_phrases_come_once_each_in_order_of_appearance() -> None:
    text = "I'm stuck and confused. So confused! I don't understand, please help"
    assert confusion_phrases(text) == ("stuck", "confused", "i don't understand", "please help")


def test_a_negation_only_cancels_its_own_phrase() -> None:
    assert confusion_phrases("I'm not stuck, but I am confused") == ("confused",)
