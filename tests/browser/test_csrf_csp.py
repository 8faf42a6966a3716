"""The console's forms and API writes against forged requests, and its
Content-Security-Policy, in a real browser (S1, S2, S4).

Every test's pages are also checked for CSP violations by the ``page`` fixture."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page

from controller.access.gate import PERMISSIONS
from tests.browser.pages import CspWatch, error_id, session_cookie, sign_in
from tests.browser.site import Account, ConsoleDaemon, RecordedCall

SIGN_OUT_TOKEN = "form[action='/sign-out'] input[name=csrf]"
SIGN_OUT = "form[action='/sign-out'] button[type=submit]"
# What a strict policy for a console of server-rendered pages must say (CSP Level 3).
STRICT = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}
LOOSE_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:")


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def signed_out(console: ConsoleDaemon, after_seq: int) -> bool:
    return any(e.action == "sign_out" for e in console.access_entries(after_seq))


@pytest.mark.parametrize("forgery", ["forged", None], ids=["wrong token", "no token"])
def test_s2_a_form_post_without_the_sessions_token_is_refused(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, forgery: str | None
) -> None:
    """S2: the sign-out form sent with a wrong CSRF token, or none, answers 403
    ``csrf-refused`` and does nothing: the person is still signed in, no sign-out is
    logged."""
    sign_in(page, console.url, accounts["mleroy"])
    before = console.last_seq()
    token = page.locator(SIGN_OUT_TOKEN)
    if forgery is None:
        token.evaluate("input => input.remove()")
    else:
        token.evaluate("(input, value) => { input.value = value; }", forgery)

    with page.expect_response(f"{console.url}/sign-out") as posted:
        page.click(SIGN_OUT)

    assert posted.value.status == 403 and error_id(page) == "csrf-refused"
    assert not signed_out(console, before)
    assert page.goto(f"{console.url}/") is not None and page.url == f"{console.url}/"


def test_s2_the_form_with_the_sessions_token_signs_out(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S2: the same form as the page gave it signs out, and the sign-out is logged."""
    sign_in(page, console.url, accounts["mleroy"])
    before = console.last_seq()

    page.click(SIGN_OUT)

    assert urlsplit(page.url).path == "/sign-in"
    assert signed_out(console, before) and session_cookie(context) is None


def test_s2_an_api_write_needs_the_sessions_token_in_its_header(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page
) -> None:
    """S2: with the session cookie alone (what another site's request would carry, were
    it not SameSite), ``POST /api/sign-out`` answers 403 ``csrf-refused``; with the
    page's token in ``X-CSRF-Token`` it signs out."""
    sign_in(page, console.url, accounts["snguyen"])
    token = page.locator(SIGN_OUT_TOKEN).input_value()
    request = page.context.request
    before = console.last_seq()

    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = request.post(f"{console.url}/api/sign-out", headers=headers)
        assert refused.status == 403 and refused.json()["error_id"] == "csrf-refused"
    assert not signed_out(console, before)

    accepted = request.post(f"{console.url}/api/sign-out", headers={"X-CSRF-Token": token})
    assert accepted.status == 204 and signed_out(console, before)


