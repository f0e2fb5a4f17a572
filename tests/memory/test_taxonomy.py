"""The shipped syllabus taxonomy and the deterministic topic tagger."""

from __future__ import annotations

import json
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest

from server.memory.taxonomy import (
    NAME_WEIGHT,
    Taxonomy,
    TopicMatch,
    load_taxonomy,
    subject_of,
    tokenize,
)

# Bare everyday words that must never be a whole phrase on their own.
EVERYDAY = {
    "force", "work", "power", "current", "cell", "state", "right", "energy", "rate", "order",
    "function", "set", "field", "mass", "change", "solution", "limit", "relation", "plane",
    "combination", "translation", "system", "process", "value", "resistance", "std", "ncr",
    "gupta", "kabir", "integral", "systematic", "cite", "upsc", "ai", "history", "time",
}  # fmt: skip


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def ids(matches: list[TopicMatch]) -> list[str]:
    return [m.topic.id for m in matches]


def small(topics: list[dict[str, Any]], **subject: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "subjects": [
            {"id": "physics", "name": "Physics", "exams": ["JEE", "NEET"], **subject},
            {"id": "biology", "name": "Biology", "exams": ["NEET"]},
        ],
        "topics": topics,
    }


def topic(topic_id: str, name: str, *synonyms: str, subject: str = "physics") -> dict[str, Any]:
    return {"id": topic_id, "name": name, "subject": subject, "unit": "U", "synonyms": synonyms}


# --- the data -----------------------------------------------------------------------------


def test_the_packaged_data_loads_validates_and_is_cached(taxonomy: Taxonomy) -> None:
    assert load_taxonomy() is taxonomy
    assert 250 <= len(taxonomy.topics) <= 400
    per_subject = Counter(t.subject for t in taxonomy.topics.values())
    assert set(per_subject) == set(taxonomy.subjects)
    assert all(count >= 10 for count in per_subject.values()), per_subject
    assert {e for s in taxonomy.subjects.values() for e in s.exams} == {"JEE", "NEET", "UPSC"}
    assert len(taxonomy.topics_of("upsc_gs4")) == per_subject["upsc_gs4"]


def test_every_topic_is_well_formed(taxonomy: Taxonomy) -> None:
    for t in taxonomy.topics.values():
        assert t.id.startswith(f"{t.subject}."), t.id
        assert t.name and t.unit, t.id
        assert 3 <= len(t.synonyms) <= 10, t.id
        assert all(s == s.strip().lower() for s in t.synonyms), t.id


def test_no_phrase_belongs_to_two_topics_and_none_is_an_everyday_word(
    taxonomy: Taxonomy,
) -> None:
    owner: dict[tuple[str, ...], str] = {}
    for t in taxonomy.topics.values():
        for phrase in (t.name, *t.synonyms):
            key = tokenize(phrase)
            assert owner.setdefault(key, t.id) == t.id, (phrase, owner[key], t.id)
            assert not (len(key) == 1 and key[0] in EVERYDAY), (t.id, phrase)


def test_the_json_file_is_the_packaged_resource() -> None:
    data = json.loads((files("server.memory") / "data" / "syllabus.json").read_text("utf-8"))
    assert data["version"] == 1
    assert Taxonomy.from_dict(data).topics.keys() == load_taxonomy().topics.keys()


# --- tagging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How do I find the range of a projectile launched at 30 degrees?", "physics.kinematics"),
        ("I don't understand projectile motion", "physics.kinematics"),
        ("why is benzene aromatic", "chemistry.aromaticity"),
        ("integration by parts of x e^x", "mathematics.indefinite_integration"),
        ("explain dna replication", "biology.dna_replication"),
        ("fundamental rights vs directive principles", "upsc_gs2.fundamental_rights"),
        ("what did the 1857 revolt achieve", "upsc_gs1.revolt_1857"),
        ("emotional intelligence in administration", "upsc_gs4.emotional_intelligence"),
        ("What is SHM? Time period of a spring mass system", "physics.shm"),
        ("pH of a buffer solution", "chemistry.ionic_equilibrium"),
        ("Gauss's law for a charged sphere", "physics.gauss_law"),
        ("is article 370 still in force?", "upsc_gs2.special_provisions"),
        ("L'Hôpital's rule for 0/0 limits", "mathematics.limits"),
        ("van't hoff factor of NaCl", "chemistry.colligative_properties"),
    ],
)
def test_examples_tag_their_topic_first(taxonomy: Taxonomy, text: str, expected: str) -> None:
    matches = taxonomy.tag(text)
    assert matches and matches[0].topic.id == expected, matches
    assert matches[0].score == 1.0
    assert matches[0].phrases


