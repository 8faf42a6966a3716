"""Debian's Chromium, as the console's browser tests launch it through Playwright.

Playwright cannot download its own browser here, so it drives the ``chromium`` package
(``executable_path``), which ``./dev`` installs.
"""

from __future__ import annotations

import shutil

# Headless in a container as root (no sandbox, no GPU), and nothing the browser would do
# on its own: no QUIC, no first-run pages, no update, sync or background fetches, so a
# test's only traffic is the console's.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
COMMAND = "chromium"


class ChromiumMissing(RuntimeError):
    error_id = "chromium-missing"


def chromium_path() -> str:
    """The browser's executable; :class:`ChromiumMissing`, saying how to get it, if absent."""
    found = shutil.which(COMMAND)
    if found is None:
        raise ChromiumMissing(
            f"{COMMAND!r} is not on the PATH: the console's browser tests drive Debian's "
            "Chromium; run ./dev test as root (it installs the chromium package), or "
            "apt-get install chromium"
        )
    return found
