"""A browser asking for a page that does not exist (or with a method it does not take)
gets a page of the console, in its language, with the ``error_id`` an API client would
get; API paths keep their JSON (:func:`~controller.web.openapi.json_errors`)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from controller.web.console.render import render

MESSAGE_KEYS = {404: "common.not_found", 405: "common.method_not_allowed"}
ERROR_IDS = {404: "not-found", 405: "method-not-allowed"}


def wants_page(request: web.Request) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get(
        "Accept", ""
    )


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in MESSAGE_KEYS or not wants_page(request):
            raise
        context = {"error_id": ERROR_IDS[exc.status], "message_key": MESSAGE_KEYS[exc.status]}
        answer = render(request, "error.html", context, status=exc.status)
        if "Allow" in exc.headers:
            answer.headers["Allow"] = exc.headers["Allow"]
        return answer
