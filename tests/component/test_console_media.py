"""Listening, downloading and summary sheets in the console and their JSON twins (S1,
S2, S4, T2), on the daemon's application: the purpose comes before the audio, a listen
is one access-log entry however many ranges the player asks for, roles and scopes are
the access list's (404 alike for outside the scope and nowhere), forms need the CSRF
token, and every API answer matches the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.web.security import CONTENT_SECURITY_POLICY
from tests.component.console_rig import Console, console_rig
from tests.openapi import assert_matches_openapi
from tests.sites import add_recording, wav_bytes

AUDIO = wav_bytes(seconds=1.0)
SOURCE = re.compile(r'<audio controls preload="auto" src="([^"]+)"')


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path):
        yield rig


def recorded(console: Console, service: str = "sales") -> tuple[str, str]:
    """A stored recording of ``service``: (call id, recording id)."""
    config = console.config
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def add(store: SqliteStore) -> tuple[str, str]:
        return add_recording(store, vault, config, service=service, created_at=now, audio=AUDIO)

    result: tuple[str, str] = console.with_store(add)
    return result


def entries(console: Console, action: str) -> list[tuple[str, str, str]]:
    return [(e.actor, e.target, e.result) for e in console.access_log() if e.action == action]


def bearer(console: Console, person: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.token(person)}", "X-Reccontrol-Person": person}


# -- listening from the pages --------------------------------------------------------------
async def test_s2_s4_a_listen_states_its_purpose_then_plays_by_ranges_with_one_entry(
    console: Console,
) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("snguyen")
    form = {"csrf": csrf, "purpose": "quality", "detail": "weekly review", "action": "listen"}
    page = await console.client.post(f"/recordings/{recording}/listen", data=form)
    assert page.status == 200
    html = await page.text()
    found = SOURCE.search(html)
    assert found is not None
    assert 'value="download"' not in html  # quality staff listen, never download
    source = found.group(1)
    for asked, status, body in (
        ("bytes=0-", 206, AUDIO),
        ("bytes=0-99", 206, AUDIO[:100]),
        ("bytes=8000-", 206, AUDIO[8000:]),
        (None, 200, AUDIO),
    ):
        headers = {"Range": asked} if asked else {}
        async with console.client.get(source, headers=headers) as answer:
            assert (answer.status, await answer.read()) == (status, body)
            assert answer.headers["Content-Type"] == "audio/wav"
            assert answer.headers["Accept-Ranges"] == "bytes"
            # Streamed, yet with the headers every answer carries.
            assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert answer.headers["X-Frame-Options"] == "DENY"
    assert entries(console, "listen") == [("snguyen", f"recording:{recording}", "ok")]
    (logged,) = [e for e in console.access_log() if e.action == "listen"]
    assert logged.purpose == "quality: weekly review"


async def test_s2_the_purpose_form_needs_its_csrf_token_and_a_purpose(console: Console) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("mleroy")
    forged = await console.client.post(
        f"/recordings/{recording}/listen", data={"csrf": "forged", "purpose": "quality"}
    )
    assert forged.status == 403
    assert entries(console, "listen") == []
    unstated = await console.client.post(
        f"/recordings/{recording}/listen", data={"csrf": csrf, "purpose": "other", "detail": ""}
    )
    assert unstated.status == 403
    assert "a purpose must be stated" in await unstated.text()
    assert entries(console, "listen") == [("mleroy", f"recording:{recording}", "refused")]


async def test_s1_a_supervisor_downloads_an_attachment(console: Console) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("mleroy")
    form = {"csrf": csrf, "purpose": "dispute", "detail": "customer claim", "action": "listen"}
    page = await console.client.post(f"/recordings/{recording}/listen", data=form)
    assert 'value="download"' in await page.text()
    answer = await console.client.post(
        f"/recordings/{recording}/listen", data=form | {"action": "download"}
    )
    assert (answer.status, await answer.read()) == (200, AUDIO)
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{recording}.wav"'
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert entries(console, "download") == [("mleroy", f"recording:{recording}", "ok")]


async def test_s1_a_quality_download_is_refused_and_logged(console: Console) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("snguyen")
    form = {"csrf": csrf, "purpose": "quality", "action": "download"}
    answer = await console.client.post(f"/recordings/{recording}/listen", data=form)
    assert answer.status == 403
    assert entries(console, "download") == [("snguyen", f"recording:{recording}", "refused")]


async def test_s1_outside_the_scope_reads_like_nowhere_and_is_logged(console: Console) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("rlambert")  # supervisor of support only
    form = {"csrf": csrf, "purpose": "quality"}
    outside = await console.client.post(f"/recordings/{recording}/listen", data=form)
    nowhere = await console.client.post("/recordings/0123456789abcdef/listen", data=form)
    assert (outside.status, nowhere.status) == (404, 404)
    # The same page but for the id in the language form's return address.
    assert (await outside.text()).replace(recording, "0" * 16) == (await nowhere.text()).replace(
        "0123456789abcdef", "0" * 16
    )
    assert entries(console, "listen") == [
        ("rlambert", f"recording:{recording}", "refused"),
        ("rlambert", "recording:0123456789abcdef", "refused"),
    ]


async def test_s2_a_players_source_is_its_listeners_only(console: Console) -> None:
    _, recording = recorded(console)
    csrf = await console.sign_in("mleroy")
    form = {"csrf": csrf, "purpose": "training"}
    found = SOURCE.search(
        await (await console.client.post(f"/recordings/{recording}/listen", data=form)).text()
    )
    assert found is not None
    await console.client.post("/sign-out", data={"csrf": csrf})
    await console.sign_in("cdubois")
    answer = await console.client.get(found.group(1))
    assert answer.status == 404
    assert entries(console, "listen") == [("mleroy", f"recording:{recording}", "ok")]


# -- listening through the API ---------------------------------------------------------------
async def test_s2_s4_the_api_audio_is_one_entry_per_listen_and_matches_the_document(
    console: Console,
) -> None:
    _, recording = recorded(console)
    path = f"/api/recordings/{recording}/audio"
    params = {"purpose": "mediation for a complaint"}
    headers = bearer(console, "mleroy")
    for asked in ("bytes=0-9", "bytes=10-19", "bytes=-5"):
        async with console.client.get(
            path, params=params, headers=headers | {"Range": asked}
        ) as answer:
            assert answer.status == 206
    async with console.client.get(
        path, params=params, headers=headers | {"Range": f"bytes={len(AUDIO)}-"}
    ) as answer:
        assert answer.status == 416
        assert_matches_openapi(await answer.json(), "GET", path, 416)
    assert entries(console, "listen") == [("mleroy", f"recording:{recording}", "ok")]
    async with console.client.get(
        path, params=params | {"download": "1"}, headers=headers
    ) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Disposition"].startswith("attachment")
    assert len(entries(console, "download")) == 1


async def test_s1_the_api_answers_refusals_by_the_document(console: Console) -> None:
    _, recording = recorded(console)
    path = f"/api/recordings/{recording}/audio"
    cases: list[tuple[str, dict[str, str], dict[str, str], int, str]] = [
        ("rlambert", {"purpose": "quality check"}, {}, 404, "not-found"),
        ("snguyen", {"purpose": "quality check", "download": "1"}, {}, 403, "forbidden"),
        ("mleroy", {"purpose": ""}, {}, 403, "forbidden"),
        ("mleroy", {"purpose": "quality check"}, {"Authorization": "Bearer x"}, 401, ""),
    ]
    for person, params, extra, status, error_id in cases:
        headers = bearer(console, person) | extra
        async with console.client.get(path, params=params, headers=headers) as answer:
            body = await answer.json()
            assert answer.status == status, body
            assert_matches_openapi(body, "GET", path, status)
            assert error_id in body["error_id"]
    async with console.client.get(
        "/api/recordings/nowhere/audio",
        params={"purpose": "quality check"},
        headers=bearer(console, "rlambert"),
    ) as answer:
        assert (await answer.json())["message"] == "no such recording"


async def test_s4_the_api_refuses_a_missing_file_with_a_410(console: Console) -> None:
    _, recording = recorded(console)
    row = console.with_store(lambda s: s.recording(recording))
    Path(row.path).unlink()
    path = f"/api/recordings/{recording}/audio"
    async with console.client.get(
        path, params={"purpose": "quality check"}, headers=bearer(console, "mleroy")
    ) as answer:
        assert answer.status == 410
        assert_matches_openapi(await answer.json(), "GET", path, 410)
    assert entries(console, "listen") == [("mleroy", f"recording:{recording}", "error")]


# -- summary sheets -----------------------------------------------------------------------
def sheet_form(csrf: str, **scores: str) -> dict[str, str]:
    form = {"csrf": csrf, "purpose": "quality", "detail": "monthly evaluation"}
    form |= {f"score.{k}": v for k, v in scores.items()}
    return form | {"comment.greeting": "warm welcome", "free_text": "A good call."}


async def test_t2_a_sheet_is_written_read_and_edited_from_the_pages(console: Console) -> None:
    call, _ = recorded(console)
    csrf = await console.sign_in("mleroy")
    new = await console.client.get(f"/calls/{call}/sheets/new")
    html = await new.text()
    assert 'name="score.greeting"' in html and 'name="score.answer"' in html
    assert 'max="10"' in html
    # The daemon reads the clock itself: its moment lies between these two, even when
    # they fall on either side of midnight or of the new year.
    before = dt.datetime.now(dt.UTC)
    created = await console.client.post(
        f"/calls/{call}/sheets", data=sheet_form(csrf, greeting="4", answer="8")
    )
    after = dt.datetime.now(dt.UTC)
    assert created.status == 200
    html = await created.text()
    deadline = re.search(r'<dd class="deadline" data-expires="([^"]+)">([^<]+)</dd>', html)
    assert deadline is not None  # the sheet shows its own deadline
    expires = dt.datetime.fromisoformat(deadline.group(1))
    a_year = dt.timedelta(days=365)
    assert before + a_year - dt.timedelta(seconds=1) <= expires <= after + a_year
    local = expires.astimezone(console.config.timezone).strftime("%Y-%m-%d %H:%M:%S")
    assert deadline.group(2) == local
    (sheet_id,) = re.findall(r'action="/sheets/([0-9a-f]+)"', html)
    edited = await console.client.post(f"/sheets/{sheet_id}", data=sheet_form(csrf, answer="9"))
    assert edited.status == 200
    assert "(v2)" in await edited.text()
    asked = await console.client.get(f"/sheets/{sheet_id}")
    assert 'name="purpose"' in await asked.text()  # the purpose comes first
    read = await console.client.get(
        f"/sheets/{sheet_id}", params={"purpose": "training", "detail": ""}
    )
    assert 'value="9"' in await read.text()
    actions = [(e.action, e.result) for e in console.access_log() if "sheet" in e.action]
    assert actions == [("sheet_create", "ok"), ("sheet_edit", "ok"), ("sheet_read", "ok")]


async def test_t2_s2_a_sheet_form_needs_its_csrf_token(console: Console) -> None:
    call, _ = recorded(console)
    await console.sign_in("mleroy")
    refused = await console.client.post(f"/calls/{call}/sheets", data=sheet_form("forged"))
    assert refused.status == 403
    assert not [e for e in console.access_log() if e.action == "sheet_create"]


async def test_t2_a_bad_score_is_refused_with_what_is_wrong(console: Console) -> None:
    call, _ = recorded(console)
    csrf = await console.sign_in("mleroy")
    too_high = await console.client.post(
        f"/calls/{call}/sheets", data=sheet_form(csrf, answer="11")
    )
    assert too_high.status == 400
    assert "score must be between 0 and 10" in await too_high.text()
    not_a_number = await console.client.post(
        f"/calls/{call}/sheets", data=sheet_form(csrf, answer="x")
    )
    assert not_a_number.status == 400
    assert "score.answer: a whole number" in await not_a_number.text()


async def test_t2_the_sheet_api_matches_the_document(console: Console) -> None:
    call, _ = recorded(console)
    headers = bearer(console, "snguyen")
    body: dict[str, Any] = {"purpose": "quality evaluation", "scores": {"greeting": 3}}
    body |= {"comments": {"greeting": "brief"}, "free_text": "Fine."}
    created = await console.client.post(f"/api/calls/{call}/sheets", json=body, headers=headers)
    sheet = await created.json()
    assert created.status == 201, sheet
    assert_matches_openapi(sheet, "POST", f"/api/calls/{call}/sheets", 201)
    path = f"/api/sheets/{sheet['id']}"
    read = await console.client.get(path, params={"purpose": "quality check"}, headers=headers)
    assert read.status == 200
    assert_matches_openapi(await read.json(), "GET", path, 200)
    edit = {"purpose": "quality evaluation", "scores": {"answer": 7}}
    edited = await console.client.put(path, json=edit, headers=headers)
    answer = await edited.json()
    assert edited.status == 200
    assert_matches_openapi(answer, "PUT", path, 200)
    assert [s["score"] for s in answer["scores"]] == [3, 7] and answer["version"] == 2
    assert answer["expires_at"] == sheet["expires_at"]
    why = {"purpose": "quality evaluation"}
    refusals: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PUT", "snguyen", why | {"scores": {"answer": 11}}, 400, "invalid-sheet"),
        ("PUT", "snguyen", why | {"scores": {"answer": "7"}}, 400, "invalid-field"),
        ("PUT", "snguyen", why | {"colour": "red"}, 400, "invalid-field"),
        ("PUT", "rlambert", why, 404, "not-found"),
        ("GET", "rlambert", {}, 404, "not-found"),
    ]
    for method, person, payload, status, error_id in refusals:
        kwargs: dict[str, Any] = {"headers": bearer(console, person)}
        if method == "PUT":
            kwargs["json"] = payload
        else:
            kwargs["params"] = {"purpose": "quality evaluation"}
        async with console.client.request(method, path, **kwargs) as refused:
            got = await refused.json()
            assert (refused.status, got["error_id"]) == (status, error_id), got
            assert_matches_openapi(got, method, path, status)
    outsider = bearer(console, "rlambert")
    nowhere = await console.client.get("/api/sheets/nowhere", params=why, headers=outsider)
    outside = await console.client.get(path, params=why, headers=outsider)
    assert await nowhere.json() == await outside.json()


async def test_t2_an_api_write_by_session_needs_the_csrf_header(console: Console) -> None:
    call, _ = recorded(console)
    csrf = await console.sign_in("mleroy")
    body = {"purpose": "quality evaluation", "scores": {"greeting": 2}}
    refused = await console.client.post(f"/api/calls/{call}/sheets", json=body)
    assert refused.status == 403
    assert_matches_openapi(await refused.json(), "POST", f"/api/calls/{call}/sheets", 403)
    done = await console.client.post(
        f"/api/calls/{call}/sheets", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert done.status == 201


# -- the calls' and report's answers, against the same document ----------------------------
async def test_the_calls_and_report_answers_match_the_document(console: Console) -> None:
    call, _ = recorded(console)
    headers = bearer(console, "mleroy")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    asked = [
        ("/api/calls", {}, 200),
        ("/api/calls", {"from": "yesterday"}, 400),
        (f"/api/calls/{call}", {}, 200),
        ("/api/calls/nowhere", {}, 404),
        ("/api/report", {"from": today, "to": today}, 200),
    ]
    for path, params, status in asked:
        async with console.client.get(path, params=params, headers=headers) as answer:
            body = await answer.json()
            assert answer.status == status, (path, body)
            assert_matches_openapi(body, "GET", path, status)


async def test_s1_s2_the_call_page_offers_the_purpose_form_by_role(console: Console) -> None:
    call, recording = recorded(console)
    await console.sign_in("snguyen")
    html = await (await console.client.get(f"/calls/{call}")).text()
    assert f'action="/recordings/{recording}/listen"' in html
    assert 'value="download"' not in html and "<audio" not in html
    assert f'href="/calls/{call}/sheets/new"' in html
    assert entries(console, "listen") == []  # nothing is heard before a purpose
    console.client.session.cookie_jar.clear()
    await console.sign_in("mleroy")
    html = await (await console.client.get(f"/calls/{call}")).text()
    assert 'value="download"' in html
