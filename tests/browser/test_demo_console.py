"""``reccontrol demo --keep``: the demo's calls made, the daemon stays up with its console
and prints the sign-in of a supervisor, a quality analyst and the DPO (S1)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page

from tests.browser.demo import held_demo
from tests.conftest import _SharedAsterisk


def test_s1_the_kept_demo_prints_three_sign_ins_that_open_its_console(
    _shared_asterisk: _SharedAsterisk, tmp_path: Path, page: Page
) -> None:
    """S1: the demo prints the console's address, then a supervisor's, a quality
    analyst's and the DPO's id and password; each signs in through the printed address
    and the console names them, their role and their scope."""
    instance = _shared_asterisk.answering("demo")
    with held_demo(instance, tmp_path / "demo") as demo:
        header, *persons = demo.lines
        assert header == f"The console: {demo.url}/sign-in (Ctrl-C stops the daemon)"
        assert [line.split()[0] for line in persons] == ["supervisor", "quality", "DPO"]

        for line, printed in zip(persons, demo.sign_ins, strict=True):
            person = printed.person
            assert f" id {person.id} " in line and f" password {printed.password} " in line
            page.goto(f"{demo.url}/sign-in")
            page.fill("input[name=person]", person.id)
            page.fill("input[name=secret]", printed.password)
            page.click("form.sign-in button[type=submit]")

            assert urlsplit(page.url).path == "/"
            home = page.inner_text("main")
            assert person.name in home and f"({person.id})" in home
            if "*" not in person.services:
                assert ", ".join(person.services) in home
            page.click("form[action='/sign-out'] button[type=submit]")
            assert urlsplit(page.url).path == "/sign-in"
