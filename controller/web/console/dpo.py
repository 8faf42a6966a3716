"""The DPO's pages (S2, S3, T4, T6, D1, D2): the access log, newest first and filtered;
the deletion receipts; the legal holds; the register and the notices generated from the
configuration.

The pages exist for the DPO only: anyone else gets 403 ``forbidden`` (the page is no
secret; what it shows is). Reading the log, the receipts or the holds goes through the
audited door, which refuses the other roles, and is itself logged (``audit_read``,
``hold_list``), refusals too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from controller.access.call_filters import (
    DEFAULT_PAGE,
    FilterError,
    log_before,
    log_filters,
    page_size,
)
from controller.audit.receipts import RECEIPT_COLUMNS, receipt_recordings
from controller.config.model import Person
from controller.documents import (
    Document,
    build_agent_notice,
    build_caller_notice,
    build_register,
    document_problems,
)
from controller.documents.render import Bullets, Fields, Heading, Para, Table
from controller.web.console.auth import page
from controller.web.console.door import (
    Refused,
    context_of,
    page_refusal,
    purpose_of,
    refused_from,
    role_refusal,
    through_door,
)
from controller.web.console.render import SIGNED_IN, language, render
from controller.web.keys import CONFIG

DPO_ONLY = frozenset({"dpo"})
LOG_PURPOSE = "DPO review of the access log"
RECEIPTS_PURPOSE = "DPO review of the deletion receipts"
HOLDS_PURPOSE = "DPO review of the legal holds"
Builder = Callable[..., Document]
DOCUMENTS: dict[str, tuple[Builder, bool]] = {
    "register": (build_register, True),
    "notice-callers": (build_caller_notice, False),
    "notice-agents": (build_agent_notice, False),
}


def _query(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items() if isinstance(v, str)}


def _dpo(person: Person) -> None:
    refusal = role_refusal(person, DPO_ONLY)
    if refusal is not None:
        raise refusal


def document_blocks(doc: Document) -> list[dict[str, Any]]:
    """A generated document's blocks, tagged for the template (which cannot tell the
    classes apart); the template escapes every text."""
    out: list[dict[str, Any]] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append({"kind": "heading", "level": min(block.level + 1, 6), "text": block.text})
        elif isinstance(block, Para):
            out.append({"kind": "para", "text": block.text})
        elif isinstance(block, Bullets):
            out.append({"kind": "bullets", "items": list(block.items)})
        elif isinstance(block, Fields):
            out.append({"kind": "fields", "items": [list(i) for i in block.items]})
        elif isinstance(block, Table):
            out.append({"kind": "table", "header": list(block.header), "rows": block.rows})
    return out


async def dpo_home(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /dpo``: the DPO's pages."""
    try:
        _dpo(person)
    except Refused as refusal:
        return page_refusal(request, refusal)
    return render(request, "dpo.html", {"documents": list(DOCUMENTS)})


