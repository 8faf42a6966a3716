"""Summary sheets from the console (T2, S2, S9): write one about a call with the site's
criteria (``sheets.criteria``), read it, edit it; each through the audited door with a
stated purpose, each one access-log entry. A sheet shows its own deadline: it is kept
until ``expires_at`` (at most a year, T2), then purged.

Pages: ``GET /calls/{id}/sheets/new`` (the form), ``POST /calls/{id}/sheets``,
``GET /sheets/{id}?purpose=...&detail=...``, ``POST /sheets/{id}`` (an edit). JSON:
``POST /api/calls/{id}/sheets``, ``GET /api/sheets/{id}?purpose=...``,
``PUT /api/sheets/{id}``. Forms carry the session's CSRF token (checked by
:func:`~controller.web.console.auth.page`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from controller.access.errors import AccessFailed, AccessRefused
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.sheets import Sheet
from controller.web.audio import access_answer
from controller.web.console import auth
from controller.web.console.door import context_of
from controller.web.console.listen import PURPOSES, may, refusal_page, stated_purpose
from controller.web.console.render import access, on_store, render
from controller.web.console.sheet_input import (
    SHEET_SCHEMA,
    SheetInput,
    from_form,
    from_json,
    sheet_json,
)
from controller.web.errors import error
from controller.web.guard import json_object
from controller.web.keys import CONFIG
from controller.web.openapi import Answer, Operation, add_api_route, path_parameter, query_parameter

Refusal = (AccessRefused, AccessFailed, AccessLogError)


def _purpose(values: Mapping[str, Any]) -> str:
    return stated_purpose(str(values.get("purpose", "")), str(values.get("detail", "")))


async def _create(person: Person, request: web.Request, call_id: str, given: SheetInput) -> Sheet:
    door = access(request)
    return await on_store(
        request,
        lambda _: door.sheet_create(
            person, given.purpose, call_id, given.scores, given.comments, given.free_text or ""
        ),
    )


async def _edit(person: Person, request: web.Request, sheet_id: str, given: SheetInput) -> Sheet:
    door = access(request)
    return await on_store(
        request,
        lambda _: door.sheet_edit(
            person, given.purpose, sheet_id, given.scores, given.comments, given.free_text
        ),
    )


def _sheet_page(
    request: web.Request, person: Person, sheet: Sheet, purpose: str, linked: bool | None
) -> web.Response:
    context = context_of(
        request,
        sheet=sheet,
        linked=linked,
        may_edit=may(person, "sheet_edit"),
        rows=[
            {"id": s.criterion, "label": s.label, "max_score": s.max_score}
            | {"score": s.score, "comment": s.comment}
            for s in sheet.scores
        ],
        free_text=sheet.free_text,
        **_chosen(purpose),
    )
    return render(request, "sheet.html", context)


def _chosen(purpose: str) -> dict[str, str]:
    """The purpose form filled in again with the purpose just stated (an edit states
    its own, most often the same)."""
    choice, _, detail = purpose.partition(": ")
    if choice in PURPOSES:
        return {"choice": choice, "detail": detail}
    return {"choice": "other", "detail": purpose}


def _bad_form(request: web.Request, problem: str) -> web.Response:
    context = {"error_id": "invalid-field", "message_key": "media.refused", "detail": problem}
    return render(request, "error.html", context, status=400)


# -- pages ------------------------------------------------------------------------------
async def new_sheet(request: web.Request, person: Person) -> web.StreamResponse:
    """The empty form; nothing is read, so nothing is logged until it is posted."""
    rows = [
        {"id": c.id, "label": c.label, "max_score": c.max_score, "score": None, "comment": ""}
        for c in request.app[CONFIG].sheets.criteria
    ]
    context = {"call_id": request.match_info["id"], "rows": rows, "free_text": ""}
    return render(request, "sheet_new.html", context)


async def create_sheet(request: web.Request, person: Person) -> web.StreamResponse:
    return await _write_from_form(request, person, editing=False)


async def read_sheet(request: web.Request, person: Person) -> web.StreamResponse:
    sheet_id = request.match_info["id"]
    purpose = _purpose(request.query)
    if not purpose:
        # The purpose comes first (S2): the sheet is read only once it is stated.
        return render(request, "sheet_purpose.html", {"sheet_id": sheet_id})
    door = access(request)
    try:
        view = await on_store(request, lambda _: door.sheet_read(person, purpose, sheet_id))
    except Refusal as exc:
        return refusal_page(request, exc)
    return _sheet_page(request, person, view.sheet, purpose, view.recording_available)


async def edit_sheet(request: web.Request, person: Person) -> web.StreamResponse:
    return await _write_from_form(request, person, editing=True)


async def _write_from_form(
    request: web.Request, person: Person, *, editing: bool
) -> web.StreamResponse:
    """A sheet's form posted: a new sheet on the call ``{id}``, or an edit of the sheet
    ``{id}``; then the sheet's page."""
    criteria = request.app[CONFIG].sheets.criteria
    form: MultiDictProxy[Any] = await request.post()
    given = from_form(form, criteria, _purpose(form), editing=editing)
    if isinstance(given, str):
        return _bad_form(request, given)
    write = _edit if editing else _create
    try:
        sheet = await write(person, request, request.match_info["id"], given)
    except Refusal as exc:
        return refusal_page(request, exc)
    return _sheet_page(request, person, sheet, given.purpose, None)


