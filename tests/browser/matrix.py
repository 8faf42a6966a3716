"""The authorisation matrix, as a table: each action a person may attempt in the console,
how the browser attempts it (a real page, or the API with the session), which roles
may (``controller/access/gate.py``'s ``PERMISSIONS``) and whether the target's service
must be in the person's scope. Adding an action is one row of :data:`ACTIONS`.

An attempt is allowed exactly where the role and the scope say; a role that may not
gets 403 ``forbidden``; a call or recording outside the person's services gets 404
``not-found``, as one that does not exist would. Every attempt, allowed or not, is one
access-log entry under the action's name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import APIResponse, Page, Response

from controller.access.gate import PERMISSIONS
from tests.browser.pages import error_id
from tests.browser.site import Account, RecordedCall

PURPOSE = "Quality review of the call"
ERROR_ID = re.compile(r'data-error-id="([a-z-]+)"')
TOKEN = "form[action='/sign-out'] input[name=csrf]"


@dataclass(frozen=True)
class Attempt:
    """One person, signed in on ``page``, about to act on ``target``."""

    page: Page
    base: str
    account: Account
    target: RecordedCall
    sheet: str = ""
    """A summary sheet about the target call."""

    def fields(self) -> dict[str, str]:
        target = self.target
        return {
            "call": target.call_id,
            "recording": target.recording_id,
            "service": target.service,
            "sheet": self.sheet,
        }

    def csrf(self) -> str:
        """The session's token, as every page of the console gives it."""
        if self.page.locator(TOKEN).count() == 0:
            self.page.goto(f"{self.base}/")
        return self.page.locator(TOKEN).input_value()


@dataclass(frozen=True)
class Answer:
    status: int
    error_id: str | None

    @classmethod
    def of_page(cls, page: Page, response: Response | None) -> Answer:
        if response is None:
            raise AssertionError(f"no answer for {page.url}")
        return cls(response.status, error_id(page))

    @classmethod
    def of_html(cls, response: APIResponse) -> Answer:
        """A page fetched without showing it: its ``data-error-id``, if any (a download's
        audio has none)."""
        if not response.headers.get("content-type", "").startswith("text/html"):
            return cls(response.status, None)
        found = ERROR_ID.search(response.text())
        return cls(response.status, found.group(1) if found else None)

    @classmethod
    def of_api(cls, response: APIResponse) -> Answer:
        found = None
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            found = body.get("error_id") if isinstance(body, dict) else None
        return cls(response.status, found)


@dataclass(frozen=True)
class Action:
    name: str
    """The row's name in the test ids: the action and the way it is attempted."""
    logged_as: str | None
    """The access-log action each attempt writes; None: a page that shows nothing the
    access list guards (documents made from the config), refused to other roles unlogged."""
    roles: frozenset[str]
    scoped: bool
    """The target's service must be one the person sees."""
    attempt: Callable[[Attempt], Answer]
    routes: tuple[str, ...] = ()
    """The routes the row covers, as ``METHOD /path`` of the router."""
    allowed_status: int = 200
    allowed_entries: int = 1
    """Access-log entries an allowed attempt writes: a page whose script opens a stream
    through the same door writes the page's and the stream's."""
    over: tuple[int, str] | None = None
    """For an action on a call in progress: the target call is over, so a person the
    role allows still gets this refusal (logged), as for any call not in progress."""
    scope_refusal: tuple[int, str] = (404, "not-found")
    """The answer outside the person's services: 404, as for what does not exist; 403
    for a listing asked for a service by its name (a service's name is no secret)."""


@dataclass(frozen=True)
class Expected:
    allowed: bool
    status: int
    error_id: str | None


def expected(action: Action, account: Account, service: str) -> Expected:
    if account.role not in action.roles:
        return Expected(False, 403, "forbidden")
    if action.scoped and not account.in_scope(service):
        return Expected(False, *action.scope_refusal)
    if action.over is not None:
        return Expected(False, *action.over)
    return Expected(True, action.allowed_status, None)


