"""The JSON API's OpenAPI 3.1 document, on the real daemon application: every route
under /api/ is in it and nothing else, it is served at /api/openapi.json, the answers
match it, and every error answer carries an error_id, the router's 404 and 405 too."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator

from controller.config import Config, load_config
from controller.daemon import build_app
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri
from tests.openapi import api_document, assert_matches_openapi, template_of
from tests.sites import ENV, site_config, write_site

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def site(tmp_path: Path, ari_url: str = "http://127.0.0.1:9") -> Config:
    data = site_config(tmp_path)
    data["ari"] |= {"url": ari_url, "username": USERNAME}
    data["ari"]["reconnect"] = {"initial_delay": 0.01, "max_delay": 0.1}
    return load_config(
        write_site(tmp_path, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route under /api/, as the router has them; a
    parameter's pattern ({id:[0-9a-f]+}) is left out, as OpenAPI writes it."""
    found = set()
    for resource in app.router.resources():
        info = resource.get_info()
        template = info.get("path") or info.get("formatter") or ""
        template = re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", str(template))
        if not template.startswith("/api/"):
            continue
        for route in resource:
            if route.method in METHODS:
                found.add((route.method, template))
    return found


def documented(doc: dict[str, object]) -> set[tuple[str, str]]:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    return {(m.upper(), p) for p, ops in paths.items() for m in ops}


def test_every_api_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    app = build_app(site(tmp_path))
    routes = api_routes(app)
    assert ("POST", "/api/payments") in routes
    assert routes == documented(api_document())


def test_the_document_is_openapi_3_1_with_valid_schemas_and_error_ids() -> None:
    doc = api_document()
    assert doc["openapi"].startswith("3.1.")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"], (method, path)
            for status, answer in operation["responses"].items():
                for content in answer.get("content", {}).values():
                    Draft202012Validator.check_schema(content["schema"])
                if int(status) >= 400:
                    error = answer["content"]["application/json"]["schema"]
                    assert error == {"$ref": "#/components/schemas/Error"}, (path, status)
            body = operation.get("requestBody")
            if body is not None:
                Draft202012Validator.check_schema(body["content"]["application/json"]["schema"])
    assert doc["components"]["schemas"]["Error"]["required"] == ["error_id", "message"]


def test_a_path_falls_under_its_template() -> None:
    doc: dict[str, Any] = {"paths": {"/api/sheets/{id}": {}, "/api/sheets/new": {}}}
    doc["paths"]["/api/payments"] = {}
    assert template_of(doc, "/api/sheets/abc123") == "/api/sheets/{id}"
    assert template_of(doc, "/api/sheets/new") == "/api/sheets/new"
    assert template_of(doc, "/api/payments?x=1") == "/api/payments"
    with pytest.raises(AssertionError, match="not in the OpenAPI document"):
        template_of(doc, "/api/sheets/a/b")


def test_an_answer_outside_its_schema_fails_the_check() -> None:
    """The helper the API tests use can fail: an undocumented status, a body without its
    error_id, a success body of the wrong shape."""
    with pytest.raises(AssertionError, match="undocumented"):
        assert_matches_openapi({}, "POST", "/api/payments", 418)
    with pytest.raises(AssertionError, match="'error_id' is a required property"):
        assert_matches_openapi({"message": "no"}, "POST", "/api/payments", 401)
    with pytest.raises(AssertionError, match="payment_started"):
        assert_matches_openapi({"call_id": "c", "status": "done"}, "POST", "/api/payments", 202)
    assert_matches_openapi(
        {"call_id": "c", "status": "payment_started"}, "POST", "/api/payments", 202
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    config = site(tmp_path, str(ari.make_url("")).rstrip("/"))
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    yield client
    await client.close()
    await ari.close()


async def test_the_document_is_served_and_matches_itself(
    client: TestClient[web.Request, web.Application],
) -> None:
    async with client.get("/api/openapi.json") as answer:
        assert answer.status == 200
        served = await answer.json()
    assert served == json.loads(json.dumps(api_document()))
    assert_matches_openapi(served, "GET", "/api/openapi.json", 200)


async def test_payment_answers_match_the_document(
    client: TestClient[web.Request, web.Application],
) -> None:
    body = {"person": "mleroy", "purpose": "card payment", "agent": "alice"}
    body |= {"amount": "10.00", "order_reference": "CMD-1"}
    asked = [
        ({"json": body, "headers": {"Authorization": "Bearer wrong"}}, 401),
        ({"data": "[" * 1000, "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": "{}", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"json": body | {"amount": "-1"}}, 400),
    ]
    for kwargs, status in asked:
        async with client.post("/api/payments", **kwargs) as answer:  # type: ignore[arg-type]
            assert answer.status == status
            assert_matches_openapi(await answer.json(), "POST", "/api/payments", status)


@pytest.mark.parametrize(
    ("method", "path", "status", "error_id"),
    [
        ("GET", "/api/nothing-here", 404, "not-found"),
        ("GET", "/nothing-here", 404, "not-found"),
        ("DELETE", "/api/payments", 405, "method-not-allowed"),
        ("POST", "/api/openapi.json", 405, "method-not-allowed"),
    ],
)
async def test_the_routers_own_errors_carry_an_error_id(
    client: TestClient[web.Request, web.Application],
    method: str,
    path: str,
    status: int,
    error_id: str,
) -> None:
    async with client.request(method, path) as answer:
        assert answer.status == status
        assert answer.content_type == "application/json"
        assert (await answer.json())["error_id"] == error_id
        if status == 405:
            assert answer.headers["Allow"]
