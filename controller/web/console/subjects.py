"""The DPO's data-subject requests in the console: a caller's (C5) or an agent's (S9)
request to find, export or erase what is kept about them, through the audited door.

The number the DPO types is never shown back, never put in a URL (the form posts it)
and never logged: the door logs the subject by a reference derived from the caller's
HMAC. An export is written to a private temporary folder, streamed to the browser and
removed; an erasure needs its confirmation box ticked."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.access.errors import AccessFailed, AccessRefused
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.store import SqliteStore
from controller.web.console.auth import page
from controller.web.console.forms import FormError, moment
from controller.web.console.render import access, on_store, render
from controller.web.keys import CONFIG

ACTIONS = ("find", "export", "erase")
KINDS = ("caller", "agent")
CHUNK = 256 * 1024


async def subjects_form(request: web.Request, person: Person) -> web.StreamResponse:
    if person.role != "dpo":
        return _error(request, 403, "forbidden", "common.forbidden")
    return render(request, "dpo_subjects.html", {"kind": "caller"})


async def subjects_request(request: web.Request, person: Person) -> web.StreamResponse:
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("kind", "subject", "purpose", "do", "from", "to")}
    kind, action = values["kind"], values["do"]
    context: dict[str, Any] = {"kind": kind if kind in KINDS else "caller"}
    tz = request.app[CONFIG].timezone
    try:
        if kind not in KINDS:
            raise FormError("kind", "caller or agent")
        if action not in ACTIONS:
            raise FormError("do", "find, export or erase")
        if not values["subject"].strip():
            raise FormError("subject", "give the caller's number or the agent's id")
        start = moment(values["from"], tz, field="from")
        end = moment(values["to"], tz, field="to", end=True)
        if action == "erase" and kind == "caller" and form.get("confirm") != "yes":
            raise FormError("confirm", "tick the box to confirm the erasure")
    except FormError as exc:
        context |= {"form_error": exc.field, "form_message": exc.message}
        return render(request, "dpo_subjects.html", context, status=400)
    door = access(request)
    subject, purpose = values["subject"].strip(), values["purpose"]
    try:
        if action == "export":
            return await _export(request, person, kind, subject, purpose, start, end)
        if action == "find":
            if kind == "caller":
                found = await on_store(
                    request, lambda _: door.subject_find(person, purpose, subject, start, end)
                )
                context |= {"calls": found.calls, "hidden": found.hidden}
            else:
                agent = await on_store(
                    request, lambda _: door.agent_find(person, purpose, subject, start, end)
                )
                context |= {"calls": agent.calls, "hidden": agent.hidden}
                context |= {"private_counts": agent.private_counts}
            return render(request, "dpo_subjects.html", context | {"done": "find"})
        if kind == "agent":
            await on_store(request, lambda _: door.agent_erase(person, purpose, subject))
        erased = await on_store(
            request, lambda _: door.subject_erase(person, purpose, subject, start, end)
        )
        return render(request, "dpo_subjects.html", context | {"done": "erase", "erased": erased})
    except AccessRefused as exc:
        context |= {"refused": exc.reason, "error_id": exc.error_id}
        return render(request, "dpo_subjects.html", context, status=403)
    except AccessFailed as exc:
        context |= {"failed": str(exc)}
        return render(request, "dpo_subjects.html", context, status=500)
    except AccessLogError:
        return _error(request, 503, "access-log-unwritable", "common.log_unwritable")


async def _export(
    request: web.Request,
    person: Person,
    kind: str,
    subject: str,
    purpose: str,
    start: Any,
    end: Any,
) -> web.StreamResponse:
    door = access(request)
    # mkdtemp: a folder only the daemon's user can enter, removed once streamed.
    folder = Path(tempfile.mkdtemp(prefix="reccontrol-export-"))
    output = folder / ("caller-request.zip" if kind == "caller" else "agent-request.zip")
    try:

        def write(_: SqliteStore) -> None:
            if kind == "caller":
                door.subject_export(person, purpose, subject, output, start, end)
            else:
                door.agent_export(person, purpose, subject, output, start, end)

        await on_store(request, write)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{output.name}"',
            }
        )
        response.content_length = output.stat().st_size
        await response.prepare(request)
        with output.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _error(request: web.Request, status: int, error_id: str, key: str) -> web.Response:
    return render(request, "error.html", {"error_id": error_id, "message_key": key}, status=status)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dpo/subjects", page(subjects_form))
    app.router.add_post("/dpo/subjects", page(subjects_request))
