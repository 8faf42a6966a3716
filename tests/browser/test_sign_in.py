"""Signing in to the console in a real browser (S1, S2): with a password, with a token,
refused and logged with a wrong credential, 429 past the limit; the session cookie
is HttpOnly and SameSite=Strict."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.pages import error_id, session_cookie, sign_in
from tests.browser.site import Account, ConsoleDaemon

# The sign-in failures the daemon takes for one person before answering 429
# (controller/web/guard.py, FailureLimiter's default).
FAILURES_BEFORE_429 = 5


@pytest.mark.parametrize("pid", ["mleroy", "snguyen"])
def test_s1_s2_a_person_signs_in_with_their_credential_and_it_is_logged(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    page: Page,
    context: BrowserContext,
    pid: str,
) -> None:
    """S1, S2: Marc Leroy with his password, Sophie Nguyen with her token: the home page
    names them and their role, and the access log has their sign-in."""
    account = accounts[pid]
    before = console.last_seq()

    answer = sign_in(page, console.url, account)

    assert answer.status == 303
    assert page.url == f"{console.url}/"
    assert account.name in page.inner_text("header .who")
    assert session_cookie(context) is not None
    (entry,) = console.access_entries(before)
    assert (entry.actor, entry.role, entry.action, entry.target, entry.result) == (
        pid,
        account.role,
        "sign_in",
        "console",
        "ok",
    )


def test_s1_s2_a_wrong_password_is_refused_and_logged(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S1, S2: the form comes back 401 with ``unauthenticated``, no session is opened,
    and the refusal is in the access log with its reason, never the secret tried."""
    account = accounts["cdubois"]
    before = console.last_seq()

    answer = sign_in(page, console.url, account, secret="not her password")

    assert answer.status == 401 and error_id(page) == "unauthenticated"
    assert page.url.startswith(f"{console.url}/sign-in")
    assert session_cookie(context) is None
    (entry,) = console.access_entries(before)
    assert (entry.actor, entry.action, entry.result) == ("cdubois", "sign_in", "refused")
    assert entry.details == {"reason": "wrong credential"}
    assert "not her password" not in repr(entry)


def test_s1_a_token_is_not_a_password(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S1: a person with a token cannot sign in by sending it as a password."""
    answer = sign_in(page, console.url, accounts["rlambert"], kind="password")

    assert answer.status == 401 and error_id(page) == "unauthenticated"
    assert session_cookie(context) is None


def test_s1_s2_past_the_limit_sign_in_answers_429_without_checking(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S1, S2: after five wrong passwords for one person, the sixth attempt, even with
    the right token, answers 429 ``too-many-failures`` and writes nothing to the access
    log (whoever knows an id cannot fill the log, kept a year)."""
    account = accounts["tadmin"]
    before = console.last_seq()
    for _ in range(FAILURES_BEFORE_429):
        assert sign_in(page, console.url, account, secret="guess").status == 401
    failed = console.last_seq()
    assert failed - before == FAILURES_BEFORE_429

    answer = sign_in(page, console.url, account)

    assert answer.status == 429 and error_id(page) == "too-many-failures"
    assert session_cookie(context) is None
    assert console.last_seq() == failed


def test_s1_the_session_cookie_is_httponly_and_samesite_strict(
    console: ConsoleDaemon, accounts: dict[str, Account], page: Page, context: BrowserContext
) -> None:
    """S1: the page's scripts cannot read the session, no other site's request carries
    it; over plain HTTP (the loopback) it is not marked Secure."""
    sign_in(page, console.url, accounts["mleroy"])

    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False
    assert "reccontrol_session" not in page.evaluate("document.cookie")
