"""API errors carry a stable ``error_id`` that clients can match on."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from controller.access.errors import NOT_FOUND, NOT_NOW, UNAUTHENTICATED, AccessRefused
from controller.access.sheets import INVALID_SHEET, NO_AGENT, SHEET_CHANGED

log = logging.getLogger("reccontrol.web")


REFUSAL_STATUS = {
    UNAUTHENTICATED: 401,
    NOT_FOUND: 404,
    NOT_NOW: 409,
    INVALID_SHEET: 400,
    SHEET_CHANGED: 409,
    NO_AGENT: 409,
}
"""A refusal's HTTP status, by its ``error_id`` (never by its wording); others are 403."""


def error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message}, status=status)


def refused(exc: AccessRefused, what: str) -> web.Response:
    """The answer to a refusal of the access service. A target outside the person's
    scope gets the very words of one that does not exist (``no such <what>``): the
    reason, which names the service, stays in the access log."""
    message = f"no such {what}" if exc.error_id == NOT_FOUND else exc.reason
    return error(REFUSAL_STATUS.get(exc.error_id, 403), exc.error_id, message)


@web.middleware
async def unexpected_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A failure no handler foresaw is still a JSON answer with an ``error_id``; its
    traceback goes to the daemon's log, masked like every log record, never to the
    client."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "internal-error", "the request could not be handled; see the daemon log")
