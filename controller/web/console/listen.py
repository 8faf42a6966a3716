"""Listening to and downloading a recording from the console (S1, S2, S4).

The call's page holds, per recording, a form (``call_listen.html``): the person picks a
purpose from a short list and may add words; no audio is fetched before that. Posting
it authorises the listen once through the audited door (one access-log entry) and
shows a page with an ``<audio>`` element whose source is the grant's URL
(:mod:`controller.web.audio` says why a grant): the player's range requests go there.
A download is posted the same way and answered with the file as an attachment. Who may
do which is the gate's (:data:`~controller.access.gate.PERMISSIONS`): quality staff
listen, supervisors listen and download; the page only offers what the role allows.

``GET /api/recordings/{id}/audio?purpose=...`` is the JSON API's twin: the same grant,
reused while the same person asks for the same recording with the same purpose, so a
client's range requests are one access too.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controller.access.errors import NOT_FOUND, AccessFailed, AccessRefused
from controller.access.gate import PERMISSIONS
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.web.audio import (
    ACTIONS,
    AUDIO_GRANTS,
    FAILURE_STATUS,
    AudioGrants,
    Door,
    authorise,
    serve_grant,
    serve_recording,
    stream_recording,
)
from controller.web.console import auth
from controller.web.console.render import render
from controller.web.keys import ACCESS, CONFIG, STORE, VAULT
from controller.web.openapi import Answer, Operation, add_api_route, path_parameter, query_parameter
from controller.web.security import headers_for

PURPOSES = ("quality", "training", "mediation", "dispute", "other")
"""The purposes offered on the form; ``other`` needs the person's own words."""
MAX_DETAIL = 400


def stated_purpose(choice: str, detail: str) -> str:
    """The purpose as the access log keeps it: the purpose chosen, then the person's
    words. "" when neither says anything (the door refuses it: a purpose must be
    stated, S2)."""
    detail = " ".join(detail.split())[:MAX_DETAIL]
    if choice == "other":
        return detail
    if choice not in PURPOSES:
        return ""
    return f"{choice}: {detail}" if detail else choice


def may(person: Person | None, action: str) -> bool:
    """Whether the role may do ``action``: for showing a button only; the door decides."""
    return person is not None and person.role in PERMISSIONS.get(action, frozenset())


def door(request: web.Request) -> Door:
    app = request.app
    headers = headers_for(app[CONFIG].web)
    return Door(app[STORE], app[ACCESS], app[VAULT], app[AUDIO_GRANTS], headers)


def refusal_page(
    request: web.Request, exc: AccessRefused | AccessFailed | AccessLogError
) -> web.Response:
    """The page for what the door raised: a recording, call or sheet outside the
    person's scope reads exactly like one that does not exist."""
    context: dict[str, Any]
    if isinstance(exc, AccessRefused) and exc.error_id == NOT_FOUND:
        context, status = {"message_key": "common.not_found"}, 404
    elif isinstance(exc, AccessRefused):
        context = {"message_key": "media.refused", "detail": exc.reason}
        status = {"invalid-sheet": 400, "sheet-changed": 409, "no-agent": 409}.get(
            exc.error_id, 403
        )
    elif isinstance(exc, AccessFailed):
        context = {"message_key": "media.failed"}
        status = FAILURE_STATUS.get(exc.error_id, 500)
    else:
        context, status = {"message_key": "common.log_unwritable"}, 503
    return render(request, "error.html", {"error_id": exc.error_id, **context}, status=status)


async def listen(request: web.Request, person: Person) -> web.StreamResponse:
    """``POST /recordings/{id}/listen``: the purpose form, for a listen or a download."""
    form = await request.post()
    recording_id = request.match_info["id"]
    action = str(form.get("action", "listen"))
    if action not in ACTIONS:
        action = "listen"
    purpose = stated_purpose(str(form.get("purpose", "")), str(form.get("detail", "")))
    try:
        grant = await authorise(door(request), person, action, purpose, recording_id)
    except (AccessRefused, AccessFailed, AccessLogError) as exc:
        return refusal_page(request, exc)
    if action == "download":
        serving = door(request)
        return await stream_recording(
            request, serving.vault, grant.handle, download=True, headers=serving.headers
        )
    context = {
        "recording_id": recording_id,
        "call_id": str(form.get("call", "")),
        "source": f"/recordings/{recording_id}/audio/{grant.token}",
        "purpose": purpose,
        "choice": str(form.get("purpose", "")),
        "detail": str(form.get("detail", "")),
        "may_download": may(person, "download"),
    }
    return render(request, "listen.html", context)


async def granted_audio(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /recordings/{id}/audio/{grant}``: the player's source, range by range."""
    info = request.match_info
    return await serve_grant(request, door(request), person, info["id"], info["grant"])


async def api_audio(request: web.Request, person: Person) -> web.StreamResponse:
    query = request.query
    action = "download" if query.get("download", "") in ("1", "true") else "listen"
    return await serve_recording(
        request, door(request), person, action, query.get("purpose", ""), request.match_info["id"]
    )


_BINARY = {"type": "string", "contentMediaType": "audio/*"}
_ERROR = {"$ref": "#/components/schemas/Error"}
AUDIO = Operation(
    "GET",
    "/api/recordings/{id}/audio",
    "Listen to or download a recording (S2, S4)",
    {
        200: Answer("The whole file (wav: audio/wav, gsm: audio/x-gsm, ...)", _BINARY, "audio/*"),
        206: Answer("The one byte range asked for (Content-Range)", _BINARY, "audio/*"),
        409: Answer("Not the file recorded (file-changed, vault-file-refused)", _ERROR),
        410: Answer("The recording's file is missing (file-missing)", _ERROR),
        416: Answer("The range lies past the end (range-not-satisfiable)", _ERROR),
    },
    parameters=(
        path_parameter("id", "The recording's id"),
        query_parameter(
            "purpose",
            "Why the person listens (S2): at least 5 characters, no phone or card number",
            {"type": "string", "maxLength": 500},
            required=True,
        ),
        query_parameter(
            "download", "1 or true: a download (an attachment), else a listen", {"type": "string"}
        ),
    ),
    description=(
        "Accept-Ranges: bytes; one range per request. The first request is one entry of "
        "the access log; the same person asking for the same recording with the same "
        "purpose within 10 minutes of the last request (4 hours at most) is the same "
        "access and writes none."
    ),
)


def add_routes(app: web.Application) -> None:
    app[AUDIO_GRANTS] = AudioGrants()
    app.router.add_post("/recordings/{id}/listen", auth.page(listen))
    app.router.add_get("/recordings/{id}/audio/{grant}", auth.page(granted_audio))
    add_api_route(app, AUDIO, auth.api(api_audio))
