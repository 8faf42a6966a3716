"""S11: redaction from the console's call page, on the daemon's application: the form is
offered to the DPO only, needs the session's CSRF token, answers with the span silenced
and both hashes, and a refusal names the form's field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.config.encryption import site_vault
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.component.console_rig import Console, console_rig
from tests.sites import add_recording, wav_bytes

REDACT_FORM = re.compile(r'<form method="post" action="/calls/([0-9a-f]+)/redact"')


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path):
        yield rig


def recorded(console: Console) -> tuple[str, str, LocalVault]:
    config = console.config
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    # The daemon's own vault: sealed (S10), its site key made at the daemon's start.
    vault = site_vault(config.recordings).vault
    vault.prepare()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def add(store: SqliteStore) -> tuple[str, str]:
        audio = wav_bytes(seconds=1.0)
        return add_recording(store, vault, config, service="sales", created_at=now, audio=audio)

    call_id, recording_id = console.with_store(add)
    return call_id, recording_id, vault


def redactions(console: Console) -> list[tuple[str, str, str]]:
    return [(e.actor, e.target, e.result) for e in console.access_log() if e.action == "redact"]


async def test_s11_the_dpo_redacts_a_span_from_the_call_page(console: Console) -> None:
    call_id, recording_id, vault = recorded(console)
    csrf = await console.sign_in("cdubois")
    page = await console.client.get(f"/calls/{call_id}")
    assert REDACT_FORM.findall(await page.text()) == [call_id]

    form = {"csrf": csrf, "recording": recording_id, "from": "0.25", "to": "0.5"}
    answer = await console.client.post(
        f"/calls/{call_id}/redact", data=form | {"purpose": "card number read aloud"}
    )

    text = await answer.text()
    assert answer.status == 200, text
    row = console.with_store(lambda s: s.recording(recording_id))
    assert row is not None and row.sha256 in text
    assert "0.250 s" in text and "0.500 s" in text
    with vault.reader(Path(str(row.path))) as source:
        audio = source.read()
    assert audio[44 + 2 * 2000 : 44 + 2 * 4000] == bytes(4000)
    assert vault.is_sealed(Path(str(row.path)))
    assert redactions(console) == [("cdubois", f"recording:{recording_id}", "ok")]


async def test_s11_the_form_is_not_offered_to_other_roles_and_the_post_is_refused(
    console: Console,
) -> None:
    call_id, recording_id, _ = recorded(console)
    csrf = await console.sign_in("mleroy")
    page = await console.client.get(f"/calls/{call_id}")
    assert page.status == 200 and REDACT_FORM.findall(await page.text()) == []
    form = {"csrf": csrf, "recording": recording_id, "from": "0", "to": "0.5", "purpose": "a try"}

    answer = await console.client.post(f"/calls/{call_id}/redact", data=form)

    assert answer.status == 403
    assert 'data-error-id="forbidden"' in await answer.text()
    assert redactions(console) == [("mleroy", f"call:{call_id}", "refused")]


async def test_s11_a_post_without_the_sessions_token_does_nothing(console: Console) -> None:
    call_id, recording_id, _ = recorded(console)
    await console.sign_in("cdubois")
    before = console.with_store(lambda s: s.recording(recording_id))
    form = {"recording": recording_id, "from": "0", "to": "0.5", "purpose": "card read aloud"}

    answer = await console.client.post(f"/calls/{call_id}/redact", data=form)

    assert answer.status == 403 and 'data-error-id="csrf-refused"' in await answer.text()
    assert console.with_store(lambda s: s.recording(recording_id)) == before
    assert redactions(console) == []


async def test_s11_a_bad_span_on_the_form_names_the_field(console: Console) -> None:
    call_id, recording_id, _ = recorded(console)
    csrf = await console.sign_in("cdubois")
    form = {"csrf": csrf, "recording": recording_id, "from": "0.5", "to": "2"}

    answer = await console.client.post(
        f"/calls/{call_id}/redact", data=form | {"purpose": "card number read aloud"}
    )

    text = await answer.text()
    assert answer.status == 400 and 'data-error-id="bad-span"' in text
    assert "to: 2 s is past the end of the recording (1 s)" in text
    assert "--to" not in text
    assert redactions(console) == [("cdubois", f"recording:{recording_id}", "refused")]
