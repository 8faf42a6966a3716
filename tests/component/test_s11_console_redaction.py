"""S11: redaction from the console's call page, on the daemon's application: the form is
offered to the DPO only, needs the session's CSRF token, answers with the span silenced
and both hashes, and a refusal names the form's field; the daemon's start ends a
redaction a crash interrupted."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.access.service import AccessService
from controller.clock import SystemClock
from controller.config.encryption import site_vault
from controller.recordings import LocalVault
from controller.retention import redaction
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


class Killed(BaseException):
    """Stands for SIGKILL at a stop point: nothing after it runs."""


async def test_s11_the_daemons_start_finishes_a_redaction_killed_after_its_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for first in console_rig(tmp_path):
        call_id, recording_id, vault = recorded(first)
    old = first.with_store(lambda s: s.recording(recording_id))
    assert old is not None

    def stop(name: str) -> None:
        if name == "redaction-switched":
            raise Killed(name)

    config = first.config
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    try:
        door = AccessService(config, store, vault, SystemClock())
        monkeypatch.setattr(redaction, "stop_point", stop)
        with pytest.raises(Killed):
            dpo = config.access.persons["cdubois"]
            door.redact(dpo, "card read aloud", call_id, None, "0", "1")
        monkeypatch.undo()
        assert len(store.pending_redactions()) == 1
    finally:
        store.close()
    assert Path(str(old.path)).exists()

    async for restarted in console_rig(tmp_path):
        pending = restarted.with_store(lambda s: s.pending_redactions())
    row = restarted.with_store(lambda s: s.recording(recording_id))
    assert row is not None

    assert pending == []
    assert not Path(str(old.path)).exists()
    assert sorted(config.recordings.vault_dir.iterdir()) == [Path(str(row.path))]
    (entry,) = [e for e in restarted.access_log() if e.action == "redact"]
    assert (entry.actor, entry.result, entry.details["finished_by"]) == ("cdubois", "ok", "system")
    assert entry.details["new_sha256"] == row.sha256 != old.sha256
