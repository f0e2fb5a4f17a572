"""Topic tagging by meaning, measured on labelled learner messages.

tagging_messages.tsv (>= 100 messages: problem statements without topic words, Hinglish,
typos) must be tagged right first at least 95% of the time. tagging_heldout.tsv was written
after the first key phrases were and never used to tune them; tagging_heldout2.tsv was written
before the key phrases for all 350 topics and the Hinglish filler rule, measured blind, and never
used to tune them either. Their figures are reported in docs/BENCHMARKS.md and only guarded
against regressions here (floors at what they reached, not at 95%).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.memory.taxonomy import Taxonomy, load_taxonomy
from server.retrieval.topics import TopicTagger, TopicText, _meaning_text, load_cues

HERE = Path(__file__).parent


def labelled(name: str) -> list[tuple[str, list[str]]]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            message, accepted = line.split("\t")
            rows.append((message, accepted.split(",")))
    return rows


def top1(taxonomy: Taxonomy, rows: list[tuple[str, list[str]]]) -> tuple[float, list[str]]:
    misses = []
    for message, accepted in rows:
        matches = taxonomy.tag(message)
        got = matches[0].topic.id if matches else None
        if got not in accepted:
            misses.append(f"{message!r}: wanted {accepted[0]}, got {got}")
    return 1 - len(misses) / len(rows), misses


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_the_labelled_set_is_big_varied_and_names_real_topics(taxonomy: Taxonomy) -> None:
    rows = labelled("tagging_messages.tsv")
    assert len(rows) >= 100
    assert all(t in taxonomy.topics for _, accepted in rows for t in accepted)
    hinglish = [m for m, _ in rows if any(w in m.split() for w in ("kya", "hai", "kaise"))]
    assert len(hinglish) >= 15
    # Most of the set names no topic: the phrase lookup alone tags under half of it right.
    phrase_only = Taxonomy(taxonomy.subjects.values(), taxonomy.topics.values())
    assert top1(phrase_only, rows)[0] < 0.5


def test_top1_on_labelled_learner_messages_is_at_least_95_percent(taxonomy: Taxonomy) -> None:
    accuracy, misses = top1(taxonomy, labelled("tagging_messages.tsv"))
    assert accuracy >= 0.95, "\n".join(misses)


def test_held_out_messages_do_not_regress(taxonomy: Taxonomy) -> None:
    accuracy, misses = top1(taxonomy, labelled("tagging_heldout.tsv"))
    # 0.46 when written, 0.51 with cues for every topic; see docs/BENCHMARKS.md
    assert accuracy >= 0.51, "\n".join(misses)


def test_second_held_out_set_does_not_regress(taxonomy: Taxonomy) -> None:
    rows = labelled("tagging_heldout2.tsv")
    assert len(rows) >= 40
    assert all(t in taxonomy.topics for _, accepted in rows for t in accepted)
    assert len({accepted[0].split(".")[0] for _, accepted in rows}) == len(taxonomy.subjects)
    accuracy, misses = top1(taxonomy, rows)
    # 0.62 measured blind before the change, 0.72 after; see docs/BENCHMARKS.md
    assert accuracy >= 0.72, "\n".join(misses)


def test_tuning_set_does_not_regress(taxonomy: Taxonomy) -> None:
    # Written after the key phrases to choose the weights and filler words: not held out.
    accuracy, misses = top1(taxonomy, labelled("tagging_dev.tsv"))
    assert accuracy >= 0.84, "\n".join(misses)  # 0.85; see docs/BENCHMARKS.md


def test_every_syllabus_topic_has_key_phrases(taxonomy: Taxonomy) -> None:
    cues = load_cues()
    missing = [t for t in taxonomy.topics if len(cues.get(t, ())) < 2]
    assert missing == []


def test_hinglish_filler_words_are_not_embedded() -> None:
    assert _meaning_text("pendulum ka time period kaise nikale?") == "pendulum time period"
    assert _meaning_text("kya hai") == "kya hai"  # nothing else left: kept as it is


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A car starts from rest at 2 m/s^2, how far in 5 s?", "physics.kinematics"),
        ("ATP kahan banta hai cell mein?", "biology.respiration_plants"),
        ("pendulum ka time period kaise nikale", "physics.shm"),
        ("how many moles in 36 g of water", "chemistry.mole_concept"),
    ],
)
def test_problem_statements_and_hinglish_get_a_topic(
    taxonomy: Taxonomy, text: str, expected: str
) -> None:
    matches = taxonomy.tag(text)
    assert matches and matches[0].topic.id == expected
    assert matches[0].phrases == ()  # found by meaning: no phrase to explain it
    assert len(matches) == 1  # meaning alone never adds a second guess


def test_a_named_topic_keeps_its_phrase_tag(taxonomy: Taxonomy) -> None:
    matches = taxonomy.tag("I don't understand projectile motion and Newton's laws")
    assert [m.topic.id for m in matches][:2] == ["physics.kinematics", "physics.laws_of_motion"]
    assert matches[0].phrases == ("projectile motion",)


@pytest.mark.parametrize(
    "text",
    [
        "give me a practice problem",
        "what should I study today",
        "can you help me",
        "I'm stressed about failing",
        "good morning sir",
        "make a study plan for me",
    ],
)
def test_small_talk_gets_no_topic(taxonomy: Taxonomy, text: str) -> None:
    assert taxonomy.tag(text) == []


def test_cues_for_unknown_topics_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unknown topics"):
        TopicTagger([TopicText("physics.a", ("A",))], cues={"physics.b": ["x"]})
