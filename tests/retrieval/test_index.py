"""HybridIndex: vector + BM25 fused by reciprocal rank over candidate chunks."""

from __future__ import annotations

import pytest

from server.retrieval import Candidate, HybridIndex, Passage, local_embedder
from server.retrieval.index import lexical_tokens

NOTES = [
    ("d1", "Biology notes", 1, "Mitochondria are the powerhouse of the cell: aerobic "
     "respiration there makes most of the ATP through the Krebs cycle and the electron "
     "transport chain."),
    ("d1", "Biology notes", 2, "Photosynthesis happens in chloroplasts. Chlorophyll absorbs "
     "light, water is split, and carbon dioxide is fixed into glucose in the Calvin cycle."),
    ("d2", "Physics notes", 1, "Newton's third law: to every action there is an equal and "
     "opposite reaction. A gun recoils when it fires a bullet."),
    ("d2", "Physics notes", 2, "Equations of motion for uniform acceleration: v = u + at and "
     "s = ut + at^2/2. A body starting from rest has u = 0."),
    ("d3", "Polity notes", 7, "Article 21 protects life and personal liberty; the Supreme "
     "Court reads the right to privacy into it."),
]  # fmt: skip


async def build(notes: list[tuple[str, str, int, str]] = NOTES) -> HybridIndex:
    vectors = await local_embedder().embed([text for *_, text in notes])
    return HybridIndex(
        Candidate(f"{doc}-{page}", doc, title, page, text, vector)
        for (doc, title, page, text), vector in zip(notes, vectors, strict=True)
    )


@pytest.mark.parametrize(
    ("query", "document_id", "page"),
    [
        ("ATP kahan banta hai cell mein?", "d1", 1),  # Hinglish, by meaning and "ATP"
        ("how do leaves turn sunlight into sugar", "d1", 2),  # a paraphrase, no shared term
        ("why does a gun kick back when fired", "d2", 1),
        ("a car starts from rest, distance after 5 s", "d2", 2),
        ("Article 21", "d3", 7),  # an exact term
    ],
)
async def test_the_best_passage_comes_first(query: str, document_id: str, page: int) -> None:
    index = await build()
    hits = await index.search(query, 3, embedder=local_embedder())
    assert hits and isinstance(hits[0], Passage)
    assert (hits[0].document_id, hits[0].page) == (document_id, page), hits
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_unrelated_queries_find_nothing_rather_than_noise() -> None:
    index = await build()
    assert await index.search("zzz qqq", 5, embedder=local_embedder()) == []
    assert await index.search("", 5, embedder=local_embedder()) == []


async def test_modes_and_limits() -> None:
    index = await build()
    embedder = local_embedder()
    lexical = await index.search("Calvin cycle glucose", 5, embedder=embedder, mode="lexical")
    assert lexical[0].page == 2 and all(h.document_id == "d1" for h in lexical)
    vector = await index.search("Calvin cycle glucose", 1, embedder=embedder, mode="vector")
    assert len(vector) == 1
    assert await index.search("Calvin cycle", 0, embedder=embedder) == []


async def test_add_and_remove_take_effect_on_the_next_search() -> None:
    index = await build(NOTES[:2])
    embedder = local_embedder()
    assert len(index) == 2
    assert not [h for h in await index.search("Article 21", 5, embedder=embedder)
                if h.document_id == "d3"]  # fmt: skip
    (vector,) = await embedder.embed([NOTES[4][3]])
    index.add([Candidate("d3-7", "d3", "Polity notes", 7, NOTES[4][3], vector)])
    assert (await index.search("Article 21", 1, embedder=embedder))[0].document_id == "d3"
    assert index.remove(document_id="d3") == 1 and len(index) == 2
    assert not [h for h in await index.search("Article 21", 5, embedder=embedder)
                if h.document_id == "d3"]  # fmt: skip
    assert index.remove(chunk_ids=["d1-1", "missing"]) == 1
    assert len(index) == 1


def test_vectors_of_another_model_are_refused() -> None:
    index = HybridIndex([Candidate("a", "d", "t", 1, "text", [1.0, 0.0])])
    with pytest.raises(ValueError, match="dimensions"):
        index.add([Candidate("b", "d", "t", 2, "text", [1.0, 0.0, 0.0])])


def test_lexical_tokens_drop_hinglish_and_english_stop_words() -> None:
    assert lexical_tokens("ATP kahan banta hai cell mein?") == ["atp", "banta", "cell"]
    assert lexical_tokens("What are the properties of Vectors") == ["property", "vector"]
