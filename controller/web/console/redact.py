"""Redacting a recording from the call's page (S11): ``POST /calls/{id}/redact``.

The form (``call_redact.html``, offered to the roles the gate lets redact: the DPO) names
the recording when the call has several, the span (``from``, ``to``: seconds, or M:SS)
and the purpose in the person's own words. It goes through the audited door like the
command line's ``reccontrol recording redact``: the same checks, the same crash-safe
steps, the same access-log entry. The answer is a page saying what was silenced and the
two versions' hashes, or the refusal, naming the field that was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from controller.access.errors import NOT_FOUND, AccessFailed, AccessRefused
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.web.console.auth import page
from controller.web.console.render import access, on_store, render

FIELDS = {"--from": "from", "--to": "to", "--recording": "recording"}
"""The command line's options as the form's fields: a refusal names the form's."""
STATUS = {
    NOT_FOUND: 404,
    "bad-span": 400,
    "bad-recording": 400,
    "redaction-under-way": 409,
    "recording-changed": 409,
    "file-changed": 409,
}
MAX_FIELD = 500


def form_words(message: str) -> str:
    """A refusal's reason with the command line's option names as the form's fields."""
    for option, field in FIELDS.items():
        message = message.replace(option, field)
    return message


def _field(form: Mapping[str, object], name: str) -> str:
    value = form.get(name, "")
    return value[:MAX_FIELD] if isinstance(value, str) else ""


async def redact(request: web.Request, person: Person) -> web.StreamResponse:
    """``POST /calls/{id}/redact``: fields ``recording`` (optional with one recording),
    ``from``, ``to``, ``purpose`` and the session's ``csrf``."""
    call_id = request.match_info["id"]
    form = await request.post()
    recording = _field(form, "recording").strip() or None
    start, end = _field(form, "from"), _field(form, "to")
    purpose = _field(form, "purpose")
    door = access(request)
    try:
        done = await on_store(
            request, lambda _: door.redact(person, purpose, call_id, recording, start, end)
        )
    except AccessRefused as exc:
        key = "common.not_found" if exc.error_id == NOT_FOUND else "redact.refused"
        return _refusal(request, exc.error_id, key, form_words(exc.reason), 403)
    except AccessFailed as exc:
        return _refusal(request, exc.error_id, "redact.failed", str(exc), 500)
    except AccessLogError as exc:
        return _refusal(request, exc.error_id, "common.log_unwritable", None, 503)
    first, last = done.silence.seconds
    context = {
        "call_id": call_id,
        "recording_id": done.recording_id,
        "first": f"{first:.3f}",
        "last": f"{last:.3f}",
        "old_sha256": done.old_sha256 or "—",
        "new_sha256": done.new_sha256,
        "key_destroyed": done.old_key_destroyed,
        "entry": done.entry.seq if done.entry is not None else None,
    }
    return render(request, "redacted.html", context)


def _refusal(
    request: web.Request, error_id: str, key: str, detail: str | None, status: int
) -> web.Response:
    context = {"error_id": error_id, "message_key": key}
    if detail is not None:
        context["detail"] = detail
    return render(request, "error.html", context, status=STATUS.get(error_id, status))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/calls/{id}/redact", page(redact))
