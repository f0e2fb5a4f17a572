"""VECTOR_SEARCH=atlas: the $vectorSearch stage, and a database without it is a clear 503."""

from __future__ import annotations

import uuid

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from server.retrieval.atlas import vector_search_error, vector_search_pipeline, vector_search_stage


def test_the_stage_filters_inside_the_search_and_oversamples() -> None:
    stage = vector_search_stage(
        index="document_chunks_embedding",
        query_vector=[0.5, 0.25],
        limit=5,
        filter={"owner_id": {"$in": ["u1"]}},
    )["$vectorSearch"]
    assert stage == {
        "index": "document_chunks_embedding",
        "path": "embedding",
        "queryVector": [0.5, 0.25],
        "numCandidates": 100,
        "limit": 5,
        "filter": {"owner_id": {"$in": ["u1"]}},
    }
    big = vector_search_stage(index="i", query_vector=[1.0], limit=1000)["$vectorSearch"]
    assert big["numCandidates"] == 10_000 and "filter" not in big


async def test_the_embedded_database_refuses_it_and_that_becomes_a_503(mongo_url: str) -> None:
    client: AsyncMongoClient = AsyncMongoClient(mongo_url)
    db = client[f"t_{uuid.uuid4().hex[:12]}"]
    try:
        await db.private_notes_x.insert_one({"text": "x", "embedding": [1.0, 0.0]})
        pipeline = vector_search_pipeline(index="idx", query_vector=[1.0, 0.0], limit=3)
        with pytest.raises(OperationFailure) as caught:
            await (await db.private_notes_x.aggregate(pipeline)).to_list()
        error = vector_search_error(caught.value)
        assert caught.value.code == 168  # InvalidPipelineOperator, as a plain mongod answers
        assert error.status == 503 and error.code == "vector_search_unavailable"
        assert "VECTOR_SEARCH=local" in error.message
        assert "private_notes_x" not in error.message and str(caught.value) not in error.message
    finally:
        await client.drop_database(db.name)
        await client.close()
