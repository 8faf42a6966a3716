"""The routes for monitoring (R4): ``/healthz`` and ``/readyz`` (:mod:`.health`),
``/metrics`` (:mod:`.metrics`)."""

from __future__ import annotations

from aiohttp import web

from controller.web import health, metrics


def add_routes(app: web.Application) -> None:
    health.add_routes(app)
    metrics.add_routes(app)
