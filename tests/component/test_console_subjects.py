"""The DPO's data-subject requests in the console (C5, S9, S1, S2): find, export and
erase through the audited door; the number never shown back nor logged; other roles
refused and logged."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.store import SqliteStore
from controller.web.security import CONTENT_SECURITY_POLICY
from tests.component.console_rig import Console, console_rig
from tests.sites import add_recording, open_site

NUMBER = "+33612345678"
TYPED = "06 12 34 56 78"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path):
        yield rig


def recorded(console: Console) -> tuple[str, str]:
    store, vault = open_site(console.config)
    try:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        return add_recording(store, vault, console.config, service="sales", created_at=at)
    finally:
        store.close()


def form(csrf: str, do: str, **extra: str) -> dict[str, str]:
    values = {"csrf": csrf, "kind": "caller", "subject": TYPED, "do": do}
    return values | {"purpose": "request R-12 by letter"} | extra


async def test_c5_the_dpo_finds_a_callers_calls_and_the_number_is_never_shown_or_logged(
    console: Console,
) -> None:
    call_id, recording_id = recorded(console)
    csrf = await console.sign_in("cdubois")
    response = await console.client.post("/dpo/subjects", data=form(csrf, "find"))
    assert response.status == 200
    page = await response.text()
    assert 'data-calls="1"' in page and call_id in page and recording_id in page
    for shown in (NUMBER, TYPED, "612345678"):
        assert shown not in page
    log = json.dumps([e.content() for e in console.access_log()])
    assert "612345678" not in log and "12 34 56" not in log
    assert [e.action for e in console.access_log()][-1] == "subject_find"


async def test_c5_the_export_is_a_zip_with_the_recording_and_leaves_no_file(
    console: Console, tmp_path: Path
) -> None:
    _, recording_id = recorded(console)
    csrf = await console.sign_in("cdubois")
    response = await console.client.post("/dpo/subjects", data=form(csrf, "export"))
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="caller-request.zip"'
    # Streamed by its handler, it still carries the headers every answer carries.
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        names = archive.namelist()
    assert any(recording_id in name for name in names), names
    assert [e.action for e in console.access_log()][-1] == "subject_export"


async def test_c5_erasure_needs_its_box_ticked_then_deletes_with_receipts(
    console: Console,
) -> None:
    _, recording_id = recorded(console)
    csrf = await console.sign_in("cdubois")
    unconfirmed = await console.client.post("/dpo/subjects", data=form(csrf, "erase"))
    assert unconfirmed.status == 400
    assert 'data-field="confirm"' in await unconfirmed.text()
    done = await console.client.post("/dpo/subjects", data=form(csrf, "erase", confirm="yes"))
    assert done.status == 200
    assert 'data-recordings="1"' in await done.text()

    def state(store: SqliteStore) -> str | None:
        row = store.recording(recording_id)
        return None if row is None else row.state

    assert console.with_store(state) in (None, "deleted")


async def test_s1_s2_other_roles_are_refused_and_each_attempt_is_logged(
    console: Console,
) -> None:
    recorded(console)
    csrf = await console.sign_in("mleroy")
    page = await console.client.get("/dpo/subjects")
    assert page.status == 403
    refused = await console.client.post("/dpo/subjects", data=form(csrf, "find"))
    assert refused.status == 403
    assert 'data-error-id="forbidden"' in await refused.text()
    last = console.access_log()[-1]
    assert (last.actor, last.action, last.result) == ("mleroy", "subject_find", "refused")


async def test_a_bad_date_names_its_field(console: Console) -> None:
    csrf = await console.sign_in("cdubois")
    response = await console.client.post(
        "/dpo/subjects", data=form(csrf, "find", **{"from": "31/12/2026"})
    )
    assert response.status == 400
    assert 'data-field="from"' in await response.text()


async def test_s9_an_agents_erasure_is_refused_with_the_rule(console: Console) -> None:
    csrf = await console.sign_in("cdubois")
    response = await console.client.post(
        "/dpo/subjects", data=form(csrf, "erase", kind="agent", subject="alice", confirm="yes")
    )
    assert response.status == 403
    assert "rectification" in await response.text()
    last = console.access_log()[-1]
    assert (last.action, last.target, last.result) == ("subject_erase", "agent:alice", "refused")
