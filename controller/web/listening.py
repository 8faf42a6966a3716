"""``POST /api/calls/{id}/listen`` and ``DELETE``: a supervisor listens to a call in
progress on their own phone (S8), and ends it.

The request names the person (``X-Reccontrol-Person``) and carries their token as
Bearer; ``POST`` states the purpose (``{"purpose": "..."}``). Every attempt is in the
access log, refusals too. A call that is not in progress and one outside the person's
scope both answer 404 ``not-found``: nobody learns that a call exists through this
route. A call that could not be recorded now (S8) answers 409 ``listen-refused``.

The listening itself is the call's (:mod:`controller.calls.listening`): it dials the
person's phone (``access.persons.<id>.phone``) and stops by itself when the call turns
private, paused or payment, or ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from controller.access.credentials import Token
from controller.access.errors import LISTEN_REFUSED, NOT_FOUND, UNAUTHENTICATED
from controller.access.service import AccessRefused, AccessService
from controller.audit.errors import AccessLogError
from controller.calls.manager import CallManager
from controller.store import SqliteStore, StoreThread
from controller.web.errors import error
from controller.web.guard import FailureLimiter, json_object, too_many
from controller.web.payments import bearer

PERSON_HEADER = "X-Reccontrol-Person"
STOP_PURPOSE = "end of a live listening"
"""What the access log says for a ``DELETE``: ending a listening discloses nothing."""
STATUS = {UNAUTHENTICATED: 401, NOT_FOUND: 404, LISTEN_REFUSED: 409}

log = logging.getLogger("reccontrol.web")


@dataclass(frozen=True)
class ListeningKeys:
    """Where the daemon keeps what these routes use (its ``web.AppKey``s)."""

    store: web.AppKey[StoreThread[SqliteStore]]
    access: web.AppKey[AccessService]
    calls: web.AppKey[CallManager]
    limiter: web.AppKey[FailureLimiter]


def add_routes(app: web.Application, keys: ListeningKeys) -> None:
    async def start(request: web.Request) -> web.Response:
        return await listen(request, keys, stop=False)

    async def stop(request: web.Request) -> web.Response:
        return await listen(request, keys, stop=True)

    app.router.add_post("/api/calls/{call_id}/listen", start)
    app.router.add_delete("/api/calls/{call_id}/listen", stop)


async def listen(request: web.Request, keys: ListeningKeys, *, stop: bool) -> web.Response:
    app = request.app
    limiter, calls, access = app[keys.limiter], app[keys.calls], app[keys.access]
    person_id, token = request.headers.get(PERSON_HEADER, ""), bearer(request)
    if not person_id or not token:
        return error(
            401, UNAUTHENTICATED, f"name the person in {PERSON_HEADER} and send their token"
        )
    if limiter.blocked(person_id):
        return too_many(request)
    purpose = STOP_PURPOSE
    if not stop:
        body = await json_object(request)
        if isinstance(body, web.Response):
            return body
        unknown = sorted(set(body) - {"purpose"})
        if unknown:
            return error(400, "unknown-field", f"unknown field(s): {', '.join(unknown)}")
        if not isinstance(body.get("purpose", ""), str):
            return error(400, "invalid-field", "purpose: must be a string")
        purpose = body.get("purpose", "")
    call_id = calls.find_call(call_id=request.match_info["call_id"])
    service = calls.service_of(call_id) if call_id is not None else None
    typed = request.match_info["call_id"]
    if call_id is None:
        refusal = None
    elif stop:
        refusal = None if calls.listener(call_id) is not None else "nobody listens to this call"
    else:
        refusal = calls.listen_refusal(call_id)

    def authorise(_: SqliteStore) -> str:
        person = access.authenticate(person_id, Token(token))
        if stop:
            access.live_listen_stop(person, purpose, typed, service, refusal)
            return ""
        return access.live_listen(person, purpose, typed, service, refusal)

    try:
        phone = await app[keys.store].run(authorise)
    except AccessRefused as exc:
        if exc.sign_in:
            limiter.failed(person_id)
        return error(STATUS.get(exc.error_id, 403), exc.error_id, exc.reason)
    except AccessLogError as exc:
        # S2, S7: an access that cannot be logged is not done.
        limiter.failed(person_id)
        log.error("ALERT: live listening refused: %s (%s)", exc, exc.error_id)
        return error(503, exc.error_id, "the access log cannot be written; nothing was done")
    assert call_id is not None
    if stop:
        calls.stop_listening(call_id, person_id)
        return web.json_response({"call_id": call_id, "status": "stopping"}, status=202)
    calls.listen(call_id, person_id, phone)
    return web.json_response({"call_id": call_id, "status": "dialling"}, status=202)