def test_economy_message_tags_gs3_economy(taxonomy: Taxonomy) -> None:
    matches = taxonomy.tag("inflation and repo rate")
    assert set(ids(matches)) == {"upsc_gs3.inflation", "upsc_gs3.monetary_policy"}
    assert subject_of(matches) == "upsc_gs3"


def test_several_topics_come_most_relevant_first_with_explanations(taxonomy: Taxonomy) -> None:
    text = (
        "Newton's laws of motion: I keep mixing up the free body diagram and friction. "
        "Also what is the work done by friction?"
    )
    matches = taxonomy.tag(text)
    assert ids(matches) == [
        "physics.laws_of_motion",
        "physics.friction",
        "physics.work_energy_power",
    ]
    first = matches[0]
    assert first.phrases == ("newton's laws of motion", "free body diagram")
    # 4 words (2.5) + 3 words (2.0) against "Friction" twice (2 x 1.25).
    assert first.score == 1.0
    assert matches[1].phrases == ("Friction",)
    assert matches[1].score == pytest.approx(2 * NAME_WEIGHT / 4.5, abs=1e-4)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert len(taxonomy.tag(text, limit=1)) == 1
    assert taxonomy.tag(text, limit=0) == []


def test_longest_phrase_wins_and_matches_do_not_overlap(taxonomy: Taxonomy) -> None:
    # "faraday's laws of electrolysis" is chemistry even though "faraday's law" is physics.
    assert ids(taxonomy.tag("Faraday's laws of electrolysis")) == [
        "chemistry.electrolysis_conductance"
    ]
    assert ids(taxonomy.tag("Faraday's law and Lenz's law")) == ["physics.emi"]


def test_tagging_is_deterministic(taxonomy: Taxonomy) -> None:
    text = "matrices and determinants, then mitosis vs meiosis"
    first = taxonomy.tag(text, limit=10)
    assert all(taxonomy.tag(text, limit=10) == first for _ in range(5))
    # Equal scores are ordered by topic id.
    tied = [m for m in first if m.score == first[0].score]
    assert len(tied) > 1 and ids(tied) == sorted(ids(tied))


@pytest.mark.parametrize(
    "text",
    [
        "hi, how are you today? I had lunch",
        "",
        "   ",
        "Thanks! That makes sense, see you tomorrow.",
        "I have a time limit of 3 hours, what is the best order to solve this set?",
        "My name is Rahul Gupta, I am in 12th std in Delhi NCR.",
        "Can you give me the solution and change the plan for this week?",
    ],
)
def test_everyday_text_tags_nothing(taxonomy: Taxonomy, text: str) -> None:
    assert taxonomy.tag(text) == []
    assert subject_of(taxonomy.tag(text)) is None


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("vector", "vectors"),
        ("enzyme", "enzymes"),
        ("projectile", "projectiles"),
        ("capacitor", "capacitors"),
        ("property of a determinant", "properties of determinants"),
        ("ideal gas", "ideal gases"),
        ("thin lens", "thin lenses"),
    ],
)
def test_singular_and_plural_both_match(taxonomy: Taxonomy, singular: str, plural: str) -> None:
    assert ids(taxonomy.tag(singular)) == ids(taxonomy.tag(plural)) != []


def test_apostrophe_and_case_variants_match(taxonomy: Taxonomy) -> None:
    expected = ["physics.laws_of_motion"]
    for text in ("Newton's laws", "newtons laws", "NEWTON’S LAWS", "newton laws"):
        assert ids(taxonomy.tag(text)) == expected, text


def test_the_exam_hint_reorders_but_never_drops(taxonomy: Taxonomy) -> None:
    text = "nuclear fission and renewable energy"
    plain = ids(taxonomy.tag(text))
    assert plain == ["physics.nuclei", "upsc_gs3.energy"]  # a tie, broken by id
    upsc = taxonomy.tag(text, exam="upsc")
    assert ids(upsc) == ["upsc_gs3.energy", "physics.nuclei"]
    assert upsc[1].score == 0.5
    assert ids(taxonomy.tag(text, exam="JEE")) == plain
    # Mathematics is not a NEET subject: a NEET learner's "vectors" still finds it, second.
    vectors = "vectors and the dot product"
    assert ids(taxonomy.tag(vectors)) == ["mathematics.vector_algebra", "physics.vectors"]
    assert ids(taxonomy.tag(vectors, exam="NEET")) == [
        "physics.vectors",
        "mathematics.vector_algebra",
    ]


# --- lookup -------------------------------------------------------------------------------


