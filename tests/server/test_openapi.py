"""The OpenAPI document lists every status a route can answer, in the contract's error shape,
and the running API keeps to it (Schemathesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api

ERROR_REF = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
async def schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(key) for key in operation["responses"] if key.isdigit()}


async def test_every_operation_lists_the_statuses_it_answers_by_construction(
    schema: dict[str, Any],
) -> None:
    for method, path, operation in operations(schema):
        listed = statuses(operation)
        label = f"{method} {path}: {sorted(listed)}"
        assert {413, 500, 503} <= listed, label  # the body cap runs before routing
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            assert 404 in listed, label
        if parameters or "requestBody" in operation:
            assert 422 in listed, label
        if {"HTTPBearer": []} in operation.get("security", []):
            assert 401 in listed, label
            assert "`session_revoked`" in operation["responses"]["401"]["description"], label


async def test_every_error_response_has_the_error_shape(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        for key, response in operation["responses"].items():
            if int(key) < 400:
                continue
            label = f"{method} {path} {key}"
            assert response["content"] == {"application/json": {"schema": {"$ref": ERROR_REF}}}
            assert response["description"], label
            if key in ("429", "503"):
                assert "Retry-After" in response["headers"], label
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components  # FastAPI's 422 is not what we answer
    error = components["ErrorResponse"]
    assert error["required"] == ["error"]
    body = components[error["properties"]["error"]["$ref"].rsplit("/", 1)[-1]]
    assert set(body["properties"]) == {"code", "message", "details"}


async def test_bearer_routes_list_401_admin_privacy_and_chat_included(
    schema: dict[str, Any],
) -> None:
    for method, path in (
        ("get", "/api/v1/users/me"),
        ("delete", "/api/v1/users/me"),
        ("get", "/api/v1/users/me/export"),
        ("post", "/api/v1/conversations/{conversation_id}/messages"),
        ("get", "/api/v1/admin/audit"),
    ):
        operation = schema["paths"][path][method]
        assert {"HTTPBearer": []} in operation["security"]
        assert "`session_revoked`" in operation["responses"]["401"]["description"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("post", "/api/v1/auth/register", {201, 409, 422, 429}),
        ("post", "/api/v1/auth/login", {200, 401, 403, 429}),
        ("post", "/api/v1/auth/refresh", {200, 401}),
        ("post", "/api/v1/auth/logout", {204, 401}),
        ("post", "/api/v1/conversations/{conversation_id}/messages", {200, 201, 404, 422, 429}),
        ("post", "/api/v1/conversations/{conversation_id}/messages/{message_id}/abort", {409}),
        ("delete", "/api/v1/conversations/{conversation_id}", {204, 401, 404}),
        ("post", "/api/v1/groups", {201, 403, 409}),
        ("get", "/api/v1/groups/{group_id}/progress", {403, 404}),
        ("delete", "/api/v1/groups/{group_id}/members/me", {204, 409}),
        ("get", "/api/v1/leaderboard", {404, 422}),
        ("post", "/api/v1/quiz/attempts", {201, 404, 409}),
        ("get", "/api/v1/admin/users", {200, 401, 403}),
        ("delete", "/api/v1/admin/users/{user_id}", {204, 403, 404, 422}),
        ("post", "/api/v1/admin/orgs", {201, 403, 409}),
        ("delete", "/api/v1/users/me", {204, 401, 503}),
        ("get", "/readyz", {200, 503}),
    ],
)
async def test_feature_statuses_are_listed(
    schema: dict[str, Any], method: str, path: str, expected: set[int]
) -> None:
    listed = statuses(schema["paths"][path][method])
    assert expected <= listed, sorted(listed)


async def test_the_send_route_documents_its_event_stream_and_its_codes(
    schema: dict[str, Any],
) -> None:
    send = schema["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    responses = send["responses"]
    assert "text/event-stream" in responses["200"]["content"]
    assert responses["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ExchangePublic"
    )
    assert "`provider_not_allowed`" in responses["422"]["description"]
    assert "`validation_error`" in responses["422"]["description"]
    assert "`ai_budget_exceeded`" in responses["429"]["description"]
    assert "`conversation_not_found`" in responses["404"]["description"]


async def test_a_create_links_to_the_routes_of_what_it_created(schema: dict[str, Any]) -> None:
    created = schema["paths"]["/api/v1/conversations"]["post"]["responses"]["201"]
    links = created["links"]
    by_operation = {link["operationId"]: link["parameters"] for link in links.values()}
    get_one = schema["paths"]["/api/v1/conversations/{conversation_id}"]["get"]["operationId"]
    assert by_operation[get_one] == {"conversation_id": "$response.body#/id"}


async def test_a_body_that_is_not_utf8_is_422_invalid_json(api: Api) -> None:
    me = await api.register()
    response = await api.client.patch(
        "/api/v1/users/me",
        content=b'\x04Q"\xff',
        headers={**me["auth"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_undocumented_status(tmp_path: Path) -> None:
    """A small run of `make fuzz` (bench/fuzz_api.py): a learner's and an admin's token,
    checks not_a_server_error, status_code_conformance, content_type_conformance and
    response_schema_conformance."""
    from bench.fuzz_api import fuzz

    results = fuzz(
        max_examples=5,
        seed=14,
        workers=2,
        phases="examples,coverage,fuzzing,stateful",
        report_dir=tmp_path,
    )
    summary = {r.name: (r.exit_code, r.cases, r.failures) for r in results}
    assert all(code == 0 and not failures for code, _, failures in summary.values()), summary
    assert sum(r.cases for r in results) >= 500, summary
