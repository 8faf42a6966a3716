"""The console in a real browser: Playwright drives Debian's Chromium against the real
daemon on the sandbox Asterisk.

Playwright's sync API, not its async one: the browser is one per module (a launch takes
about a second) and pytest-asyncio gives each test an event loop of its own, so an
async browser would have to outlive the loop that launched it. The daemon runs in a
thread with its own loop (``site.py``); the test's thread only drives the browser, and
a test reads top to bottom like what a person does.

Each test gets a fresh browser context: no cookie, session or cache of another test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from controller.clock import Clock
from tests.browser.chromium import FLAGS, ChromiumMissing, chromium_path
from tests.browser.pages import CspWatch
from tests.browser.site import (
    Account,
    ConsoleDaemon,
    RecordedCall,
    make_accounts,
    running_console,
)
from tests.conftest import _SharedAsterisk

HERE = Path(__file__).resolve().parent
# Where Playwright puts the profile of each browser it launches, under the test's tmp.
PROFILES = "browser-profiles"
# Playwright's own name for the fresh profile folder it makes at each launch.
PROFILE_PREFIX = "playwright_chromiumdev_profile-"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # They drive the sandbox Asterisk, like the integration tests.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding the browser's profile while it runs."""
    return tmp_path_factory.mktemp(PROFILES)


@pytest.fixture(scope="module")
def playwright(profiles: Path) -> Iterator[Playwright]:
    try:
        chromium_path()
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    # Playwright refuses --user-data-dir in the launch flags: it makes a fresh profile
    # folder itself at each launch, in its driver's temporary folder. Pointing that at
    # the module's own folder keeps each browser's profile there, new and empty.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(profiles))
        driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium, one per test module."""
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=list(FLAGS)
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context per test: its own cookies, storage and cache."""
    fresh = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def csp(context: BrowserContext) -> CspWatch:
    """The Content-Security-Policy violations of the test's context."""
    return CspWatch.on(context)


@pytest.fixture
def page(context: BrowserContext, csp: CspWatch) -> Iterator[Page]:
    """A page of the test's context. Whatever the test did, no page it opened broke the
    console's Content-Security-Policy (a test that provokes one clears the list)."""
    opened = context.new_page()
    yield opened
    if not opened.is_closed():
        csp.settle(opened)
    assert csp.violations == [], f"Content-Security-Policy violations: {csp.violations}"


@pytest.fixture(scope="module")
def accounts() -> dict[str, Account]:
    """The site's persons, with secrets made for this module."""
    return make_accounts()


StartConsole = Callable[..., AbstractContextManager[ConsoleDaemon]]


@pytest.fixture(scope="module")
def start_console(
    _shared_asterisk: _SharedAsterisk,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    accounts: dict[str, Account],
) -> StartConsole:
    """Starts a daemon with its console on the worker's sandbox Asterisk, for this module:
    ``start(name, workdir=None, clock=None, persons=None, **sections)``, ``sections``
    going into its config (``targets`` and ``sessions_clock`` too, as ``running_console``
    has them), in a folder
    of its own (``workdir``, or a new one named ``name``); ``persons``: the accounts it
    knows, when not the module's."""
    instance = _shared_asterisk.answering(request.node.nodeid)

    def start(
        name: str,
        workdir: Path | None = None,
        clock: Clock | None = None,
        persons: dict[str, Account] | None = None,
        **sections: Any,
    ) -> AbstractContextManager[ConsoleDaemon]:
        folder = workdir if workdir is not None else tmp_path_factory.mktemp(name)
        known = accounts if persons is None else persons
        return running_console(instance, folder, known, clock, **sections)

    return start


@pytest.fixture(scope="module")
def console(start_console: StartConsole) -> Iterator[ConsoleDaemon]:
    """The daemon and its console on the worker's sandbox Asterisk, one per module."""
    with start_console("console") as running:
        yield running


@pytest.fixture(scope="module")
def recorded(console: ConsoleDaemon) -> dict[str, RecordedCall]:
    """One call per service, recorded by the sandbox Asterisk, by service."""
    return console.record_calls()
