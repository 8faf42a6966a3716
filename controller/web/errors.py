"""API errors carry a stable ``error_id`` that clients can match on."""

from __future__ import annotations

from aiohttp import web


def error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message}, status=status)
