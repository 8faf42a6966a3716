"""The console's listening, downloading and summary sheets (S2, S4, T2): the routes of
:mod:`~controller.web.console.listen` and :mod:`~controller.web.console.sheets`, and
what their forms need in every template (the call's page includes them)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from controller.web.console import data_api, listen, sheets
from controller.web.openapi import register


def add_routes(app: web.Application) -> None:
    env = aiohttp_jinja2.get_env(app)
    # For the call page's includes (call_listen.html, call_sheets.html): which buttons
    # the role gets, and the purposes offered.
    env.globals.update(may=listen.may, listen_purposes=listen.PURPOSES)
    listen.add_routes(app)
    sheets.add_routes(app)
    for operation in data_api.OPERATIONS:
        register(operation)
