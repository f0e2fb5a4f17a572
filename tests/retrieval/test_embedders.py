"""Embedders: the packaged local model (offline, normalized, off the event loop) and the
vendors' embedding APIs through their official SDKs against the fake vendors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from server.retrieval.embedders import (
    Embedder,
    EmbeddingUnavailable,
    GeminiEmbedder,
    LocalEmbedder,
    Matrix,
    OpenAIEmbedder,
    _checked,
    build_embedder,
    local_embedder,
)
from tests.ai_router.fakes import Behaviour, FakeVendors, fake_embedding
from tests.conftest import make_settings, vendor_settings

OFFLINE_PROBE = """
import json, os, sys
from server.retrieval.embedders import LocalEmbedder
import asyncio
vectors = asyncio.run(LocalEmbedder().embed(["ATP kahan banta hai?", "mitochondria"]))
print(json.dumps({"dim": len(vectors[0]), "n": len(vectors)}))
"""


def test_the_local_model_loads_from_the_wheel_with_no_network_and_no_cache(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_", "TRANSFORMERS"))}
    env.update(
        HOME=str(home),
        HF_HUB_OFFLINE="1",
        XDG_CACHE_HOME=str(home / ".cache"),
        # No proxy reachable: any attempt to download would fail loudly, not silently succeed.
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", OFFLINE_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"dim": 256, "n": 2}
    assert list(home.rglob("*")) == []  # nothing cached, nothing downloaded


class _ThreadRecordingEmbedder(LocalEmbedder):
    """The real local embedder, noting which thread computes."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def embed_sync(self, texts: Sequence[str]) -> Matrix:
        self.threads.append(threading.current_thread().name)
        return super().embed_sync(texts)


async def test_local_vectors_are_unit_length_and_computed_off_the_event_loop() -> None:
    assert isinstance(local_embedder(), Embedder) and local_embedder().dim == 256
    embedder = _ThreadRecordingEmbedder()
    texts = [f"note {i} about photosynthesis" for i in range(600)]  # > one batch
    vectors = await embedder.embed(texts)
    threads = embedder.threads
    assert threads and threads[0] != threading.main_thread().name
    assert len(vectors) == 600 and all(len(v) == 256 for v in vectors)
    norms = np.linalg.norm(np.asarray(vectors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    assert await embedder.embed([]) == []
    # Meaning: a paraphrase is closer than an unrelated sentence.
    a, b, c = await embedder.embed(
        ["how do plants make food from sunlight", "photosynthesis in leaves", "GST tax slabs"]
    )
    assert np.dot(a, b) > np.dot(a, c)


def _unit(v: list[float]) -> list[float]:
    arr = np.asarray(v)
    return (arr / np.linalg.norm(arr)).tolist()


async def test_openai_embeddings_through_the_sdk(fakes: FakeVendors) -> None:
    embedder = OpenAIEmbedder(
        api_key="sk-test", base_url=fakes.openai_url, model="text-embedding-3-small", dim=64
    )
    texts = [f"passage {i}" for i in range(100)]  # two requests (96 + 4)
    vectors = await embedder.embed(texts)
    assert len(vectors) == 100
    assert np.allclose(vectors[7], _unit(fake_embedding("passage 7", 64)), atol=1e-6)
    bodies = fakes.bodies("openai")
    assert [len(b["input"]) for b in bodies] == [96, 4]
    assert bodies[0]["model"] == "text-embedding-3-small" and bodies[0]["dimensions"] == 64
    assert fakes.requests[0].path == "/v1/embeddings"


async def test_gemini_embeddings_through_the_sdk(fakes: FakeVendors) -> None:
    embedder = GeminiEmbedder(
        api_key="gm-test", base_url=fakes.gemini_url, model="gemini-embedding-001", dim=32
    )
    vectors = await embedder.embed(["Newton's third law", "ATP kahan banta hai?"])
    assert np.allclose(vectors[1], _unit(fake_embedding("ATP kahan banta hai?", 32)), atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)  # shortened vectors normalized
    (request,) = fakes.requests
    assert request.path.split("?")[0].endswith("models/gemini-embedding-001:batchEmbedContents")
    assert [r["outputDimensionality"] for r in request.body["requests"]] == [32, 32]


@pytest.mark.parametrize("vendor", ["openai", "gemini"])
async def test_a_vendor_failure_is_a_clear_503_without_secrets(
    fakes: FakeVendors, vendor: str
) -> None:
    fakes.default[vendor] = Behaviour(kind="status", status=500)  # type: ignore[index]
    cls = OpenAIEmbedder if vendor == "openai" else GeminiEmbedder
    url = fakes.openai_url if vendor == "openai" else fakes.gemini_url
    embedder = cls(api_key="sk-SECRET-123", base_url=url, model="m", dim=16)
    with pytest.raises(EmbeddingUnavailable) as caught:
        await embedder.embed(["x"])
    assert caught.value.status == 503 and caught.value.code == "embeddings_unavailable"
    assert "SECRET" not in caught.value.message


def test_a_wrong_vector_size_or_count_is_refused() -> None:
    # A model that ignored `dimensions`, or answered fewer rows, must never reach the index.
    embedder = OpenAIEmbedder(api_key="k", base_url="http://127.0.0.1:9", model="m", dim=16)
    with pytest.raises(EmbeddingUnavailable):
        _checked(embedder, [[1.0] * 8], 1)
    with pytest.raises(EmbeddingUnavailable):
        _checked(embedder, [[1.0] * 16], 2)
    assert np.allclose(np.linalg.norm(_checked(embedder, [[3.0] * 16], 1)[0]), 1.0)


async def test_the_embeddings_setting_picks_the_embedder(
    fakes: FakeVendors, mongo_url: str, tmp_path: Path
) -> None:
    base = vendor_settings(fakes)
    local = build_embedder(make_settings(mongo_url, tmp_path, **base))
    assert local is local_embedder()
    openai_ = build_embedder(
        make_settings(mongo_url, tmp_path, embeddings="openai", embeddings_dimensions=128, **base)
    )
    assert isinstance(openai_, OpenAIEmbedder) and openai_.dim == 128
    assert len((await openai_.embed(["hello"]))[0]) == 128
    assert fakes.requests[-1].headers["authorization"] == "Bearer test-key-openai-SECRET"
    gemini = build_embedder(make_settings(mongo_url, tmp_path, embeddings="gemini", **base))
    assert isinstance(gemini, GeminiEmbedder) and gemini.dim == 768
    assert gemini.name == "gemini:gemini-embedding-001"


def test_a_single_text_is_embedded_once_and_shared_read_only() -> None:
    """The shipped-notes search, the library search and the topic tagger embed the same chat
    message: one embedding serves all three (docs/BENCHMARKS.md), identical to the batch row."""
    query = "why does the photoelectric effect need a threshold frequency"
    first = local_embedder().embed_sync([query])
    assert LocalEmbedder().embed_sync([query]) is first
    assert not first.flags.writeable  # shared: nobody may change it in place
    batch = local_embedder().embed_sync([query, "GST tax slabs"])
    assert first.shape == (1, 256) and np.allclose(first[0], batch[0], atol=1e-6)
