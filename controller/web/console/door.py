"""The audited door from a page or a JSON route: run the access service's method on the
store thread, and turn what it refuses into the answer a person or a script sees, with
its stable ``error_id``.

- ``not-found`` (404): no such call, or one outside the person's services: the two
  answer alike, so a call's existence is never told;
- ``forbidden`` (403): the role may not do it, or no purpose was stated;
- ``bad-filter`` (400): a filter or a page that cannot be read, naming the field;
- ``access-log-unwritable`` (503): nothing is shown that the log could not record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from controller.access.call_filters import FilterError
from controller.access.errors import FORBIDDEN, NOT_FOUND, AccessRefused
from controller.access.service import AccessService
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.web.console.render import access, on_store, render
from controller.web.errors import error
from controller.web.keys import CLOCK, CONFIG

T = TypeVar("T")

STATUS = {NOT_FOUND: 404, FORBIDDEN: 403, "bad-filter": 400, "unauthenticated": 401}
MESSAGE_KEYS = {NOT_FOUND: "common.not_found", FORBIDDEN: "common.forbidden"}
LOG_UNWRITABLE = "access-log-unwritable"


class Refused(Exception):
    """What a page or a route answers instead: status, ``error_id`` and a message safe to
    show to the person who asked."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        self.status = status
        self.error_id = error_id
        self.message = message
        super().__init__(message)


def refused_from(exc: Exception) -> Refused:
    if isinstance(exc, FilterError):
        return Refused(400, exc.error_id, str(exc))
    if isinstance(exc, AccessRefused):
        return Refused(STATUS.get(exc.error_id, 403), exc.error_id, exc.reason)
    if isinstance(exc, AccessLogError):
        return Refused(503, LOG_UNWRITABLE, "the access log cannot be written; nothing was done")
    raise exc


async def through_door(request: web.Request, fn: Callable[[AccessService], T]) -> T:
    """``fn(door)`` on the store thread; a refusal becomes :class:`Refused`."""
    door = access(request)
    try:
        return await on_store(request, lambda _: fn(door))
    except (AccessRefused, AccessLogError) as exc:
        raise refused_from(exc) from None


def page_refusal(request: web.Request, refusal: Refused) -> web.Response:
    key = MESSAGE_KEYS.get(refusal.error_id, "common.error")
    if refusal.error_id == LOG_UNWRITABLE:
        key = "common.log_unwritable"
    context = {"error_id": refusal.error_id, "message_key": key, "detail": refusal.message}
    return render(request, "error.html", context, status=refusal.status)


def api_refusal(refusal: Refused) -> web.Response:
    return error(refusal.status, refusal.error_id, refusal.message)


def role_refusal(person: Person, roles: frozenset[str]) -> Refused | None:
    """For a page that exists for some roles only: 403 for the others (the page is no
    secret; the objects behind it answer 404 when out of scope)."""
    if person.role in roles:
        return None
    return Refused(403, FORBIDDEN, f"role {person.role} may not open this page")


def purpose_of(query: Mapping[str, str], default: str) -> str:
    """The purpose a person typed with the request, or the page's own."""
    return query.get("purpose", "").strip() or default


def local_time(request: web.Request) -> Callable[[str | None], str]:
    """Formats the store's UTC timestamps in the site's time zone, for templates."""
    tz = request.app[CONFIG].timezone

    def fmt(stamp: str | None) -> str:
        if not stamp:
            return "—"
        return dt.datetime.fromisoformat(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    return fmt


def today(request: web.Request) -> dt.date:
    return request.app[CLOCK].now().astimezone(request.app[CONFIG].timezone).date()


def context_of(request: web.Request, **values: Any) -> dict[str, Any]:
    return {"local": local_time(request), **values}
