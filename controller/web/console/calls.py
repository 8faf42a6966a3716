"""Finding calls (S1, S2): ``/calls``, the filter form and the paged table, and
``/calls/{id}``, everything kept about one call; their JSON twins ``GET /api/calls`` and
``GET /api/calls/{id}``.

Each listing and each call page is one access-log entry (action ``list`` or ``view``),
refusals too; the purpose is the one the person typed (``purpose=``), else the page's.
A call outside the person's services answers 404 ``not-found``, like one that does not
exist. No caller number is ever shown: the store has none, only the HMAC, whose short
form tells two calls of one caller apart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from controller.access.call_filters import (
    REASONS,
    PageRequest,
    call_filters,
    page_request,
)
from controller.config.model import Person
from controller.store.call_views import NO_PAYMENT
from controller.web.console.auth import api, page
from controller.web.console.door import (
    Refused,
    api_refusal,
    context_of,
    page_refusal,
    purpose_of,
    refused_from,
    through_door,
)
from controller.web.console.render import render
from controller.web.keys import CONFIG

LIST_PURPOSE = "find calls in the console"
VIEW_PURPOSE = "read a call's page in the console"
FILTER_FIELDS = ("service", "from", "to", "agent", "reason", "recorded", "paused", "payment")
PAYMENT_CHOICES = (NO_PAYMENT, "approved", "declined", "rejected", "unavailable", "abandoned")


def _query(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items() if isinstance(v, str)}


async def _listing(request: web.Request, person: Person) -> tuple[dict[str, Any], PageRequest]:
    query = _query(request)
    try:
        filters = call_filters(query, request.app[CONFIG].timezone)
        wanted = page_request(query)
    except ValueError as exc:
        raise refused_from(exc) from None
    purpose = purpose_of(query, LIST_PURPOSE)
    found = await through_door(
        request, lambda door: door.calls_list(person, purpose, filters, wanted)
    )
    return found.to_json(), wanted


async def calls_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /calls``: the filter form and one page of calls, newest first."""
    query = _query(request)
    problem: Refused | None = None
    try:
        found, wanted = await _listing(request, person)
    except Refused as refusal:
        if refusal.status != 400:
            return page_refusal(request, refusal)
        # The form is shown again with the field that cannot be read named.
        found, wanted, problem = {"calls": [], "total": 0, "next": None}, PageRequest(), refusal
    kept = {k: query[k] for k in (*FILTER_FIELDS, "size", "purpose") if query.get(k)}
    next_link = None
    if found["next"] is not None:
        next_link = "/calls?" + urlencode({**kept, "after": found["next"]})
    config = request.app[CONFIG]
    context = context_of(
        request,
        calls=found["calls"],
        total=found["total"],
        total_capped=found.get("total_capped", False),
        next_link=next_link,
        first_link="/calls?" + urlencode(kept) if wanted.after is not None else None,
        query=query,
        services=sorted(s for s in config.services if person.sees(s)),
        reasons=REASONS,
        payments=PAYMENT_CHOICES,
        problem=problem,
    )
    return render(request, "calls.html", context, status=400 if problem else 200)


async def call_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /calls/{id}``: the decision and its inputs, consent, pauses, payment,
    recordings, sheets and deadlines; the listen and sheet forms go in
    ``call_listen.html``."""
    call_id = request.match_info["id"]
    purpose = purpose_of(_query(request), VIEW_PURPOSE)
    try:
        view = await through_door(request, lambda door: door.call_view(person, purpose, call_id))
    except Refused as refusal:
        return page_refusal(request, refusal)
    return render(request, "call.html", context_of(request, call=view))


async def calls_api(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /api/calls``: the calls of the person's services, newest first.

    Query: ``service``, ``from``, ``to`` (YYYY-MM-DD, days of the site's time zone, both
    included), ``agent``, ``reason`` (a decision reason), ``recorded``, ``paused``
    (``yes``/``no``), ``payment`` (a status, or ``none``), ``size`` (1-200, default 50),
    ``after`` (the previous page's ``next``), ``purpose``.

    200: ``{"calls": [{"id", "service", "direction", "started_at", "duration_seconds",
    "agent", "decision": {"record", "reason"} | null, "recordings": [id], "pauses",
    "payment", "caller"}], "total", "total_capped", "next"}``; 400 ``bad-filter``,
    403 ``forbidden``.
    """
    try:
        found, _ = await _listing(request, person)
    except Refused as refusal:
        return api_refusal(refusal)
    return web.json_response(found)


async def call_api(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /api/calls/{id}``: one call, as its page shows it (``purpose=`` optional).

    200: ``{"id", "service", "direction", "path", "started_at", "ended_at",
    "duration_seconds", "outcome", "agent", "caller", "announcement": {"version",
    "completed"}, "decision": {"record", "reason", "rate", "draw", "in_window", "window",
    "decided_at"} | null, "consent_events": [...], "pauses": [...], "payments": [...],
    "recordings": [{"id", "state", "format", "duration_seconds", "created_at",
    "expires_at", "retention_rule", "listenable", "segment", "agent"}], "segments":
    [{"segment", "agent", "started_at", "ended_at", "decision", "recordings": [id]}] (R3),
    "sheets": [{"id", "evaluator",
    "created_at", "updated_at", "expires_at", "retention_rule"}], "metadata_expires_at",
    "hold": {"reference", "review_by"} | null}``;
    404 ``not-found`` (no such call, or outside the person's services), 403 ``forbidden``.
    """
    call_id = request.match_info["id"]
    purpose = purpose_of(_query(request), VIEW_PURPOSE)
    try:
        view = await through_door(request, lambda door: door.call_view(person, purpose, call_id))
    except Refused as refusal:
        return api_refusal(refusal)
    return web.json_response(view)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/calls", page(calls_page))
    app.router.add_get("/calls/{id}", page(call_page))
    app.router.add_get("/api/calls", api(calls_api))
    app.router.add_get("/api/calls/{id}", api(call_api))
