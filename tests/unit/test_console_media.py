"""The call page's listening and sheet parts (S1, S2, T2), rendered as the call page
includes them: the purpose form comes before any audio, and each role is offered only
what the access list lets it do. And the purpose as the access log keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import pytest
from aiohttp import web

from controller.config.model import Person
from controller.web.console import media
from controller.web.console.i18n import text
from controller.web.console.listen import stated_purpose
from controller.web.console.render import setup_templates
from tests.sites import load_site, write_site

CALL = {
    "id": "c0ffee",
    "recordings": [
        {
            "id": "r1",
            "format": "wav",
            "duration_seconds": 61.2,
            "created_at": "2026-12-01T10:00:00+00:00",
            "expires_at": "2027-03-01T10:00:00+00:00",
            "listenable": True,
        },
        {
            "id": "r2",
            "format": "wav",
            "duration_seconds": None,
            "created_at": "2026-12-01T10:05:00+00:00",
            "expires_at": "2027-03-01T10:05:00+00:00",
            "listenable": False,
        },
    ],
    "sheets": [
        {
            "id": "s1",
            "evaluator": "mleroy",
            "created_at": "2026-12-02T09:00:00+00:00",
            "updated_at": "2026-12-02T09:00:00+00:00",
            "expires_at": "2027-12-02T09:00:00+00:00",
        }
    ],
}


@pytest.fixture
def persons(tmp_path: Path) -> dict[str, Person]:
    return load_site(write_site(tmp_path)).access.persons


def rendered(template: str, person: Person, call: dict[str, Any] = CALL) -> str:
    app = web.Application()
    setup_templates(app)
    media.add_routes(app)
    env = aiohttp_jinja2.get_env(app)
    values = {"t": lambda key: text(key, "en"), "person": person, "csrf": "tok", "call": call}
    return env.get_template(template).render(values)


def test_s2_the_purpose_form_comes_before_any_audio(persons: dict[str, Person]) -> None:
    html = rendered("call_listen.html", persons["snguyen"])
    assert "<audio" not in html
    assert 'action="/sheets/s1"' in html  # the sheet forms come with it
    assert html.count('action="/recordings/r1/listen"') == 1
    assert 'action="/recordings/r2/listen"' not in html  # no file to listen to
    assert 'name="csrf" value="tok"' in html and 'name="call" value="c0ffee"' in html
    for purpose in ("quality", "training", "mediation", "dispute", "other"):
        assert f'<option value="{purpose}"' in html


@pytest.mark.parametrize(
    ("person", "listen", "download", "new_sheet"),
    [
        ("snguyen", True, False, True),  # quality: listens, never downloads
        ("mleroy", True, True, True),  # supervisor: listens and downloads
        ("cdubois", True, True, False),  # DPO: listens and downloads, writes no sheet
        ("tadmin", False, False, False),  # admin: none of it
    ],
)
def test_s1_each_role_is_offered_what_the_access_list_allows(
    persons: dict[str, Person], person: str, listen: bool, download: bool, new_sheet: bool
) -> None:
    html = rendered("call_listen.html", persons[person])
    assert ('value="listen"' in html) is listen
    assert ('value="download"' in html) is download
    sheets = rendered("call_sheets.html", persons[person])
    assert ('href="/calls/c0ffee/sheets/new"' in sheets) is new_sheet


def test_t2_the_call_page_offers_to_open_each_sheet_once_a_purpose_is_stated(
    persons: dict[str, Person],
) -> None:
    html = rendered("call_sheets.html", persons["mleroy"])
    assert 'action="/sheets/s1"' in html
    empty = rendered("call_sheets.html", persons["mleroy"], CALL | {"sheets": []})
    assert "No sheet about this call." in empty


@pytest.mark.parametrize(
    ("choice", "detail", "stated"),
    [
        ("quality", "", "quality"),
        ("dispute", "  claim   of  march ", "dispute: claim of march"),
        ("other", "team coaching", "team coaching"),
        ("other", "   ", ""),
        ("anything", "words", ""),
    ],
)
def test_s2_the_purpose_as_the_log_keeps_it(choice: str, detail: str, stated: str) -> None:
    assert stated_purpose(choice, detail) == stated
