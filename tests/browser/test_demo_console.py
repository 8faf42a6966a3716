"""``reccontrol demo --keep``: the demo's calls made, the daemon stays up with its console
and prints the sign-in of a supervisor, a quality analyst and the DPO (S1)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from playwright.sync_api import Page

from controller.access.credentials import Password
from controller.access.service import AccessService
from controller.config.model import Person
from controller.demo.console import SignIn
from controller.store import SqliteStore
from controller.web.keys import ACCESS
from tests.browser.demo import held_demo
from tests.conftest import _SharedAsterisk


def signs_in(access: AccessService, sign_in: SignIn, _: SqliteStore) -> Person:
    return access.authenticate(sign_in.person.id, Password(sign_in.password))


def test_s1_the_kept_demo_prints_three_sign_ins_that_open_its_console(
    _shared_asterisk: _SharedAsterisk, tmp_path: Path, page: Page
) -> None:
    """S1: each printed password signs its person in, with the role and scope printed."""
    instance = _shared_asterisk.answering("demo")
    with held_demo(instance, tmp_path / "demo") as demo:
        header, *persons = demo.lines
        assert header == f"The console: {demo.url}/sign-in (Ctrl-C stops the daemon)"
        assert [line.split()[0] for line in persons] == ["supervisor", "quality", "DPO"]
        assert "(sales, hotline)" in persons[1] and "(all services)" in persons[2]
        assert demo.daemon is not None
        access = demo.daemon.app[ACCESS]
        for line, sign_in in zip(persons, demo.sign_ins, strict=True):
            assert f" id {sign_in.person.id} " in line
            assert f" password {sign_in.password} " in line
            person = demo.query(partial(signs_in, access, sign_in))
            assert person.role == sign_in.person.role

        response = page.goto(f"{demo.url}/healthz")
        assert response is not None and response.status == 200
        assert json.loads(page.inner_text("body")) == {"status": "ok"}
