"""Checking the JSON API's answers against its OpenAPI document.

Every API test calls :func:`assert_matches_openapi` on each JSON answer it gets::

    async with client.get(f"/api/sheets/{sheet_id}") as answer:
        body = await answer.json()
        assert_matches_openapi(body, "GET", f"/api/sheets/{sheet_id}", answer.status)

The path may be the one requested or the route's template (``/api/sheets/{id}``). The
check fails when the route or the status is not in the document, or when the body does
not match the schema the document gives for it (JSON Schema 2020-12, as OpenAPI 3.1).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from jsonschema import Draft202012Validator

from controller.web.openapi import JSON, document

# The modules whose import describes the API's routes; the console's, once it exists.
ROUTE_MODULES = ("controller.daemon", "controller.web.console")


def api_document() -> dict[str, Any]:
    for name in ROUTE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return document()


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def template_of(doc: dict[str, Any], path: str) -> str:
    """The document's path template that ``path`` (a template or a real path) falls under."""
    if path in doc["paths"]:
        return path
    path = path.split("?", 1)[0]
    matches: list[str] = [t for t in doc["paths"] if _template_pattern(t).fullmatch(path)]
    assert matches, f"{path} is not in the OpenAPI document"
    # A literal segment beats a parameter (/api/sheets/new before /api/sheets/{id}).
    return min(matches, key=lambda t: t.count("{"))


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    doc = api_document()
    template = template_of(doc, path)
    operations = doc["paths"][template]
    assert method.lower() in operations, f"{method} {template} is not in the OpenAPI document"
    responses = operations[method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, undocumented"
    content = responses[str(status)].get("content", {})
    assert JSON in content, f"{method} {template} {status}: the document gives no JSON body"
    schema: dict[str, Any] = content[JSON]["schema"]
    # The document's components go along, so "#/components/schemas/..." resolves.
    return {**schema, "components": doc["components"]}


def assert_matches_openapi(response_json: Any, method: str, path: str, status: int) -> None:
    schema = response_schema(method, path, status)
    errors = sorted(Draft202012Validator(schema).iter_errors(response_json), key=str)
    assert not errors, f"{method} {path} {status}: " + "; ".join(e.message for e in errors)
