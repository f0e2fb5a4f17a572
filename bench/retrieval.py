"""Retrieval quality and cost: lexical vs vector vs hybrid, ingest speed, memory, latency.

Corpus: bench/data/retrieval_corpus.json, 39 pages of study notes in four learner documents
(physics, chemistry, biology, UPSC polity) and 40 learner-style questions (paraphrases, 8 in
Hinglish) each with the page that answers it. For each ranking mode it prints recall@5 (the
answer page among the first five passages) and MRR, first on the corpus alone, then with the
same pages hidden among ~10,000 distractor chunks (revision-note sentences naming the
syllabus's topics and their synonyms: study vocabulary on every subject, never the answer).

Cost figures: pages processed per second (chunking a ~2,000-character page into ~1,000
character chunks and embedding them with the local model, the work of the documents job),
Python heap per 1,000 chunks (the candidates as the documents feature loads them, and the
index built over them: tracemalloc), and search latency at 10k chunks (the first search
builds the index; later ones reuse it), and `library_service.search` on a real embedded
MongoDB with its index cache missing vs. hitting (server/library/cache.py). Topic tagging
accuracy on the labelled sets of tests/retrieval is printed too. Run from the repo root
(about a minute and a half on 2 cores):

    .venv/bin/python bench/retrieval.py [--chunks 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from server.retrieval import Candidate, HybridIndex, LocalEmbedder, local_embedder

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "data" / "retrieval_corpus.json"
MODES = ("lexical", "vector", "hybrid")


def chunk(text: str, size: int = 1000, overlap: int = 150) -> list[str]:
    """Fixed-size character windows cut at a space (the shape of the documents' chunker)."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > 0 else end
        out.append(text[start:end].strip())
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return out


def load() -> tuple[list[tuple[str, str, int, str]], list[tuple[str, str, int]]]:
    data = json.loads(CORPUS.read_text(encoding="utf-8"))
    pages = [
        (doc["id"], doc["title"], number, text)
        for doc in data["documents"]
        for number, text in enumerate(doc["pages"], start=1)
    ]
    questions = [(q, doc, page) for q, doc, page in data["questions"]]
    return pages, questions


def distractors(count: int) -> list[tuple[str, str]]:
    """(title, text) chunks of revision-note sentences about the syllabus's topics, built from
    their names and synonyms: study vocabulary on every subject, never the answer page."""
    import json as _json
    from importlib.resources import files

    syllabus = _json.loads((files("server.memory") / "data" / "syllabus.json").read_text())
    topics = [(t["name"], list(t.get("synonyms", ())) or [t["name"]]) for t in syllabus["topics"]]
    rng = random.Random(16)
    templates = (
        "{a} is revised together with {b}; remember {c} for the exam.",
        "Short notes on {a}: the key ideas are {b} and {c}.",
        "Previous year questions often combine {a} with {b}, so practise {c}.",
        "In {a}, learners confuse {b} with {c}; draw a diagram first.",
    )
    out = []
    for i in range(count):
        sentences = []
        for _ in range(4):
            name, synonyms = rng.choice(topics)
            sentences.append(
                rng.choice(templates).format(a=name, b=rng.choice(synonyms), c=rng.choice(synonyms))
            )
        out.append((f"Revision notes {i // 20}", " ".join(sentences)))
    return out


async def candidates_of(
    embedder: LocalEmbedder, pages: list[tuple[str, str, int, str]], extra: list[tuple[str, str]]
) -> list[Candidate]:
    texts = [text for *_, text in pages] + [text for _, text in extra]
    vectors = await embedder.embed(texts)
    out = [
        Candidate(f"{doc}-{page}", doc, title, page, text, vectors[i])
        for i, (doc, title, page, text) in enumerate(pages)
    ]
    offset = len(pages)
    out += [
        Candidate(f"x-{i}", f"x{i // 20}", title, i % 20 + 1, text, vectors[offset + i])
        for i, (title, text) in enumerate(extra)
    ]
    return out


def quality(
    index: HybridIndex, questions: list[tuple[str, str, int]], qvectors: list[list[float]]
) -> dict[str, tuple[float, float]]:
    out = {}
    for mode in MODES:
        hits, rr = 0, 0.0
        for (question, doc, page), vector in zip(questions, qvectors, strict=True):
            ranked = index.rank(question, vector, 5, mode=mode)
            keys = [(r.candidate.document_id, r.candidate.page) for r in ranked]
            if (doc, page) in keys:
                hits += 1
                rr += 1 / (keys.index((doc, page)) + 1)
        out[mode] = (hits / len(questions), rr / len(questions))
    return out


def print_quality(label: str, figures: dict[str, tuple[float, float]]) -> None:
    print(f"\n{label}")
    print(f"  {'mode':8s} {'recall@5':>9s} {'MRR':>6s}")
    for mode, (recall, mrr) in figures.items():
        print(f"  {mode:8s} {recall:9.3f} {mrr:6.3f}")


async def ingest_speed(embedder: LocalEmbedder, pages: list[tuple[str, str, int, str]]) -> None:
    rng = random.Random(7)
    texts = [text for *_, text in pages]
    book = [" ".join(rng.sample(texts, 5))[:2000] for _ in range(400)]  # ~2,000-char pages
    await embedder.embed(["warm up"])
    start = time.perf_counter()
    chunks = [c for page in book for c in chunk(page)]
    await embedder.embed(chunks)
    seconds = time.perf_counter() - start
    print(
        f"\ningest: {len(book)} pages of ~2,000 chars -> {len(chunks)} chunks, chunked and "
        f"embedded in {seconds:.2f} s = {len(book) / seconds:,.0f} pages/s"
    )


def _fresh(candidate: Candidate) -> list[float]:
    """New float objects, as decoding the chunk from BSON makes (not shared with ours)."""
    import numpy as np

    return np.asarray(candidate.embedding, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def memory_per_thousand(candidates: list[Candidate]) -> None:
    sample = candidates[:5000]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    loaded = [
        Candidate(c.chunk_id, c.document_id, c.title, c.page, "".join(c.text), _fresh(c))
        for c in sample
    ]
    after_load = tracemalloc.get_traced_memory()[0]
    index = HybridIndex(loaded)
    index.rank("warm", None, 1)  # builds the matrices and BM25
    after_index = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = 1000 / len(sample) / 1024 / 1024
    print(
        f"\nmemory per 1,000 chunks: candidates as loaded {(after_load - base) * per:.1f} MiB "
        f"(text + embedding as Python floats), index {(after_index - after_load) * per:.1f} "
        f"MiB (float32 matrix + BM25)"
    )


async def latency(
    embedder: LocalEmbedder, candidates: list[Candidate], questions: list[tuple[str, str, int]]
) -> None:
    start = time.perf_counter()
    index = HybridIndex(candidates)
    index.rank("warm", None, 1)
    build = time.perf_counter() - start
    timings = []
    for question, *_ in questions * 3:
        t0 = time.perf_counter()
        await index.search(question, 5, embedder=embedder)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"\nsearch at {len(candidates):,} chunks: index build {build * 1000:.0f} ms (first "
        f"search, or after add/remove); search p50 {statistics.median(timings):.1f} ms, "
        f"p95 {p95:.1f} ms (embedding the query included)"
    )
    t0 = time.perf_counter()
    index.remove(document_id="x0")
    index.rank("warm", None, 1)
    print(f"remove one document + rebuild at that size: {(time.perf_counter() - t0) * 1000:.0f} ms")


async def service_cache(
    embedder: LocalEmbedder,
    candidates: list[Candidate],
    questions: list[tuple[str, str, int]],
    rounds: int,
) -> None:
    """Search time through `library_service.search` on a real embedded MongoDB, with the
    caller's chunks (DOCUMENT_SEARCH_CANDIDATES of them) loaded and indexed (a cache miss)
    vs. the index built by an earlier search reused (a hit). Both read the caller's groups
    and ready documents and embed the query; the miss also loads and indexes the chunks."""
    import tempfile
    import uuid

    from beanie import PydanticObjectId, init_beanie
    from pymongo import AsyncMongoClient

    from models import DOCUMENT_MODELS, DocumentChunk, LibraryDocument, User
    from server.config import Settings
    from server.embedded_db import EmbeddedMongo
    from server.library import ranking
    from server.library import service as library_service

    settings = Settings()
    sample = candidates[: settings.document_search_candidates]
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        embedded = EmbeddedMongo(storage_path=Path(tmp) / "mongo")
        url = await embedded.start()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
        db = mongo[f"bench_retrieval_{uuid.uuid4().hex[:8]}"]
        try:
            await init_beanie(database=db, document_models=DOCUMENT_MODELS)
            ranking.install(settings=settings, embedder=embedder)
            user = User.model_construct(id=PydanticObjectId(), org_id=PydanticObjectId())
            ids: dict[str, PydanticObjectId] = {}
            for c in sample:
                ids.setdefault(c.document_id, PydanticObjectId())
            titles = {c.document_id: c.title for c in sample}
            await LibraryDocument.get_pymongo_collection().insert_many(
                [
                    LibraryDocument(
                        id=oid,
                        owner_id=user.id,
                        org_id=user.org_id,
                        title=titles[key],
                        filename="notes.txt",
                        content_type="text/plain",
                        size_bytes=1,
                        sha256=key,
                        file_id=PydanticObjectId(),
                        status="ready",
                    ).model_dump(by_alias=True, exclude={"revision_id"})
                    for key, oid in ids.items()
                ]
            )
            await DocumentChunk.get_pymongo_collection().insert_many(
                [
                    DocumentChunk(
                        document_id=ids[c.document_id],
                        owner_id=user.id,
                        scope="personal",
                        org_id=user.org_id,
                        page=c.page,
                        position=i,
                        text=c.text,
                        embedding=[float(x) for x in c.embedding],
                    ).model_dump(exclude={"id", "revision_id"})
                    for i, c in enumerate(sample)
                ]
            )
            miss, hit = [], []
            for question in [q for q, *_ in questions][:rounds]:
                ranking.INDEXES.clear()
                t0 = time.perf_counter()
                await library_service.search(user=user, query=question, limit=5)
                miss.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await library_service.search(user=user, query=question, limit=5)
                hit.append((time.perf_counter() - t0) * 1000)
            assert ranking.INDEXES.hits == 1 and len(ranking.INDEXES) == 1
            print(
                f"\nlibrary_service.search, {len(sample):,} readable chunks in {len(ids)} "
                f"documents, embedded MongoDB, {len(miss)} queries: cache miss p50 "
                f"{statistics.median(miss):.0f} ms (max {max(miss):.0f}), cache hit p50 "
                f"{statistics.median(hit):.1f} ms (max {max(hit):.1f})"
            )
        finally:
            await mongo.drop_database(db.name)
            await mongo.close()
            await embedded.stop()


def tagging() -> None:
    from server.memory.taxonomy import load_taxonomy

    start = time.perf_counter()
    taxonomy = load_taxonomy()
    print(f"\ntopic tagger built in {time.perf_counter() - start:.2f} s")
    for name in (
        "tagging_messages.tsv",
        "tagging_dev.tsv",
        "tagging_heldout.tsv",
        "tagging_heldout2.tsv",
    ):
        path = ROOT.parent / "tests" / "retrieval" / name
        rows = [
            line.split("\t")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        t0 = time.perf_counter()
        right = 0
        for message, accepted in rows:
            matches = taxonomy.tag(message)
            right += bool(matches) and matches[0].topic.id in accepted.split(",")
        per = (time.perf_counter() - t0) / len(rows) * 1000
        print(f"  {name}: top-1 {right / len(rows):.3f} on {len(rows)} messages, {per:.2f} ms each")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--service-rounds", type=int, default=20)
    args = parser.parse_args()
    embedder = local_embedder()
    pages, questions = load()
    print(f"corpus: {len(pages)} pages, {len(questions)} questions; embedder {embedder.name}")
    qvectors = await embedder.embed([q for q, *_ in questions])
    small = await candidates_of(embedder, pages, [])
    print_quality("the corpus alone", quality(HybridIndex(small), questions, qvectors))
    big = await candidates_of(embedder, pages, distractors(args.chunks - len(pages)))
    print_quality(
        f"the answer pages among {len(big):,} chunks",
        quality(HybridIndex(big), questions, qvectors),
    )
    await ingest_speed(embedder, pages)
    memory_per_thousand(big)
    await latency(embedder, big, questions)
    await service_cache(embedder, big, questions, args.service_rounds)
    tagging()


if __name__ == "__main__":
    asyncio.run(main())
