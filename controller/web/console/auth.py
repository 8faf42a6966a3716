"""Who is asking: the console's sign-in and sign-out, and the two wrappers every route
uses to learn the person.

- :func:`page` for HTML pages: the person from the session cookie (else a redirect to
  the sign-in page), and on a POST the form's ``csrf`` field checked against the
  session's token.
- :func:`api` for JSON routes under ``/api/``: the session cookie (a write then needs the
  ``X-CSRF-Token`` header, which another site's form cannot send), or a person's token
  as ``Authorization: Bearer`` with their id in ``X-Reccontrol-Person``, for scripts.

Sign-ins go through the audited door (S1, S2): refusals and successes are access-log
entries, and :class:`~controller.web.guard.FailureLimiter` answers 429 to an identity
that failed too often, before any check (its docstring says why per identity).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from controller.access.credentials import Password, Token
from controller.access.errors import AccessRefused
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.store import SqliteStore
from controller.web.console.render import (
    LANGUAGE_COOKIE,
    SESSIONS,
    SIGNED_IN,
    access,
    form_token_ok,
    on_store,
    render,
    session_of,
    set_cookie,
)
from controller.web.console.sessions import COOKIE, Session
from controller.web.errors import error
from controller.web.guard import too_many
from controller.web.keys import CONFIG, LIMITER
from controller.web.payments import bearer

Handler = Callable[[web.Request, Person], Awaitable[web.StreamResponse]]
PERSON_HEADER = "X-Reccontrol-Person"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A sign-in form's fields are short; a bigger body is refused unread.
MAX_FORM = 4096


def _person_of(request: web.Request, session: Session) -> Person | None:
    # Read from the configuration each time: a person removed from the access list is
    # signed out at their next click.
    return request.app[CONFIG].access.persons.get(session.person_id)


def page(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        person = _person_of(request, session) if session is not None else None
        if session is None or person is None:
            target = request.path_qs if request.method == "GET" else "/"
            raise web.HTTPSeeOther(f"/sign-in?next={quote(target, safe='')}")
        if request.method not in SAFE_METHODS:
            form = await request.post()
            presented = form.get("csrf")
            if not session.csrf_ok(presented if isinstance(presented, str) else None):
                return render(
                    request,
                    "error.html",
                    {"error_id": "csrf-refused", "message_key": "common.csrf_refused"},
                    person=person,
                    session=session,
                    status=403,
                )
        request[SIGNED_IN] = (person, session)
        return await handler(request, person)

    return wrapped


def api(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        token = bearer(request)
        if token:
            person_id = request.headers.get(PERSON_HEADER, "")
            if not person_id:
                return error(401, "unauthenticated", f"name the person in {PERSON_HEADER}")
            answer = await _check_token(request, person_id, token)
            if isinstance(answer, web.Response):
                return answer
            return await handler(request, answer)
        session = session_of(request)
        person = _person_of(request, session) if session is not None else None
        if session is None or person is None:
            return error(401, "unauthenticated", "sign in, or send a token as Bearer")
        if request.method not in SAFE_METHODS and not session.csrf_ok(
            request.headers.get(CSRF_HEADER)
        ):
            return error(403, "csrf-refused", f"a write needs the session's {CSRF_HEADER}")
        request[SIGNED_IN] = (person, session)
        return await handler(request, person)

    return wrapped


async def _check_token(request: web.Request, person_id: str, token: str) -> Person | web.Response:
    limiter = request.app[LIMITER]
    if limiter.blocked(person_id):
        return too_many(request)
    door = access(request)
    try:
        return await on_store(request, lambda _: door.authenticate(person_id, Token(token)))
    except AccessRefused as exc:
        limiter.failed(person_id)
        return error(401, "unauthenticated", exc.reason)
    except AccessLogError as exc:
        limiter.failed(person_id)
        return error(503, exc.error_id, "the access log cannot be written; nothing was done")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or a
    scheme), else the home page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is not None and _person_of(request, session) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return render(request, "sign_in.html", {"next": safe_next(request.query.get("next"))})


async def sign_in(request: web.Request) -> web.StreamResponse:
    """The form's token is double-submitted (:data:`FORM_COOKIE`): another site cannot
    sign a browser in under the attacker's name."""
    if (request.content_length or 0) > MAX_FORM:
        return _refused(request, 413, "payload-too-large", "sign_in.too_long")
    form = await request.post()
    if not form_token_ok(request, form.get("csrf")):
        return _refused(request, 403, "csrf-refused", "common.csrf_refused")
    person_id = str(form.get("person", "")).strip()
    secret = str(form.get("secret", ""))
    kind = str(form.get("kind", "password"))
    target = safe_next(str(form.get("next", "/")))
    if not person_id or not secret or kind not in ("password", "token"):
        return _refused(request, 400, "invalid-field", "sign_in.missing", target)
    limiter = request.app[LIMITER]
    if limiter.blocked(person_id):
        return _refused(request, 429, "too-many-failures", "sign_in.too_many", target)
    presented = Password(secret) if kind == "password" else Token(secret)
    door = access(request)

    def check(_: SqliteStore) -> Person:
        return door.console_sign_in(person_id, presented)

    try:
        person = await on_store(request, check)
    except AccessRefused as exc:
        if exc.sign_in:
            limiter.failed(person_id)
        return _refused(request, 401, "unauthenticated", "sign_in.refused", target)
    except AccessLogError:
        limiter.failed(person_id)
        return _refused(request, 503, "access-log-unwritable", "common.log_unwritable", target)
    sessions = request.app[SESSIONS]
    sessions.close(request.cookies.get(COOKIE))
    session = sessions.open(person.id)
    response = web.HTTPSeeOther(target)
    set_cookie(request, response, COOKIE, session.id)
    raise response


def _refused(
    request: web.Request, status: int, error_id: str, message_key: str, target: str = "/"
) -> web.Response:
    context = {"next": target, "error_id": error_id, "message_key": message_key}
    return render(request, "sign_in.html", context, status=status)


async def sign_out(request: web.Request, person: Person) -> web.StreamResponse:
    session = request[SIGNED_IN][1]
    door = access(request)
    await on_store(request, lambda _: door.console_sign_out(person))
    request.app[SESSIONS].close(session.id)
    response = web.HTTPSeeOther("/sign-in")
    response.del_cookie(COOKIE, path="/")
    raise response


async def api_sign_out(request: web.Request, person: Person) -> web.StreamResponse:
    """``POST /api/sign-out``: ends the session (a token has none: 204 all the same)."""
    door = access(request)
    await on_store(request, lambda _: door.console_sign_out(person))
    if SIGNED_IN in request:
        request.app[SESSIONS].close(request[SIGNED_IN][1].id)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def choose_language(request: web.Request) -> web.StreamResponse:
    """``POST /language``: the person's language for the console, kept in a cookie (and
    in the session when signed in)."""
    form = await request.post()
    chosen = str(form.get("lang", ""))
    response = web.HTTPSeeOther(safe_next(str(form.get("next", "/"))))
    if chosen in ("fr", "en") and form_token_ok(request, form.get("csrf")):
        session = session_of(request)
        if session is not None:
            session.language = chosen
        set_cookie(request, response, LANGUAGE_COOKIE, chosen)
    raise response
