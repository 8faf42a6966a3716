"""The console: server-rendered pages for supervisors, quality staff and the DPO, served
by the daemon, every access through the audited door (S1, S2, S4).

:func:`add_console` puts it on the daemon's application. How a page is written:

- ``async def handler(request, person)`` wrapped by :func:`~.auth.page` (HTML) or
  :func:`~.auth.api` (JSON under ``/api/``): the wrapper finds the signed-in person, or
  answers for you (sign-in redirect, 401), and checks the CSRF token of a write;
- blocking work (the store, files, the audited door) runs on the store thread through
  :func:`~.render.on_store`; :func:`~.render.access` is the door;
- :func:`~.render.render` fills a template of ``controller/web/templates/`` (extending
  ``base.html``) with the page's words in French or English (``text/<area>.yaml``);
- each area registers its routes in its own module's ``add_routes(app)``, called below.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from controller.config.model import Person
from controller.web import listening, live
from controller.web.console import auth, calls, dpo, media, redact, report, subjects
from controller.web.console.page_errors import page_errors
from controller.web.console.render import SESSIONS, render, setup_templates
from controller.web.console.sessions import Sessions
from controller.web.keys import CONFIG
from controller.web.openapi import Answer, Operation, add_api_route, add_openapi

STATIC = Path(__file__).resolve().parent.parent / "static"


async def home(request: web.Request, person: Person) -> web.StreamResponse:
    return render(request, "home.html", {})


async def me(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /api/me``: who the credential or session is."""
    who = {"id": person.id, "name": person.name, "role": person.role}
    return web.json_response(who | {"services": list(person.services)})


ME = Operation(
    "GET",
    "/api/me",
    "Who the session or token is",
    {
        200: Answer(
            "The signed-in person",
            {
                "type": "object",
                "required": ["id", "name", "role", "services"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "role": {"type": "string"},
                    "services": {"type": "array", "items": {"type": "string"}},
                },
            },
        )
    },
)
SIGN_OUT = Operation("POST", "/api/sign-out", "End the session", {204: Answer("Signed out")})


def add_console(app: web.Application) -> None:
    config = app[CONFIG]
    app[SESSIONS] = Sessions(config.web.session_idle_seconds)
    setup_templates(app)
    router = app.router
    router.add_get("/", auth.page(home))
    router.add_get("/sign-in", auth.sign_in_form)
    router.add_post("/sign-in", auth.sign_in)
    router.add_post("/sign-out", auth.page(auth.sign_out))
    router.add_post("/language", auth.choose_language)
    add_openapi(app)
    app.middlewares.append(page_errors)
    add_api_route(app, ME, auth.api(me))
    add_api_route(app, SIGN_OUT, auth.api(auth.api_sign_out))
    subjects.add_routes(app)
    media.add_routes(app)
    router.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
    calls.add_routes(app)
    redact.add_routes(app)
    report.add_routes(app)
    dpo.add_routes(app)
    listening.add_routes(app)
    live.add_routes(app)
