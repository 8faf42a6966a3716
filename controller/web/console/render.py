"""Pages from templates, and the daemon's parts a page handler needs.

Templates live in ``controller/web/templates/`` and extend ``base.html``; they are
autoescaped. Each gets ``t`` (the words, in the page's language), ``person`` (None on
the sign-in page), ``csrf`` (the session's token, for every form) and ``lang``."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp_jinja2
import jinja2
from aiohttp import web

from controller.access.service import AccessService
from controller.config.model import Person
from controller.store import SqliteStore
from controller.web.console.i18n import LANGUAGES, preferred, text
from controller.web.console.nav import sections_for
from controller.web.console.sessions import COOKIE, Session, Sessions
from controller.web.keys import ACCESS, CONFIG, STORE

T = TypeVar("T")

SESSIONS = web.AppKey("sessions", Sessions)
SIGNED_IN = web.RequestKey("signed_in", tuple[Person, Session])
"""Set by :func:`~controller.web.console.auth.page` for the handler's request."""
LANGUAGE_COOKIE = "reccontrol_lang"
FORM_COOKIE = "reccontrol_form"
"""Before a sign-in there is no session to carry a CSRF token: the sign-in and language
forms carry this cookie's value in a field instead (double submit); another site can
neither read the cookie nor make the browser send it (``SameSite=Strict``)."""


def setup_templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("controller.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )


def session_of(request: web.Request) -> Session | None:
    return request.app[SESSIONS].find(request.cookies.get(COOKIE))


def language(request: web.Request, session: Session | None = None) -> str:
    """The person's choice on the page, else the browser's, else the site's."""
    chosen = session.language if session is not None else None
    chosen = chosen or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    default = request.app[CONFIG].web.language
    return preferred(request.headers.get("Accept-Language", ""), default)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    person: Person | None = None,
    session: Session | None = None,
    status: int = 200,
) -> web.Response:
    if person is None and session is None and SIGNED_IN in request:
        person, session = request[SIGNED_IN]
    lang = language(request, session)
    form_token = None
    if session is None:
        form_token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    values: dict[str, Any] = {
        "t": lambda key: text(key, lang),
        "lang": lang,
        "person": person,
        "csrf": session.csrf if session is not None else form_token,
        "path": request.path_qs,
        "nav": sections_for(person) if person is not None else [],
    }
    values.update(context)
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    response.content_type = "text/html"
    response.charset = "utf-8"
    if form_token is not None:
        set_cookie(request, response, FORM_COOKIE, form_token)
    return response


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.app[CONFIG].web.secure,
        path="/",
    )


def form_token_ok(request: web.Request, presented: object) -> bool:
    """The double-submitted token of a form shown before a sign-in (or the session's)."""
    if not isinstance(presented, str) or not presented:
        return False
    session = session_of(request)
    if session is not None and session.csrf_ok(presented):
        return True
    expected = request.cookies.get(FORM_COOKIE, "")
    return bool(expected) and hmac.compare_digest(presented, expected)


async def on_store(request: web.Request, fn: Callable[[SqliteStore], T]) -> T:
    """``fn(store)`` on the store's thread: SQLite and files never block the event loop."""
    return await request.app[STORE].run(fn)


def access(request: web.Request) -> AccessService:
    """The audited door. It lives on the store thread: use it only inside ``on_store``."""
    return request.app[ACCESS]