async def log_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /dpo/access-log``: ``actor``, ``action``, ``target`` (a prefix), ``result``,
    ``before`` (the previous page's next), ``size``."""
    query = _query(request)
    try:
        try:
            filters, before, size = log_filters(query), log_before(query), page_size(query)
        except ValueError as exc:
            raise refused_from(exc) from None
        purpose = purpose_of(query, LOG_PURPOSE)
        found = await through_door(
            request, lambda door: door.access_log_page(person, purpose, filters, before, size)
        )
    except Refused as refusal:
        return page_refusal(request, refusal)
    return _entries_page(request, "/dpo/access-log", query, found.entries, found.next, True)


async def receipts_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /dpo/receipts``: every deletion's receipt, newest first; a recording
    deletion's receipt (a batch of them) as a summary with a link to its rows.
    ``seq=``: that receipt, each recording it names in a table; ``recording=``: the
    receipt naming that recording, its row marked."""
    query = _query(request)
    recording = query.get("recording", "").strip() or None
    try:
        try:
            before, size = log_before(query), page_size(query)
            seq = _seq(query)
        except ValueError as exc:
            raise refused_from(exc) from None
        purpose = purpose_of(query, RECEIPTS_PURPOSE)
        if seq is None and recording is None:
            found = await through_door(
                request, lambda door: door.purge_receipts(person, purpose, before, size)
            )
        else:
            found = await through_door(
                request,
                lambda door: door.deletion_receipt(
                    person, purpose, seq=seq, recording_id=recording
                ),
            )
    except Refused as refusal:
        return page_refusal(request, refusal)
    return _entries_page(
        request,
        "/dpo/receipts",
        query,
        found.entries,
        found.next,
        False,
        one=seq is not None or recording is not None,
        found_recording=recording,
    )


def _seq(query: dict[str, str]) -> int | None:
    text = query.get("seq", "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise FilterError("seq", "a receipt number")
    return int(text)


INLINE_ROWS = 10
"""A receipt naming at most this many recordings shows them in the list itself."""


def receipt_view(details: dict[str, Any], full: bool) -> dict[str, Any] | None:
    """How a recording deletion's receipt reads on the page (T4): how many recordings,
    what became of their files and keys, under which rules; and each recording, in a
    table, when ``full`` or when they are few. None for any other entry."""
    if "columns" not in details:
        return None
    rows = receipt_recordings(details)
    files = Counter(str(r.get("file")) for r in rows)
    return {
        "count": len(rows),
        "files": sorted(files.items()),
        "keys_destroyed": sum(r.get("key_destroyed") is True for r in rows),
        "rules": sorted({str(r.get("rule")) for r in rows}),
        "columns": RECEIPT_COLUMNS,
        "rows": rows if full or len(rows) <= INLINE_ROWS else [],
        "extra": {k: v for k, v in details.items() if k not in ("columns", "recordings")},
    }


def _entries_page(
    request: web.Request,
    path: str,
    query: dict[str, str],
    entries: list[dict[str, Any]],
    next_before: int | None,
    filtered: bool,
    *,
    one: bool = False,
    found_recording: str | None = None,
) -> web.Response:
    """The log's or the receipts' page; a recording deletion's receipt as a summary
    (:func:`receipt_view`), its rows in full when ``one`` receipt is shown."""
    kept = {k: v for k, v in query.items() if k in ("actor", "action", "target", "result", "size")}
    next_link = None
    if next_before is not None:
        next_link = f"{path}?{urlencode({**kept, 'before': str(next_before)})}"
    context = context_of(
        request,
        path=path,
        entries=[{**e, "receipt": receipt_view(e["details"], one)} for e in entries],
        next_link=next_link,
        query=query,
        filtered=filtered,
        found_recording=found_recording,
        size=query.get("size", str(DEFAULT_PAGE)),
    )
    return render(request, "dpo_log.html", context)


async def holds_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /dpo/holds`` (``released=yes`` to show the released ones too)."""
    query = _query(request)
    released = query.get("released") == "yes"
    try:
        purpose = purpose_of(query, HOLDS_PURPOSE)
        holds = await through_door(
            request, lambda door: door.hold_list(person, purpose, released)
        )
    except Refused as refusal:
        return page_refusal(request, refusal)
    return render(request, "dpo_holds.html", context_of(request, holds=holds, released=released))


async def document_page(request: web.Request, person: Person) -> web.StreamResponse:
    """``GET /dpo/documents/{name}`` (``register``, ``notice-callers``,
    ``notice-agents``), in the console's language or ``lang=``."""
    try:
        _dpo(person)
    except Refused as refusal:
        return page_refusal(request, refusal)
    name = request.match_info["name"]
    if name not in DOCUMENTS:
        return page_refusal(request, Refused(404, "not-found", f"no document {name[:40]!r}"))
    build, register = DOCUMENTS[name]
    config = request.app[CONFIG]
    lang = request.query.get("lang") or language(request, request[SIGNED_IN][1])
    if lang not in ("fr", "en"):
        lang = "fr"
    problems = [str(p) for p in document_problems(config, register=register)]
    doc = None if problems else build(config, lang=lang)
    context = {
        "name": name,
        "doc_title": doc.title if doc else name,
        "doc_lang": lang,
        "blocks": document_blocks(doc) if doc else [],
        "problems": problems,
    }
    return render(request, "dpo_document.html", context)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dpo", page(dpo_home))
    app.router.add_get("/dpo/access-log", page(log_page))
    app.router.add_get("/dpo/receipts", page(receipts_page))
    app.router.add_get("/dpo/holds", page(holds_page))
    app.router.add_get("/dpo/documents/{name}", page(document_page))
