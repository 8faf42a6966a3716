"""Screenshots of the console's main pages, on deterministic calls (fixed ids, times and
keys, a fixed clock), into ``docs/screenshots/`` where the README shows them. Each page
answers 200, breaks no Content-Security-Policy and shows no caller's number (S1, S4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from controller.clock import FixedClock
from controller.web.keys import VAULT
from tests.browser.conftest import StartConsole
from tests.browser.pages import CspWatch, sign_in
from tests.browser.seed import CALLS, NOW, seed, write_keys
from tests.browser.site import Account, ConsoleDaemon
from tests.integration.conftest import REPOSITORY

SCREENSHOTS = REPOSITORY / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PNG = b"\x89PNG\r\n\x1a\n"


def nothing(page: Page) -> None:
    """The page as it loads."""


def find_first_caller(page: Page) -> None:
    page.select_option("select[name=kind]", "caller")
    page.fill("input[name=subject]", CALLS[0].number)
    page.fill("input[name=purpose]", "Demande d'accès du client")
    page.click("button[name=do][value=find]")


@dataclass(frozen=True)
class Shot:
    name: str
    person: str | None
    path: str
    then: Callable[[Page], None] = nothing


# One line a page.
SHOTS = (
    Shot("sign-in", None, "/sign-in"),
    Shot("home-supervisor", "mleroy", "/"),
    Shot("calls", "mleroy", "/calls"),
    Shot("call", "mleroy", f"/calls/{CALLS[3].call_id}"),
    Shot("report", "cdubois", "/report?from=2026-10-29&to=2026-11-04"),
    Shot("dpo-access-log", "cdubois", "/dpo/access-log?size=12"),
    Shot("dpo-subject-request", "cdubois", "/dpo/subjects", find_first_caller),
)


@pytest.fixture(scope="module")
def seeded(
    start_console: StartConsole, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleDaemon]:
    workdir = tmp_path_factory.mktemp("screenshots") / "site"
    write_keys(workdir)
    with start_console("screenshots", workdir, FixedClock(NOW)) as console:
        vault = console.daemon.app[VAULT]
        console.query(lambda store: seed(store, vault, console.config))
        yield console


def numbers_shown(text: str) -> list[str]:
    """The seeded callers' numbers, in any usual form, found in ``text``."""
    forms = []
    for call in CALLS:
        national = "0" + call.number.removeprefix("+33")
        forms += [call.number, national, national[1:], call.number.removeprefix("+")]
    return [form for form in forms if form in text]


@pytest.mark.parametrize("shot", SHOTS, ids=[s.name for s in SHOTS])
def test_s1_s4_a_screenshot_of_each_main_page(
    seeded: ConsoleDaemon, accounts: dict[str, Account], browser: Browser, shot: Shot
) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, device_scale_factor=1, locale="fr-FR", timezone_id="Europe/Paris"
    )
    csp = CspWatch.on(context)
    try:
        page = context.new_page()
        if shot.person is not None:
            assert sign_in(page, seeded.url, accounts[shot.person]).status == 303
        shown = page.goto(f"{seeded.url}{shot.path}")
        assert shown is not None and shown.status == 200
        shot.then(page)
        page.wait_for_load_state("networkidle")

        # No hover effect where the last click left the mouse.
        page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)
        assert numbers_shown(page.content()) == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path: Path = SCREENSHOTS / f"{shot.name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
        assert path.read_bytes().startswith(PNG)
        csp.settle(page)
        assert csp.violations == []
    finally:
        context.close()
