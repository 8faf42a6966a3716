"""``POST /api/calls/{id}/listen`` and ``DELETE``: a supervisor listens to a call in
progress on their own phone (S8), and ends it.

Signed in through the console's :func:`~controller.web.console.auth.api` wrapper (the
session cookie with its CSRF header, or a Bearer token with ``X-Reccontrol-Person``).
``POST`` states the purpose (``{"purpose": "..."}``). Every attempt is in the access
log, refusals too. A call that is not in progress and one outside the person's scope
both answer 404 ``not-found``: nobody learns that a call exists through this route. A
call that could not be recorded now (S8) answers 409 ``listen-refused``.

The listening itself is the call's (:mod:`controller.calls.listening`): it dials the
person's phone (``access.persons.<id>.phone``) and stops by itself when the call turns
private, paused or payment, or ends.
"""

from __future__ import annotations

import logging

from aiohttp import web

from controller.access.errors import LISTEN_REFUSED, NOT_FOUND, UNAUTHENTICATED
from controller.access.service import AccessRefused
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.store import SqliteStore
from controller.web.console.auth import api
from controller.web.console.render import access, on_store
from controller.web.errors import error
from controller.web.guard import json_object
from controller.web.keys import CALLS
from controller.web.openapi import ERROR_REF, Answer, Operation, add_api_route, path_parameter

STOP_PURPOSE = "end of a live listening"
"""What the access log says for a ``DELETE``: ending a listening discloses nothing."""
STATUS = {UNAUTHENTICATED: 401, NOT_FOUND: 404, LISTEN_REFUSED: 409}

log = logging.getLogger("reccontrol.web")


_STARTED = {
    "type": "object",
    "required": ["call_id", "status"],
    "properties": {"call_id": {"type": "string"}, "status": {"enum": ["dialling", "stopping"]}},
    "additionalProperties": False,
}
_REFUSED = Answer(
    "Allowed, but not this call now (listen-refused): it could not be recorded now (S8), "
    "or nobody listens to it",
    ERROR_REF,
)
_CALL = path_parameter("id", "The call's id")
START = Operation(
    "POST",
    "/api/calls/{id}/listen",
    "Listen to a call in progress on the person's own phone (S8)",
    {202: Answer("The person's phone is being dialled", _STARTED), 409: _REFUSED},
    parameters=(_CALL,),
    request={
        "type": "object",
        "required": ["purpose"],
        "properties": {"purpose": {"type": "string", "minLength": 5, "maxLength": 500}},
        "additionalProperties": False,
    },
    description="Supervisors with access.persons.<id>.phone; each attempt is logged.",
)
STOP = Operation(
    "DELETE",
    "/api/calls/{id}/listen",
    "End the live listening of a call (S8)",
    {202: Answer("The listening is being ended", _STARTED), 409: _REFUSED},
    parameters=(_CALL,),
)


def add_routes(app: web.Application) -> None:
    add_api_route(app, START, api(start))
    add_api_route(app, STOP, api(stop))


async def start(request: web.Request, person: Person) -> web.StreamResponse:
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    unknown = sorted(set(body) - {"purpose"})
    if unknown:
        return error(400, "unknown-field", f"unknown field(s): {', '.join(unknown)}")
    purpose = body.get("purpose", "")
    if not isinstance(purpose, str):
        return error(400, "invalid-field", "purpose: must be a string")
    return await listen_or_refuse(request, person, purpose, stop=False)


async def stop(request: web.Request, person: Person) -> web.StreamResponse:
    return await listen_or_refuse(request, person, STOP_PURPOSE, stop=True)


async def listen_or_refuse(
    request: web.Request, person: Person, purpose: str, *, stop: bool
) -> web.Response:
    """Starts (or stops) listening to the call the path names, through the door; the
    JSON answer either way."""
    calls, door = request.app[CALLS], access(request)
    typed = request.match_info["id"]
    call_id = calls.find_call(call_id=typed)
    service = calls.service_of(call_id) if call_id is not None else None
    refusal: str | None = None
    if call_id is not None and stop:
        refusal = None if calls.listener(call_id) is not None else "nobody listens to this call"
    elif call_id is not None:
        refusal = calls.listen_refusal(call_id)

    def authorise(_: SqliteStore) -> str:
        if stop:
            door.live_listen_stop(person, purpose, typed, service, refusal)
            return ""
        return door.live_listen(person, purpose, typed, service, refusal)

    try:
        phone = await on_store(request, authorise)
    except AccessRefused as exc:
        return error(STATUS.get(exc.error_id, 403), exc.error_id, exc.reason)
    except AccessLogError as exc:
        # S2, S7: an access that cannot be logged is not done.
        log.error("ALERT: live listening refused: %s (%s)", exc, exc.error_id)
        return error(503, exc.error_id, "the access log cannot be written; nothing was done")
    assert call_id is not None
    if stop:
        calls.stop_listening(call_id, person.id)
        return web.json_response({"call_id": call_id, "status": "stopping"}, status=202)
    calls.listen(call_id, person.id, phone)
    return web.json_response({"call_id": call_id, "status": "dialling"}, status=202)
