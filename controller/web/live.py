"""The live view (S8): ``/live``, the calls in progress and their states, kept up to date
by Server-Sent Events; ``GET /api/live`` (the snapshot) and ``GET /api/live/events``
(the stream); and the page's "listen live" form for supervisors with a phone.

What a person sees is the board of :mod:`controller.calls.live` cut to their services:
never a number, never audio. Opening the page or the stream is an access-log entry
(``live_view``).

The stream: a ``snapshot`` first, then ``update`` and ``end`` events as calls change,
a comment every :data:`KEEPALIVE` seconds. The browser's queue is bounded; one that
falls a whole queue behind gets a fresh ``snapshot`` instead of what it missed (the
calls never wait for it). A browser gone is noticed at the next write, and its
subscription dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from controller.access.errors import AccessRefused
from controller.audit.errors import AccessLogError
from controller.calls.live import LiveBoard, LiveState, TooManySubscribers
from controller.config.model import Person
from controller.web.console.auth import api, page
from controller.web.console.render import access, on_store, render
from controller.web.errors import error
from controller.web.keys import CALLS
from controller.web.listening import listen_or_refuse
from controller.web.openapi import ERROR_REF, Answer, Operation, add_api_route

KEEPALIVE = 5.0
"""Seconds between two comments on an idle stream: a browser gone is noticed by then."""
VIEW_PURPOSE = "supervision of the calls in progress"
OUTCOMES = ("dialling", "listen-refused", "not-found", "forbidden", "refused")
"""What the page says after its "listen live" form (``live.outcome_<id>``)."""
STATES = tuple(state.value for state in LiveState)

log = logging.getLogger("reccontrol.web")


_NULLABLE_TEXT = {"type": ["string", "null"]}
LINE = {
    "type": "object",
    "required": [
        "call_id",
        "service",
        "direction",
        "agent_id",
        "started_at",
        "state",
        "pause_reason",
        "listened",
        "payment_progress",
    ],
    "properties": {
        "call_id": {"type": "string"},
        "service": {"type": "string"},
        "direction": {"enum": ["inbound", "outbound"]},
        "agent_id": _NULLABLE_TEXT,
        "started_at": {"type": "string"},
        "state": {"enum": list(STATES)},
        "pause_reason": _NULLABLE_TEXT,
        "listened": {"type": "boolean", "description": "A supervisor listens live (S8)"},
        "payment_progress": {
            "type": ["string", "null"],
            "description": "An assisted payment's entry, masked: bullets, and the card "
            "number's last four digits once it is complete (M4, PCI DSS 3.4.1)",
        },
    },
    "additionalProperties": False,
}
SNAPSHOT = {
    "type": "object",
    "required": ["calls"],
    "properties": {"calls": {"type": "array", "items": LINE}},
    "additionalProperties": False,
}
LIVE = Operation(
    "GET",
    "/api/live",
    "The calls in progress of the person's services and their states: no number (S8)",
    {200: Answer("The board", SNAPSHOT)},
)
EVENTS = Operation(
    "GET",
    "/api/live/events",
    "The same board as Server-Sent Events (S8)",
    {
        200: Answer(
            "event: snapshot (data: the board), then update and end (data: one call's line)",
            {"type": "string"},
            "text/event-stream",
        ),
        503: Answer("Too many live views open at once (too-many-subscribers)", ERROR_REF),
    },
)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/live", page(live_page))
    app.router.add_post("/live/{id}/listen", page(listen_form))
    add_api_route(app, LIVE, api(snapshot))
    add_api_route(app, EVENTS, api(events))


def visible(board: LiveBoard, person: Person) -> list[dict[str, Any]]:
    return [line.as_json() for line in board.snapshot() if person.sees(line.service)]


async def _viewed(request: web.Request, person: Person) -> web.Response | None:
    """Logs the view; the answer to send instead when it is refused."""
    door = access(request)
    try:
        await on_store(request, lambda _: door.live_view(person, VIEW_PURPOSE))
    except AccessRefused as exc:
        return error(403, exc.error_id, exc.reason)
    except AccessLogError as exc:
        return error(503, exc.error_id, "the access log cannot be written; nothing was shown")
    return None


async def live_page(request: web.Request, person: Person) -> web.StreamResponse:
    refused = await _viewed(request, person)
    if refused is not None:
        # A person's page, in their language, with the same error_id as the API's.
        error_id = json.loads(refused.text or "{}").get("error_id", "")
        key = "common.forbidden" if refused.status == 403 else "common.log_unwritable"
        context = {"error_id": error_id, "message_key": key}
        return render(request, "error.html", context, status=refused.status)
    calls = visible(request.app[CALLS].live, person)
    context = {
        "calls": calls,
        "states": STATES,
        "may_listen": person.role == "supervisor" and person.phone is not None,
        "outcome": outcome if (outcome := request.query.get("outcome", "")) in OUTCOMES else "",
    }
    return render(request, "live.html", context)


async def listen_form(request: web.Request, person: Person) -> web.StreamResponse:
    """The page's "listen live" form: the same door as ``POST /api/calls/{id}/listen``;
    back to the page, which says how it went."""
    form = await request.post()
    purpose = str(form.get("purpose", ""))
    answer = await listen_or_refuse(request, person, purpose, stop=False)
    outcome = "dialling"
    if answer.status != 202:
        error_id = json.loads(answer.text or "{}").get("error_id", "")
        outcome = error_id if error_id in OUTCOMES else "refused"
    raise web.HTTPSeeOther(f"/live?outcome={outcome}")


async def snapshot(request: web.Request, person: Person) -> web.StreamResponse:
    refused = await _viewed(request, person)
    if refused is not None:
        return refused
    return web.json_response({"calls": visible(request.app[CALLS].live, person)})


def _frame(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def events(request: web.Request, person: Person) -> web.StreamResponse:
    refused = await _viewed(request, person)
    if refused is not None:
        return refused
    board = request.app[CALLS].live
    try:
        subscription = board.subscribe()
    except TooManySubscribers as exc:
        return error(503, exc.error_id, str(exc))
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            # A reverse proxy must pass each event on at once.
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(_frame("snapshot", {"calls": visible(board, person)}))
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event.call is None:
                await response.write(_frame("snapshot", {"calls": visible(board, person)}))
            elif person.sees(event.call.service):
                await response.write(_frame(event.kind, event.call.as_json()))
    except ConnectionResetError:
        # The browser left; its subscription goes below.
        log.debug("live view: a browser left")
    finally:
        board.unsubscribe(subscription)
    return response