# -- JSON -------------------------------------------------------------------------------
async def api_create(request: web.Request, person: Person) -> web.StreamResponse:
    return await _write_from_json(request, person, editing=False)


async def api_read(request: web.Request, person: Person) -> web.StreamResponse:
    sheet_id, purpose = request.match_info["id"], request.query.get("purpose", "")
    door = access(request)
    try:
        view = await on_store(request, lambda _: door.sheet_read(person, purpose, sheet_id))
    except Refusal as exc:
        return access_answer(exc, "sheet")
    return web.json_response(sheet_json(view.sheet, view.recording_available))


async def api_edit(request: web.Request, person: Person) -> web.StreamResponse:
    return await _write_from_json(request, person, editing=True)


async def _write_from_json(
    request: web.Request, person: Person, *, editing: bool
) -> web.StreamResponse:
    """A sheet's JSON: a new sheet on the call ``{id}`` (201), or an edit of the sheet
    ``{id}``; answered with the sheet."""
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    given = from_json(body, editing=editing)
    if isinstance(given, str):
        return error(400, "invalid-field", given)
    write = _edit if editing else _create
    try:
        sheet = await write(person, request, request.match_info["id"], given)
    except Refusal as exc:
        return access_answer(exc, "sheet" if editing else "call")
    return web.json_response(sheet_json(sheet, None), status=200 if editing else 201)


_ERROR = {"$ref": "#/components/schemas/Error"}
_PURPOSE = query_parameter(
    "purpose",
    "Why the person reads it (S2): at least 5 characters, no phone or card number",
    {"type": "string", "maxLength": 500},
    required=True,
)


def _body(editing: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["purpose"],
        "properties": {
            "purpose": {"type": "string", "maxLength": 500},
            "scores": {
                "type": "object",
                "additionalProperties": {"type": ["integer", "null"], "minimum": 0},
                "description": "criterion id -> score (0 to the criterion's max_score)",
            },
            "comments": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 1000},
            },
            "free_text": {"type": "string", "maxLength": 4000},
        },
    }
    if editing:
        schema["description"] = "Criteria left out keep their score and comment"
    return schema


CREATE = Operation(
    "POST",
    "/api/calls/{id}/sheets",
    "Write a summary sheet about a call (T2)",
    {
        201: Answer("The sheet, with its deadline (expires_at)", SHEET_SCHEMA),
        409: Answer("The call has no agent to evaluate (no-agent)", _ERROR),
    },
    parameters=(path_parameter("id", "The call's id"),),
    request=_body(False),
)
READ = Operation(
    "GET",
    "/api/sheets/{id}",
    "Read a summary sheet (T2)",
    {200: Answer("The sheet, with its deadline (expires_at)", SHEET_SCHEMA)},
    parameters=(path_parameter("id", "The sheet's id"), _PURPOSE),
)
EDIT = Operation(
    "PUT",
    "/api/sheets/{id}",
    "Edit a summary sheet's evaluation (T2)",
    {
        200: Answer("The sheet as saved", SHEET_SCHEMA),
        409: Answer("Saved by someone else meanwhile: read it again (sheet-changed)", _ERROR),
    },
    parameters=(path_parameter("id", "The sheet's id"),),
    request=_body(True),
)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/calls/{id}/sheets/new", auth.page(new_sheet))
    router.add_post("/calls/{id}/sheets", auth.page(create_sheet))
    router.add_get("/sheets/{id}", auth.page(read_sheet))
    router.add_post("/sheets/{id}", auth.page(edit_sheet))
    add_api_route(app, CREATE, auth.api(api_create))
    add_api_route(app, READ, auth.api(api_read))
    add_api_route(app, EDIT, auth.api(api_edit))
