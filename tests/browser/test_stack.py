"""The browser stack itself: Debian's Chromium, driven by Playwright, reaches the real
daemon on the sandbox Asterisk."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from playwright.sync_api import Browser, Page

from tests.browser.chromium import chromium_path
from tests.browser.conftest import PROFILE_PREFIX
from tests.browser.site import ConsoleDaemon


def test_the_browser_loads_the_daemons_health(console: ConsoleDaemon, page: Page) -> None:
    """The daemon, connected to the sandbox's ARI, answers the browser: ``ok`` and no
    figure to a browser that names no person of the access list."""
    response = page.goto(f"{console.url}/healthz")

    assert response is not None and response.status == 200
    assert response.header_value("content-type") == "application/json; charset=utf-8"
    assert json.loads(page.inner_text("body")) == {"status": "ok"}


def test_the_browser_is_debians_chromium_on_a_fresh_profile(
    browser: Browser, profiles: Path
) -> None:
    """The module's browser is the ``chromium`` on the PATH, not one Playwright brought,
    and keeps its profile in a folder of its own, made empty at its launch."""
    installed = subprocess.run(
        [chromium_path(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f" {browser.version} " in f" {installed} "
    (profile,) = (p for p in profiles.iterdir() if p.name.startswith(PROFILE_PREFIX))
    assert profile.is_dir()
