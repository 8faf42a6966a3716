"""The JSON API's OpenAPI 3.1 document, served at ``/api/openapi.json``, and the answer
every error gets: a JSON body with an ``error_id``.

Each JSON route is described once, next to its handler, by an :class:`Operation` given
to :func:`register` (at import time) or :func:`add_api_route` (which also adds it to the
router). :func:`document` builds the OpenAPI document from that one registry. A test
walks the application's router and fails when a route under ``/api/`` is missing from
the document or the document names a route the router lacks; the API tests check each
answer against the document's schema for it.

aiohttp's router answers an unknown path (404) or method (405) itself, in text:
:func:`json_errors` turns those, and every other HTTP error raised without a JSON body,
into ``{"error_id", "message"}`` like the handlers' own errors.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from controller.web.errors import error

JSON = "application/json"
VERSION = "1"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error_id", "message"],
    "properties": {
        "error_id": {
            "type": "string",
            "description": "Stable: what a client branches on (not-found, forbidden, ...).",
        },
        "message": {"type": "string", "description": "For a person to read; may change."},
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# Errors any route may answer: its own, and those of the checks every request passes.
COMMON_ERRORS = {
    400: "The request is malformed",
    401: "No valid session or token (error_id unauthenticated)",
    403: "Not allowed (forbidden) or the CSRF token is missing (csrf-refused)",
    404: "No such target, or one outside the person's services (not-found)",
    429: "Too many failed sign-ins for this person (too-many-failures)",
    500: "An unexpected failure (internal-error); the daemon's log says more",
    503: "The access log cannot be written: nothing was done",
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A person's token; the X-Reccontrol-Person header (for /api/payments:"
        " the body's person) names the person.",
    },
    "session": {"type": "apiKey", "in": "cookie", "name": "reccontrol_session"},
}


@dataclass(frozen=True)
class Answer:
    """One documented response: its description and, for a body, its schema and type."""

    description: str
    schema: Mapping[str, Any] | None = None
    media_type: str = JSON


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """As the router spells it (``/api/sheets/{id}``), which OpenAPI's templates share."""
    summary: str
    answers: Mapping[int, Answer]
    """The statuses the route itself answers, besides :data:`COMMON_ERRORS`."""
    parameters: tuple[Mapping[str, Any], ...] = ()
    request: Mapping[str, Any] | None = None
    """The JSON body's schema, for routes that take one."""
    description: str = ""
    security: tuple[str, ...] = ("bearer", "session")
    """The ways in (:data:`SECURITY_SCHEMES`), any one of them; () for none."""
    tags: tuple[str, ...] = field(default=())


_REGISTRY: dict[tuple[str, str], Operation] = {}


def register(operation: Operation) -> Operation:
    """Adds ``operation`` to the document; the same method and path twice is a bug."""
    key = (operation.method.upper(), operation.path)
    if key in _REGISTRY and _REGISTRY[key] != operation:
        raise ValueError(f"{key[0]} {key[1]} is described twice")
    _REGISTRY[key] = operation
    return operation


def add_api_route(app: web.Application, operation: Operation, handler: Handler) -> None:
    """Routes ``operation`` to ``handler`` and documents it: the two cannot drift."""
    register(operation)
    app.router.add_route(operation.method.upper(), operation.path, handler)


def operations() -> list[Operation]:
    return sorted(_REGISTRY.values(), key=lambda o: (o.path, o.method))


def path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    }


def query_parameter(
    name: str, description: str, schema: Mapping[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": dict(schema),
    }


def _response(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.schema is not None:
        out["content"] = {answer.media_type: {"schema": copy.deepcopy(dict(answer.schema))}}
    return out


def _operation(operation: Operation) -> dict[str, Any]:
    responses = {
        str(status): {"description": text, "content": {JSON: {"schema": ERROR_REF}}}
        for status, text in COMMON_ERRORS.items()
    }
    for status, answer in operation.answers.items():
        responses[str(status)] = _response(answer)
    out: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.method.lower() + operation.path.replace("/", "_").replace(
            "{", ""
        ).replace("}", ""),
        "responses": dict(sorted(responses.items())),
    }
    if operation.description:
        out["description"] = operation.description
    if operation.tags:
        out["tags"] = list(operation.tags)
    if operation.parameters:
        out["parameters"] = [dict(p) for p in operation.parameters]
    if operation.request is not None:
        schema = copy.deepcopy(dict(operation.request))
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    out["security"] = [{scheme: []} for scheme in operation.security]
    return out


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations():
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "reccontrol",
            "version": VERSION,
            "description": (
                "The recording controller's JSON API. Every error answers "
                '{"error_id", "message"}; clients branch on error_id.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": copy.deepcopy(ERROR_SCHEMA)},
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }


OPENAPI = register(
    Operation(
        "GET",
        "/api/openapi.json",
        "This document",
        {200: Answer("The OpenAPI 3.1 document", {"type": "object"})},
        security=(),
    )
)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(), headers={"Cache-Control": "no-cache"})


# -- every error a JSON body with an error_id ----------------------------------------------
ERROR_IDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
}


def _wants_page(request: web.Request) -> bool:
    """A browser asking for a page: the console answers it in HTML (its
    ``page_errors``)."""
    return not request.path.startswith("/api/") and "text/html" in request.headers.get(
        "Accept", ""
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An HTTP error raised without a JSON body (the router's 404 and 405, aiohttp's
    413) becomes one with an ``error_id``; its status and headers (``Allow``) stay."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == JSON or _wants_page(request):
            raise
        error_id = ERROR_IDS.get(exc.status, f"http-{exc.status}")
        answer = error(exc.status, error_id, exc.reason.lower())
        for name in ("Allow", "WWW-Authenticate", "Retry-After"):
            if name in exc.headers:
                answer.headers[name] = exc.headers[name]
        return answer


def add_openapi(app: web.Application) -> None:
    """Serves the document and gives every error answer its ``error_id``."""
    app.middlewares.append(json_errors)
    app.router.add_get(OPENAPI.path, openapi_json)