# -- how each action is attempted ------------------------------------------------------


def subject_find_page(attempt: Attempt) -> Answer:
    """The DPO's subject-request form, filled in and sent to find a caller's calls. A
    person whose role has no such page posts the same form with their session's token."""
    page = attempt.page
    shown = page.goto(f"{attempt.base}/dpo/subjects")
    if shown is None or not shown.ok:
        return subject_form("find")(attempt)
    page.select_option("select[name=kind]", "caller")
    page.fill("input[name=subject]", attempt.target.number)
    page.fill("input[name=purpose]", PURPOSE)
    with page.expect_response(f"{attempt.base}/dpo/subjects") as posted:
        page.click("button[name=do][value=find]")
    return Answer.of_page(page, posted.value)


def subject_form(do: str, number: str | None = None) -> Callable[[Attempt], Answer]:
    """The subject-request form posted with the session's token: ``do`` on the target
    call's caller, or on ``number``."""

    def attempt_it(attempt: Attempt) -> Answer:
        form: dict[str, str | float | bool] = {
            "csrf": attempt.csrf(),
            "kind": "caller",
            "subject": number or attempt.target.number,
            "purpose": PURPOSE,
            "do": do,
            "confirm": "yes",
        }
        posted = attempt.page.request.post(f"{attempt.base}/dpo/subjects", form=form)
        return Answer.of_html(posted)

    return attempt_it


def page_at(path: str) -> Callable[[Attempt], Answer]:
    """Opens the page at ``path``; ``{call}``, ``{recording}`` and ``{service}`` name the
    target's."""

    def attempt_it(attempt: Attempt) -> Answer:
        url = attempt.base + path.format(**attempt.fields())
        return Answer.of_page(attempt.page, attempt.page.goto(url))

    return attempt_it


def api_get(path: str) -> Callable[[Attempt], Answer]:
    """``GET`` on the API with the browser's session, as the console's scripts do."""

    def attempt_it(attempt: Attempt) -> Answer:
        url = attempt.base + path.format(**attempt.fields())
        return Answer.of_api(attempt.page.request.get(url))

    return attempt_it


def form_post(path: str, **fields: str) -> Callable[[Attempt], Answer]:
    """A console form posted with the session's token, as the page sends it."""

    def attempt_it(attempt: Attempt) -> Answer:
        values = attempt.fields()
        form: dict[str, str | float | bool] = {"csrf": attempt.csrf()}
        form |= {name: value.format(**values) for name, value in fields.items()}
        url = attempt.base + path.format(**values)
        return Answer.of_html(attempt.page.request.post(url, form=form))

    return attempt_it


def api_write(method: str, path: str, body: dict[str, object]) -> Callable[[Attempt], Answer]:
    """A JSON write with the session and its token in ``X-CSRF-Token``."""

    def attempt_it(attempt: Attempt) -> Answer:
        url = attempt.base + path.format(**attempt.fields())
        headers = {"X-CSRF-Token": attempt.csrf()}
        answer = attempt.page.request.fetch(url, method=method, headers=headers, data=body)
        return Answer.of_api(answer)

    return attempt_it


def live_page(attempt: Attempt, within: float = 30.0) -> Answer:
    """The live page; once shown, its script opens the board's stream (waited for)."""
    page, events = attempt.page, f"{attempt.base}/api/live/events"
    streams: list[int] = []
    page.on("response", lambda r: streams.append(r.status) if r.url == events else None)
    answer = Answer.of_page(page, page.goto(f"{attempt.base}/live"))
    deadline = time.monotonic() + within
    while answer.status == 200 and not streams and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert answer.status != 200 or streams == [200], streams
    return answer


# What the live page's "listen live" form says, by the outcome it sends the page back with.
LIVE_OUTCOMES = {"dialling": 202, "listen-refused": 409, "not-found": 404, "forbidden": 403}


