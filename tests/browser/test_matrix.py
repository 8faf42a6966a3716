"""The authorisation matrix in a real browser (S1, S2, S4): every person of the access
list (each role, each with services in and out of scope) attempts every action of
``tests/browser/matrix.py`` on a call of every service, recorded by the sandbox Asterisk.
Allowed exactly where the role and the scope say, refused elsewhere (404 for what lies
outside the person's services, as for what does not exist), each attempt one
access-log entry, read through the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, StorageState

from controller.access.gate import PERMISSIONS
from controller.config.governance_model import CredentialSource, Person
from controller.store import SqliteStore
from controller.web.keys import ACCESS
from tests.browser.matrix import ACTIONS, UNGUARDED, Action, Answer, Attempt, expected
from tests.browser.pages import CspWatch, sign_in
from tests.browser.site import SERVICES, Account, ConsoleDaemon, RecordedCall, make_accounts

PERSONS = tuple(make_accounts())
EVALUATOR_CREDENTIAL = CredentialSource("token", "env", "NOBODY_SIGNS_IN_AS_THIS", "-")
LISTERS = [pid for pid, a in make_accounts().items() if a.role in PERMISSIONS["list"]]
CASES = [
    pytest.param(action, pid, service, id=f"{action.name}-{pid}-{service}")
    for action in ACTIONS
    for pid in PERSONS
    for service in (SERVICES if action.scoped else SERVICES[:1])
]


@pytest.fixture(scope="module")
def signed_in(
    browser: Browser, console: ConsoleDaemon, accounts: dict[str, Account]
) -> dict[str, StorageState]:
    """Each person's signed-in browser state, made once: each case starts from it in a
    fresh context."""
    states = {}
    for pid, account in accounts.items():
        context = browser.new_context()
        try:
            page = context.new_page()
            assert sign_in(page, console.url, account).status == 303
            states[pid] = context.storage_state()
        finally:
            context.close()
    return states


@pytest.fixture(scope="module")
def sheets(console: ConsoleDaemon, recorded: dict[str, RecordedCall]) -> dict[str, str]:
    """A summary sheet about each recorded call, by service: written through the audited
    door by an evaluator who sees every service (made for this, outside the access
    list, so the matrix's persons are only those above)."""
    access = console.daemon.app[ACCESS]
    evaluator = Person("evaluator", "Évaluateur", "quality", ("*",), EVALUATOR_CREDENTIAL)

    def write(call: RecordedCall) -> str:
        def create(_: SqliteStore) -> str:
            purpose = "quality review of the call"
            return access.sheet_create(evaluator, purpose, call.call_id, {}, {}, "").id

        return console.query(create)

    return {service: write(call) for service, call in recorded.items()}


@pytest.fixture
def person_page(
    browser: Browser, signed_in: dict[str, StorageState], request: pytest.FixtureRequest
) -> Iterator[Page]:
    pid = request.node.callspec.params["pid"]
    context = browser.new_context(storage_state=signed_in[pid])
    csp = CspWatch.on(context)
    try:
        page = context.new_page()
        yield page
        csp.settle(page)
        assert csp.violations == [], csp.violations
    finally:
        context.close()


@pytest.mark.parametrize(("action", "pid", "service"), CASES)
def test_s1_s2_s4_each_role_and_scope_gets_exactly_what_the_access_list_says(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    sheets: dict[str, str],
    person_page: Page,
    action: Action,
    pid: str,
    service: str,
) -> None:
    account = accounts[pid]
    want = expected(action, account, service)
    before = console.last_seq()

    target = recorded[service]
    answer = action.attempt(Attempt(person_page, console.url, account, target, sheets[service]))

    assert answer == Answer(want.status, want.error_id)
    entries = [e for e in console.access_entries(before) if e.action != "sign_in"]
    if action.logged_as is None:
        assert entries == []
    else:
        count = action.allowed_entries if want.allowed else 1
        assert [(e.actor, e.role, e.action, e.result) for e in entries] == count * [
            (pid, account.role, action.logged_as, "ok" if want.allowed else "refused")
        ]


def route_names(console: ConsoleDaemon) -> set[str]:
    names = set()
    for route in console.daemon.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if route.method != "HEAD" and not str(path).startswith("/static"):
            names.add(f"{route.method} {path}")
    return names


def test_s1_every_route_of_the_daemon_is_in_the_matrix_or_said_to_guard_nothing(
    console: ConsoleDaemon,
) -> None:
    """S1: a route added to the console without a row in the matrix fails here: add the
    row (one line in tests/browser/matrix.py), or say in UNGUARDED why it guards
    nothing."""
    covered = {route for action in ACTIONS for route in action.routes}

    missing = route_names(console) - covered - set(UNGUARDED)

    assert missing == set()
    assert covered <= route_names(console)


@pytest.mark.parametrize("pid", LISTERS)
def test_s1_s4_the_calls_list_shows_exactly_the_persons_services(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    person_page: Page,
    pid: str,
) -> None:
    """S1, S4: the calls page and ``GET /api/calls`` list the recorded calls of the
    person's services and none of the others, and link each to its page."""
    account = accounts[pid]
    mine = {c.call_id for c in recorded.values() if account.in_scope(c.service)}
    others = {c.call_id for c in recorded.values()} - mine

    person_page.goto(f"{console.url}/calls")
    links = person_page.eval_on_selector_all(
        "a[href^='/calls/']", "links => links.map(a => a.getAttribute('href'))"
    )
    listed = person_page.request.get(f"{console.url}/api/calls").json()["calls"]

    shown = {link.removeprefix("/calls/") for link in links}
    assert mine <= shown and not others & shown
    assert mine <= {c["id"] for c in listed} and not others & {c["id"] for c in listed}
