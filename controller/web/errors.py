"""API errors carry a stable ``error_id`` that clients can match on."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("reccontrol.web")


def error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message}, status=status)


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