def test_resolve_maps_names_synonyms_and_ids(taxonomy: Taxonomy) -> None:
    thermo = taxonomy.resolve("Thermodynamics")
    assert thermo is not None and thermo.id == "physics.thermodynamics"
    by_synonym = taxonomy.resolve("  Projectile Motion ")
    assert by_synonym is not None and by_synonym.id == "physics.kinematics"
    assert taxonomy.resolve("physics.kinematics") is taxonomy.get("physics.kinematics")
    assert taxonomy.resolve("fundamental rights") is taxonomy.get("upsc_gs2.fundamental_rights")
    # Only an exact phrase resolves; tagging is for free text.
    assert taxonomy.resolve("I don't understand projectile motion") is None
    assert taxonomy.resolve("") is None
    assert taxonomy.get("physics.nope") is None


def test_subjects_resolve_separately(taxonomy: Taxonomy) -> None:
    for text in ("Physics", "physics", "Maths", "Biology", "upsc_gs2", "Polity", "GS paper 4"):
        assert taxonomy.resolve(text) is None, text
    assert [
        getattr(taxonomy.resolve_subject(t), "id", None)
        for t in ("Physics", "maths", "Chemistry", "polity", "GS Paper IV", "history", "Kinematics")
    ] == ["physics", "mathematics", "chemistry", "upsc_gs2", "upsc_gs4", "upsc_gs1", None]


def test_tokenize_normalizes_like_the_index() -> None:
    assert tokenize("Newton’s LAWS of Motion!") == ("newton", "law", "of", "motion")
    assert tokenize("p-block, don't") == ("p", "block", "dont")
    assert tokenize("ＳＨＭ properties processes gauss analysis") == (
        "shm",
        "property",
        "process",
        "gauss",
        "analysis",
    )


# --- validation ---------------------------------------------------------------------------


def test_a_small_taxonomy_builds_from_a_dict() -> None:
    tax = Taxonomy.from_dict(
        small([topic("physics.optics", "Optics", "snell's law", "lens formula", "prism")])
    )
    assert ids(tax.tag("snell's law and the lens formula")) == ["physics.optics"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            small(
                [
                    topic("physics.optics", "Optics", "snell's law", "lens formula", "prism"),
                    topic("physics.waves", "Waves", "Prisms", "doppler effect", "beats"),
                ]
            ),
            "'physics.optics'",
        ),
        (
            small(
                [
                    topic("physics.optics", "Optics", "snell's law", "lens formula", "prism"),
                    topic("physics.waves", "Optics", "doppler", "beats", "sound"),
                ]
            ),
            "is used by both",
        ),
        (small([topic("physics.optics", "Optics", "a", "b", "c", subject="maths")]), "unknown"),
        (small([topic("physics.optics", "Optics", "a", "b", "c", subject="biology")]), "start"),
        (small([topic("physics.x", "X", "a"), topic("physics.x", "Y", "b")]), "duplicate"),
        (small([topic("Physics.Optics", "Optics", "a")]), "<subject>.<slug>"),
        (small([topic("physics.optics", "Optics", "physics")]), "subject 'physics'"),
        (small([topic("physics.optics", "Optics", "phy")], aliases=["phy"]), "subject"),
        (small([topic("physics.optics", "Optics", "!!")]), "no words"),
        ({"subjects": [{"id": "physics"}], "topics": []}, "malformed"),
        ({"topics": []}, "malformed"),
    ],
)
def test_validation_rejects_bad_data(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Taxonomy.from_dict(data)


def test_duplicate_subjects_are_rejected() -> None:
    data = small([])
    data["subjects"].append({"id": "physics", "name": "Physics again", "exams": ["JEE"]})
    with pytest.raises(ValueError, match="duplicate subject"):
        Taxonomy.from_dict(data)


def test_remembered_tags_are_private_copies_and_follow_the_tagger() -> None:
    """`tag` keeps recent results (chat admission and grounding tag the same message): a
    caller changing its list changes nothing for the next, and attaching a meaning tagger
    is never answered from a phrase-only result."""
    from server.retrieval.topics import TopicTagger, TopicText

    tax = Taxonomy.from_dict(small([topic("physics.optics", "Optics", "lens")]))
    first = tax.tag("a car accelerates from rest")
    assert first == []
    first.append("junk")  # type: ignore[arg-type]
    assert tax.tag("a car accelerates from rest") == []
    lens = tax.tag("a convex lens")
    assert ids(lens) == ["physics.optics"] and tax.tag("a convex lens") == lens
    assert tax.tag("the focal length of a mirror") == []  # phrase-only: no topic word
    tax.meaning = TopicTagger(
        [TopicText("physics.optics", ("Optics", "lens"))],
        cues={"physics.optics": ["focal length"]},
    )
    # Now by meaning too: the taxonomy must ask the tagger, not reuse the phrase-only answer.
    assert ids(tax.tag("the focal length of a mirror")) == ["physics.optics"]
