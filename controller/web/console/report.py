"""The sampling report (P3): ``/report``, configured against achieved rate per service
and day as a chart with the counts beside it, and its JSON twin ``GET /api/report``.
Reading it is one access-log entry (action ``report``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from markupsafe import Markup

from controller.access.call_filters import report_range
from controller.config.model import Person
from controller.web.charts import ChartText, rate_chart
from controller.web.console.auth import api, page
from controller.web.console.door import (
    Refused,
    api_refusal,
    context_of,
    page_refusal,
    purpose_of,
    refused_from,
    through_door,
    today,
)
from controller.web.console.i18n import text
from controller.web.console.render import SIGNED_IN, language, render

REPORT_PURPOSE = "sampling report in the console"


def totals(days: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A service's days added up; the achieved rate over the whole range."""
    eligible = sum(d["eligible"] for d in days)
    recorded = sum(d["recorded"] for d in days)
    return {
        "calls": sum(d["calls"] for d in days),
        "eligible": eligible,
        "recorded": recorded,
        "achieved_rate": round(recorded / eligible, 4) if eligible else None,
    }


async def _report(
    request: web.Request, person: Person
) -> tuple[dt.date, dt.date, list[dict[str, Any]]]:
    query = {k: v for k, v in request.query.items() if isinstance(v, str)}
    try:
        first, last = report_range(query, today(request))
    except ValueError as exc:
        raise refused_from(exc) from None
    purpose = purpose_of(query, REPORT_PURPOSE)
    report = await through_door(
        request, lambda door: door.sampling_report(person, purpose, first, last)
    )
    for service in report:
        service["totals"] = totals(service["days"])
    return first, last, report


def chart_text(lang: str) -> ChartText:
    return ChartText(
        title=text("report.chart_title", lang),
        configured=text("report.configured", lang),
        achieved=text("report.achieved", lang),
        rate_axis=text("report.rate_axis", lang),
        day_axis=text("report.day_axis", lang),
    )


async def report_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /report?from=YYYY-MM-DD&to=YYYY-MM-DD`` (the last 30 days by default)."""
    try:
        first, last, report = await _report(request, person)
    except Refused as refusal:
        return page_refusal(request, refusal)
    lang = language(request, request[SIGNED_IN][1])
    # The chart escapes every text itself and holds no script nor style attribute.
    chart = Markup(rate_chart(report, chart_text(lang)))  # noqa: S704
    context = context_of(request, first=first, last=last, report=report, chart=chart)
    return render(request, "report.html", context)


async def report_api(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /api/report``: the sampling report (P3). Query: ``from``, ``to``
    (YYYY-MM-DD, both included, at most 366 days; the last 30 days by default),
    ``purpose``.

    200: ``{"from", "to", "services": [{"service", "days": [{"day",
    "configured_rate", "calls", "eligible", "recorded", "achieved_rate"}], "totals":
    {"calls", "eligible", "recorded", "achieved_rate"}}]}``; 400 ``bad-filter``,
    403 ``forbidden``."""
    try:
        first, last, report = await _report(request, person)
    except Refused as refusal:
        return api_refusal(refusal)
    return web.json_response(
        {"from": first.isoformat(), "to": last.isoformat(), "services": report}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/report", page(report_page))
    app.router.add_get("/api/report", api(report_api))