def test_s2_the_sign_in_form_needs_its_token_too(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S2: a sign-in form whose token was removed (another site's form) is refused
    before any credential is checked: no session, no access-log entry."""
    account = accounts["cdubois"]
    before = console.last_seq()
    page.goto(f"{console.url}/sign-in")
    page.locator("form.sign-in input[name=csrf]").evaluate("input => input.remove()")
    page.fill("input[name=person]", account.id)
    page.fill("input[name=secret]", account.secret)

    with page.expect_response(f"{console.url}/sign-in") as posted:
        page.click("form.sign-in button[type=submit]")

    assert posted.value.status == 403 and error_id(page) == "csrf-refused"
    assert session_cookie(context) is None and console.last_seq() == before


def test_s4_every_answer_carries_a_strict_content_security_policy(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page
) -> None:
    """S4: the sign-in page, the home page, the stylesheet, the API and the health check
    all carry the policy: nothing inline, nothing from elsewhere, never framed."""
    seen: dict[str, str | None] = {}
    page.on(
        "response",
        lambda r: seen.__setitem__(urlsplit(r.url).path, r.header_value("content-security-policy")),
    )
    sign_in(page, console.url, accounts["cdubois"])
    for path in ("/api/me", "/healthz"):
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None
        seen[path] = answer.header_value("content-security-policy")

    assert {"/sign-in", "/", "/static/console.css", "/api/me", "/healthz"} <= set(seen)
    for path, policy in seen.items():
        assert policy is not None, f"{path}: no Content-Security-Policy"
        parsed = directives(policy)
        for name, sources in STRICT.items():
            assert parsed.get(name) == sources, f"{path}: {name} is {parsed.get(name)}"
        loose = [s for sources in parsed.values() for s in sources if s in LOOSE_SOURCES]
        assert loose == [], f"{path}: {loose}"


def test_s4_answers_streamed_by_their_handler_carry_the_policy_too(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    page: Page,
) -> None:
    """S4: the live page's Server-Sent Events and a recording's audio, which their
    handlers stream themselves, carry the same strict policy as every page."""
    events = f"{console.url}/api/live/events"
    sign_in(page, console.url, accounts["mleroy"])
    with page.expect_response(events) as stream:
        page.goto(f"{console.url}/live")
    recording = recorded["sales"].recording_id
    audio = page.request.get(
        f"{console.url}/api/recordings/{recording}/audio?purpose=checking+the+headers"
    )

    assert stream.value.status == 200 and audio.status == 200
    for url, policy in (
        (events, stream.value.header_value("content-security-policy")),
        ("audio", audio.headers.get("content-security-policy")),
    ):
        assert policy is not None, f"{url}: no Content-Security-Policy"
        parsed = directives(policy)
        assert all(parsed.get(name) == sources for name, sources in STRICT.items()), url


def crawl(page: Page, base: str, start: str = "/", limit: int = 40) -> list[str]:
    """Every page of the console reachable by links from ``start`` (GET, same origin),
    visited in turn; their paths."""
    queue, seen = [start], set[str]()
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        page.goto(f"{base}{path}")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            target = urlsplit(urljoin(page.url, href))
            if f"{target.scheme}://{target.netloc}" == base and target.path not in seen:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return sorted(seen)


@pytest.mark.parametrize("pid", ["mleroy", "snguyen", "cdubois", "tadmin"])
def test_s4_no_page_of_the_console_breaks_its_policy(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    page: Page,
    csp: CspWatch,
    pid: str,
) -> None:
    """S4: signed in with each role, every page reachable from the home page (the calls
    recorded by the sandbox Asterisk's among them) loads its stylesheet, scripts and
    charts without one Content-Security-Policy violation (checked by the ``page``
    fixture, in the browser's own event and its console)."""
    account = accounts[pid]
    sign_in(page, console.url, account)

    visited = crawl(page, console.url)
    csp.settle(page)

    assert "/" in visited
    if account.role in PERMISSIONS["view"]:
        seen = {c.call_id for c in recorded.values() if account.in_scope(c.service)}
        assert {f"/calls/{call_id}" for call_id in seen} <= set(visited)
    assert csp.violations == []


def test_s4_the_violation_watch_sees_an_inline_script(
    console: ConsoleDaemon, page: Page, csp: CspWatch
) -> None:
    """The check above can fail: an inline script put into a console page is blocked
    by the policy, and the watch reports it."""
    page.goto(f"{console.url}/sign-in")

    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = true'; document.body.append(s); }"
    )
    csp.settle(page, until_seen=True)

    assert page.evaluate("() => window.ran === undefined")
    assert any("script-src" in v for v in csp.violations), csp.violations
    csp.violations.clear()