def live_form(attempt: Attempt) -> Answer:
    """The live page's "listen live" form for the target call, posted with the session's
    token; the page it sends the browser back to names the outcome."""
    url = f"{attempt.base}/live/{attempt.target.call_id}/listen"
    form: dict[str, str | float | bool] = {"csrf": attempt.csrf(), "purpose": purpose("live")}
    posted = attempt.page.request.post(url, form=form, max_redirects=0)
    if posted.status != 303:
        return Answer.of_html(posted)
    outcome = parse_qs(urlsplit(posted.headers["location"]).query).get("outcome", [""])[0]
    return Answer(LIVE_OUTCOMES.get(outcome, 500), outcome)


# Each row states its own purpose: the same person, recording and purpose again within
# minutes is the same listen (one entry), and each row must write its own.
def purpose(row: str) -> str:
    return f"quality review ({row})"


# Erasing a caller nobody recorded: allowed and logged, and the matrix's recordings stay.
NOBODY = "+33699999999"

P = PERMISSIONS
DPO_ONLY = frozenset({"dpo"})
FORBIDDEN_BY_NAME = (403, "forbidden")
NOT_IN_PROGRESS = (404, "not-found")

ACTIONS: tuple[Action, ...] = (
    # name, logged as, roles, scoped, attempt, routes[, allowed status, scope refusal]
    Action("list-page", "list", P["list"], False, page_at("/calls"), ("GET /calls",)),
    Action("list-api", "list", P["list"], False, api_get("/api/calls"), ("GET /api/calls",)),
    Action("list-service-page", "list", P["list"], True, page_at("/calls?service={service}"),
           ("GET /calls",), scope_refusal=FORBIDDEN_BY_NAME),
    Action("view-page", "view", P["view"], True, page_at("/calls/{call}"), ("GET /calls/{id}",)),
    Action("view-api", "view", P["view"], True, api_get("/api/calls/{call}"),
           ("GET /api/calls/{id}",)),
    Action("report-page", "report", P["report"], False, page_at("/report"), ("GET /report",)),
    Action("report-api", "report", P["report"], False, api_get("/api/report"),
           ("GET /api/report",)),
    Action("audit_read-page", "audit_read", P["audit_read"], False, page_at("/dpo/access-log"),
           ("GET /dpo/access-log",)),
    Action("receipts-page", "audit_read", P["audit_read"], False, page_at("/dpo/receipts"),
           ("GET /dpo/receipts",)),
    Action("hold_list-page", "hold_list", P["hold_list"], False, page_at("/dpo/holds"),
           ("GET /dpo/holds",)),
    Action("dpo-page", None, DPO_ONLY, False, page_at("/dpo"), ("GET /dpo",)),
    Action("register-page", None, DPO_ONLY, False, page_at("/dpo/documents/register"),
           ("GET /dpo/documents/{name}",)),
    Action("listen-page", "listen", P["listen"], True,
           form_post("/recordings/{recording}/listen", call="{call}", purpose="quality",
                     detail="listen-page", action="listen"),
           ("POST /recordings/{id}/listen", "GET /recordings/{id}/audio/{grant}")),
    Action("download-page", "download", P["download"], True,
           form_post("/recordings/{recording}/listen", call="{call}", purpose="quality",
                     detail="download-page", action="download"),
           ("POST /recordings/{id}/listen",)),
    Action("listen-api", "listen", P["listen"], True,
           api_get(f"/api/recordings/{{recording}}/audio?purpose={purpose('listen-api')}"),
           ("GET /api/recordings/{id}/audio",)),
    Action("download-api", "download", P["download"], True,
           api_get(f"/api/recordings/{{recording}}/audio?download=1&purpose="
                   f"{purpose('download-api')}"),
           ("GET /api/recordings/{id}/audio",)),
    Action("sheet_create-page", "sheet_create", P["sheet_create"], True,
           form_post("/calls/{call}/sheets", purpose="quality", detail="sheet_create-page",
                     free_text="Accueil soigné."),
           ("POST /calls/{id}/sheets",)),
    Action("sheet_create-api", "sheet_create", P["sheet_create"], True,
           api_write("POST", "/api/calls/{call}/sheets",
                     {"purpose": purpose("sheet_create-api"), "free_text": "Bien."}),
           ("POST /api/calls/{id}/sheets",), allowed_status=201),
    Action("sheet_read-page", "sheet_read", P["sheet_read"], True,
           page_at("/sheets/{sheet}?purpose=quality&detail=sheet_read-page"),
           ("GET /sheets/{id}",)),
    Action("sheet_read-api", "sheet_read", P["sheet_read"], True,
           api_get(f"/api/sheets/{{sheet}}?purpose={purpose('sheet_read-api')}"),
           ("GET /api/sheets/{id}",)),
    Action("sheet_edit-page", "sheet_edit", P["sheet_edit"], True,
           form_post("/sheets/{sheet}", purpose="quality", detail="sheet_edit-page",
                     free_text="Relu."),
           ("POST /sheets/{id}",)),
    Action("sheet_edit-api", "sheet_edit", P["sheet_edit"], True,
           api_write("PUT", "/api/sheets/{sheet}",
                     {"purpose": purpose("sheet_edit-api"), "free_text": "Relu."}),
           ("PUT /api/sheets/{id}",)),
    Action("live_view-page", "live_view", P["live_view"], False, live_page,
           ("GET /live",), allowed_entries=2),
    Action("live_view-api", "live_view", P["live_view"], False, api_get("/api/live"),
           ("GET /api/live",)),
    Action("live_listen-page", "live_listen", P["live_listen"], False, live_form,
           ("POST /live/{id}/listen",), over=NOT_IN_PROGRESS),
    Action("live_listen-api", "live_listen", P["live_listen"], False,
           api_write("POST", "/api/calls/{call}/listen", {"purpose": purpose("live-api")}),
           ("POST /api/calls/{id}/listen",), over=NOT_IN_PROGRESS),
    Action("live_listen_stop-api", "live_listen_stop", P["live_listen_stop"], False,
           api_write("DELETE", "/api/calls/{call}/listen", {"purpose": purpose("live-stop")}),
           ("DELETE /api/calls/{id}/listen",), over=NOT_IN_PROGRESS),
    Action("redact-page", "redact", P["redact"], True,
           form_post("/calls/{call}/redact", recording="{recording}",
                     purpose="matrix: a span read aloud", **{"from": "0", "to": "0.2"}),
           ("POST /calls/{id}/redact",)),
    Action("subject_find-page", "subject_find", P["subject_find"], False,
           subject_find_page, ("POST /dpo/subjects",)),
    Action("subject_export-page", "subject_export", P["subject_export"], False,
           subject_form("export"), ("POST /dpo/subjects",)),
    Action("subject_erase-page", "subject_erase", P["subject_erase"], False,
           subject_form("erase", NOBODY), ("POST /dpo/subjects",)),
)  # fmt: skip

# Routes that reach nothing the access list guards, each with why; every other route of
# the daemon must be covered by a row above.
UNGUARDED = {
    "GET /": "the home page: the person's own name, role and services",
    "GET /sign-in": "the sign-in form",
    "POST /sign-in": "signing in (tests/browser/test_sign_in.py)",
    "POST /sign-out": "signing out (tests/browser/test_csrf_csp.py)",
    "POST /api/sign-out": "signing out (tests/browser/test_csrf_csp.py)",
    "POST /language": "the language of the pages",
    "GET /api/me": "the person's own id, name, role and services",
    "GET /healthz": "ok or not ok; figures only with a person's token",
    "GET /readyz": "ready or not, by error_id; details only with a person's token",
    "GET /metrics": "counts, no personal data; limited by address or token (web.metrics)",
    "GET /dpo/subjects": "the empty form; its POST is the action",
    "GET /calls/{id}/sheets/new": "the empty sheet form; its POST is the action",
    "GET /api/openapi.json": "the API's description",
    # Not "nothing", but checked elsewhere:
    "GET /api/live/events": "GET /api/live as a stream, through the same live_view check "
    "(tests/component)",
    "POST /api/payments": "needs a call in progress: tests/component, tests/integration",
}
