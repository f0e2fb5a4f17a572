"""The OpenAPI document lists every status a route can answer, each in the error shape.

Statuses that follow from how a route is built are derived here, once, from the document
FastAPI generates, so a new route cannot forget them:

- every route: 503 `dependency_unavailable` (MongoDB or Redis down), with `Retry-After`; 500
  `internal_error` (a bug: the answer carries `details.request_id`, the key to its log line);
  413 `payload_too_large` (the body cap of `server.middleware` reads `Content-Length` before
  routing, so even a route that takes no body answers it to one that is too large);
- a route that takes a bearer token: 401 (`missing_token`, `invalid_token`, `token_expired`,
  `session_revoked`);
- an id in the path: 404 (a malformed, missing or foreign id all look the same);
- any input (parameters or a body): 422, in our shape, not FastAPI's `HTTPValidationError`.

What only a feature knows (403 role checks, 409 conflicts, 429 rate limits, a 404 from a body
field) is declared on its router or route with `server.schemas.error_responses`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from server.schemas import ERROR_DESCRIPTIONS, ErrorResponse

_REF_PREFIX = "#/components/schemas/"
_ERROR_SCHEMA = {"$ref": f"{_REF_PREFIX}{ErrorResponse.__name__}"}
_BEARER_SCHEMES = {"HTTPBearer"}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the token scheme to use.",
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Replaces `app.openapi` with FastAPI's document completed by `document_errors`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def derived_statuses(operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer by construction (see the module doc)."""
    parameters = operation.get("parameters", [])
    statuses = {413, 500, 503}
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if takes_bearer(operation):
        statuses.add(401)
    return statuses


def takes_bearer(operation: dict[str, Any]) -> bool:
    return any(_BEARER_SCHEMES & set(req) for req in operation.get("security", []))


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the derived error statuses to every operation and gives every error response
    (declared or derived) the `ErrorResponse` schema and its headers. Idempotent."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _complete(operation)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_error_schemas(components)
    _link_created_ids(schema)
    if not any(f"{_REF_PREFIX}{name}" in repr(schema["paths"]) for name in _FASTAPI_VALIDATION):
        for name in _FASTAPI_VALIDATION:
            components.pop(name, None)
    return schema


def _complete(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    for status in derived_statuses(operation):
        responses.setdefault(str(status), {})
    bearer = takes_bearer(operation)
    for key, response in responses.items():
        if not key.isdigit() or int(key) < 400:
            continue
        status = int(key)
        response["description"] = _description(status, response.get("description"), bearer)
        # FastAPI's own 422 (HTTPValidationError) is not what the API answers: replaced.
        response["content"] = {"application/json": {"schema": dict(_ERROR_SCHEMA)}}
        for name, header in _HEADERS.get(status, {}).items():
            response.setdefault("headers", {}).setdefault(name, header)


def _description(status: int, declared: str | None, bearer: bool) -> str:
    generic = ERROR_DESCRIPTIONS.get(status, "")
    if not declared or declared == "Validation Error":  # FastAPI's default for 422
        declared = generic
    if status == 401 and bearer and "`missing_token`" not in declared:
        extra = declared.removeprefix(generic).strip()
        declared = f"{ERROR_DESCRIPTIONS['bearer_401']} {extra}".strip()
    return declared


def _add_error_schemas(components: dict[str, Any]) -> None:
    generated = ErrorResponse.model_json_schema(ref_template=_REF_PREFIX + "{model}")
    for name, definition in generated.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(ErrorResponse.__name__, generated)


def _link_created_ids(schema: dict[str, Any]) -> None:
    """OpenAPI links from a create to the routes of what it created: `POST /conversations`
    answers an object whose `id` is the `{conversation_id}` of `/conversations/{conversation_id}`
    and of everything under it. Clients (and Schemathesis' stateful phase) can follow them."""
    paths: dict[str, Any] = schema.get("paths", {})
    components = schema.get("components", {}).get("schemas", {})
    for path, item in paths.items():
        created = _created(item.get("post"), components)
        if created is None:
            continue
        for sub_path, sub_item in paths.items():
            name = _child_id(path, sub_path)
            if name is None:
                continue
            for method, operation in sub_item.items():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                parameters = {name: "$response.body#/id"}
                for parent in _path_names(path):
                    parameters[parent] = f"$request.path.{parent}"
                created.setdefault("links", {})[_link_name(method, sub_path)] = {
                    "operationId": operation["operationId"],
                    "parameters": parameters,
                }


def _created(operation: dict[str, Any] | None, components: dict[str, Any]) -> Any:
    """The success response of a create whose body is an object with an `id`, or None."""
    for status in ("201", "200"):
        response = (operation or {}).get("responses", {}).get(status) or {}
        body = response.get("content", {}).get("application/json", {}).get("schema", {})
        name = body.get("$ref", "").removeprefix(_REF_PREFIX)
        if "id" in components.get(name, {}).get("properties", {}):
            return response
    return None


def _child_id(parent: str, path: str) -> str | None:
    """`conversation_id` for `/conversations` and `/conversations/{conversation_id}/...`."""
    rest = path.removeprefix(parent + "/")
    if rest == path or not rest.startswith("{"):
        return None
    return rest[1 : rest.index("}")]


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _link_name(method: str, path: str) -> str:
    words = [p.strip("{}") for p in path.split("/") if p and p not in ("api", "v1")]
    return method.capitalize() + "".join(
        w.replace("_", " ").title().replace(" ", "") for w in words
    )
