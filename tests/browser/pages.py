"""What a person does in the console, in the browser, and what the browser saw."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from playwright.sync_api import BrowserContext, Cookie, Page, Response

from tests.browser.site import Account

SESSION_COOKIE = "reccontrol_session"
# Reports every Content-Security-Policy violation of every page of the context to the
# test. Playwright injects it through the DevTools protocol, which the page's policy
# does not govern: the page itself still runs no inline script.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation(
    [event.violatedDirective, event.blockedURI, event.documentURI].join(" ")
  );
});
"""

# Until the element can play: the metadata and enough data are in (HAVE_FUTURE_DATA).
CAN_PLAY = """audio => new Promise(done => {
  if (audio.readyState >= 3) { done(audio.readyState); return; }
  audio.addEventListener("canplay", () => done(audio.readyState), {once: true});
  audio.addEventListener("error", () => done(-audio.error.code), {once: true});
})"""


def sign_in(
    page: Page,
    base: str,
    account: Account,
    *,
    secret: str | None = None,
    kind: Literal["password", "token"] | None = None,
    path: str = "/sign-in",
) -> Response:
    """Fills and sends the sign-in form as a person would; the answer to the POST."""
    page.goto(f"{base}{path}")
    page.fill("input[name=person]", account.id)
    page.fill("input[name=secret]", account.secret if secret is None else secret)
    page.check(f"input[name=kind][value={kind or account.kind}]")
    with page.expect_response(lambda r: r.url.startswith(f"{base}/sign-in")) as posted:
        page.click("form.sign-in button[type=submit]")
    page.wait_for_load_state()
    return posted.value


def error_id(page: Page) -> str | None:
    """The ``error_id`` the page shows (the sign-in form's alert, or an error page)."""
    shown = page.locator("[data-error-id]")
    if shown.count() == 0:
        return None
    return shown.first.get_attribute("data-error-id")


def session_cookie(context: BrowserContext) -> Cookie | None:
    found = [c for c in context.cookies() if c.get("name") == SESSION_COOKIE]
    return found[0] if found else None


@dataclass
class CspWatch:
    """Violations of the Content-Security-Policy seen in a browser context, by the
    ``securitypolicyviolation`` event and by Chromium's console messages."""

    violations: list[str] = field(default_factory=list)

    @classmethod
    def on(cls, context: BrowserContext) -> CspWatch:
        watch = cls()
        context.expose_function("__cspViolation", watch._report)
        context.add_init_script(CSP_LISTENER)
        context.on("page", watch._follow)
        return watch

    def settle(self, page: Page, until_seen: bool = False, within: float = 10.0) -> None:
        """Lets the browser's reports reach the test: Playwright delivers them only while
        the test talks to it. ``until_seen``: until one arrives (or ``within`` passes)."""
        deadline = time.monotonic() + within
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => done(0)))")
        while until_seen and not self.violations and time.monotonic() < deadline:
            page.wait_for_timeout(50)

    def _report(self, violation: str) -> None:
        self.violations.append(violation)

    def _follow(self, page: Page) -> None:
        def console(message: object) -> None:
            text = str(getattr(message, "text", ""))
            if "Content Security Policy" in text:
                self.violations.append(f"console: {text}")

        page.on("console", console)
