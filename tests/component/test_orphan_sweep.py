"""The orphan sweep (T4, S4, C2): files a crash left in Asterisk's recording folder and
rows stuck ``live`` end in the vault with their service's retention, or deleted with a
receipt, never outside both; planted links and foreign files are never touched."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from controller.ari import AriClient
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.recordings.vault import IncomingFile
from controller.retention.sweep import OrphanSweeper, plan_sweep
from controller.store import SqliteStore, StoreThread
from controller.store.orphans import StuckRecording
from controller.store.records import CallStart, ConsentEvent
from controller.store.timestamps import from_text
from tests.component.fake_ari import FakeAri
from tests.component.test_ari_client import settings_for
from tests.sites import add_call, load_site, site_config, wav_bytes, write_site

NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
STARTED = NOW - dt.timedelta(hours=2)


@dataclass
class Rig:
    config: Config
    store: StoreThread[SqliteStore]
    vault: LocalVault
    fake: FakeAri
    sweeper: OrphanSweeper
    in_hand: set[str]

    @property
    def incoming(self) -> Path:
        return self.config.recordings.asterisk_dir

    async def live_row(self, *, service: str = "sales", objected: bool = False) -> tuple[str, str]:
        """A call that ended with its recording row still live; returns (row id, name)."""
        config = self.config

        def write(s: SqliteStore) -> tuple[str, str]:
            call_id = add_call(s, config, service=service, started_at=STARTED)
            recording_id, name = secrets.token_hex(8), secrets.token_hex(20)
            days = config.services[service].retention_days
            s.open_recording(recording_id, call_id, name, "wav", ("quality",), STARTED, days)
            if objected:
                s.add_consent_event(
                    ConsentEvent(call_id, STARTED, "opt_out", "9", "v1", "conversation")
                )
            return recording_id, name

        return await self.store.run(write)

    def plant(self, name: str, seconds: float = 0.5) -> Path:
        path = self.incoming / f"{name}.wav"
        path.write_bytes(wav_bytes(seconds))
        return path

    async def row(self, recording_id: str) -> dict[str, Any]:
        rows = await self.store.run(
            lambda s: list(s.db.query("SELECT * FROM recordings WHERE id = ?", [recording_id]))
        )
        return dict(rows[0])

    async def receipts(self) -> list[dict[str, Any]]:
        rows = await self.store.run(
            lambda s: list(s.db.query("SELECT * FROM access_log WHERE actor = 'system'"))
        )
        return [{**r, "details": json.loads(r["details"])} for r in rows]

    async def alerts(self) -> list[str]:
        return await self.store.run(
            lambda s: [r["kind"] for r in s.db.query("SELECT kind FROM alerts ORDER BY id")]
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = load_site(write_site(tmp_path, site_config(tmp_path)))
    config.recordings.asterisk_dir.mkdir()
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    in_hand: set[str] = set()
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for(str(server.make_url("")).rstrip("/")), session)
        sweeper = OrphanSweeper(
            vault=vault, store=store, client=client, clock=FixedClock(NOW), busy=lambda: in_hand
        )
        yield Rig(config, store, vault, fake, sweeper, in_hand)
    await server.close()
    await store.stop()


def not_live(fake: FakeAri, *names: str) -> None:
    for name in names:
        fake.answers[("GET", f"/ari/recordings/live/{name}")] = (404, {"message": "not found"})


async def test_t4_left_live_recording_is_vaulted_with_its_service_retention(rig: Rig) -> None:
    recording_id, name = await rig.live_row(service="support")
    planted = rig.plant(name)
    content = planted.read_bytes()
    not_live(rig.fake, name)

    report = await rig.sweeper.sweep()

    assert report.vaulted == 1 and not planted.exists()
    row = await rig.row(recording_id)
    assert row["state"] == "stored"
    vaulted = Path(str(row["path"]))
    assert vaulted.parent == rig.config.recordings.vault_dir and vaulted.read_bytes() == content
    assert oct(vaulted.stat().st_mode & 0o777) == "0o600"
    # Retention from the service (support: 30 days), set when the row opened.
    expires = from_text(str(row["expires_at"]))
    assert expires - STARTED == dt.timedelta(days=30)
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_vault" and receipt["target"] == f"recording:{recording_id}"
    assert receipt["details"]["sha256"] == row["sha256"]
    assert await rig.alerts() == ["orphan_recording"]


async def test_c2_objected_call_file_is_deleted_with_a_receipt(rig: Rig) -> None:
    recording_id, name = await rig.live_row(objected=True)
    planted = rig.plant(name)
    not_live(rig.fake, name)

    report = await rig.sweeper.sweep()

    assert report.discarded == 1 and not planted.exists()
    assert rig.vault.files() == []
    row = await rig.row(recording_id)
    assert row["state"] == "discarded" and row["path"] is None
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_delete" and len(receipt["details"]["sha256"]) == 64


async def test_t4_unknown_file_of_ours_is_deleted_with_a_receipt(rig: Rig) -> None:
    """A call made private (its row is gone) or a row never written: no decision to keep
    the audio exists."""
    name = secrets.token_hex(20)
    planted = rig.plant(name)
    not_live(rig.fake, name)
    report = await rig.sweeper.sweep()
    assert report.unknown_deleted == 1 and not planted.exists()
    (receipt,) = await rig.receipts()
    assert receipt["target"] == f"file:{name}.wav" and receipt["action"] == "sweep_delete"
    assert await rig.alerts() == ["orphan_recording"]


async def test_t4_stuck_row_without_file_turns_missing(rig: Rig) -> None:
    recording_id, name = await rig.live_row()
    not_live(rig.fake, name)
    report = await rig.sweeper.sweep()
    assert report.missing == 1
    assert (await rig.row(recording_id))["state"] == "missing"
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_missing" and receipt["result"] == "error"


async def test_t4_recordings_still_live_or_in_hand_are_left_alone(rig: Rig) -> None:
    live_id, live_name = await rig.live_row()
    hand_id, hand_name = await rig.live_row()
    live_file, hand_file = rig.plant(live_name), rig.plant(hand_name)
    # Asterisk still records live_name (the fake answers 204 to GET /recordings/live/…);
    # a call in progress holds hand_name.
    rig.in_hand.add(hand_name)
    not_live(rig.fake, hand_name)
    report = await rig.sweeper.sweep()
    assert (report.vaulted, report.missing, report.unknown_deleted) == (0, 0, 0)
    assert live_file.exists() and hand_file.exists()
    assert (await rig.row(live_id))["state"] == (await rig.row(hand_id))["state"] == "live"


async def test_t4_sweep_waits_when_asterisk_cannot_say_what_is_live(rig: Rig) -> None:
    recording_id, name = await rig.live_row()
    planted = rig.plant(name)
    rig.fake.answers[("GET", f"/ari/recordings/live/{name}")] = (500, {"message": "boom"})
    report = await rig.sweeper.sweep()
    assert report.deferred and planted.exists()
    assert (await rig.row(recording_id))["state"] == "live"


async def test_t4_planted_symlink_is_never_followed(rig: Rig, tmp_path: Path) -> None:
    """A link named like a stuck recording must not carry its target into the vault,
    nor have it chowned, chmodded or deleted."""
    recording_id, name = await rig.live_row()
    secret = tmp_path / "shadow"
    secret.write_text("root:x:0:0")
    os.chmod(secret, 0o644)
    link = rig.incoming / f"{name}.wav"
    link.symlink_to(secret)
    other = rig.incoming / f"{secrets.token_hex(20)}.wav"
    other.symlink_to(secret)
    not_live(rig.fake, name, other.stem)

    report = await rig.sweeper.sweep()

    assert report.refused == 2 and report.vaulted == 0 and report.unknown_deleted == 0
    assert link.is_symlink() and other.is_symlink()
    assert secret.read_text() == "root:x:0:0" and oct(secret.stat().st_mode & 0o777) == "0o644"
    assert rig.vault.files() == []
    # The row has no file the sweep may take: it is settled as missing, never vaulted.
    assert (await rig.row(recording_id))["state"] == "missing"
    # The row turning missing is an orphan alert; each planted link the vault's own
    # refusal alert, as for a call's file.
    assert sorted(await rig.alerts()) == ["orphan_recording", "vault_refused", "vault_refused"]
    # Refusals are alerted once, not at every sweep.
    await rig.sweeper.sweep()
    assert sorted(await rig.alerts()) == ["orphan_recording", "vault_refused", "vault_refused"]


async def test_t4_file_of_another_owner_is_refused(rig: Rig) -> None:
    name = secrets.token_hex(20)
    planted = rig.plant(name)
    os.chown(planted, 4242, 4242)
    not_live(rig.fake, name)
    report = await rig.sweeper.sweep()
    assert report.refused == 1 and planted.exists()


def test_t4_plan_leaves_foreign_names_alone() -> None:
    ours = secrets.token_hex(20)
    files = [
        IncomingFile("voicemail-greeting.wav", "voicemail-greeting", "wav"),
        IncomingFile(f"{ours}.wav", ours, "wav"),
    ]
    row = StuckRecording("r1", "c1", ours, "wav", "sales", objected=False)
    plan = plan_sweep(files, [row], busy=set())
    assert [f.file for f in plan.foreign] == ["voicemail-greeting.wav"]
    assert [(r.recording_id, f.file) for r, f in plan.vault] == [("r1", f"{ours}.wav")]
    assert plan.unknown == [] and plan.missing == []


async def test_t4_hard_link_is_refused_by_the_vaults_own_check(rig: Rig, tmp_path: Path) -> None:
    """The sweep takes files through the vault's checks, the same as a call's file: a
    hard link named like a stuck recording (its other name reaching a file elsewhere) is
    neither vaulted nor deleted, and raises the vault's own refusal alert once."""
    recording_id, name = await rig.live_row()
    elsewhere = tmp_path / "elsewhere.wav"
    elsewhere.write_bytes(b"not a recording")
    os.link(elsewhere, rig.incoming / f"{name}.wav")
    not_live(rig.fake, name)

    report = await rig.sweeper.sweep()

    assert report.refused == 1 and report.vaulted == 0
    assert elsewhere.read_bytes() == b"not a recording" and elsewhere.stat().st_nlink == 2
    assert rig.vault.files() == []
    assert (await rig.alerts()).count("vault_refused") == 1
    assert (await rig.row(recording_id))["state"] == "missing"


async def test_r1_file_asterisk_never_closed_is_vaulted_with_the_duration_of_its_data(
    rig: Rig,
) -> None:
    """R1: Asterisk killed mid-call leaves its file with the header it wrote on opening
    it (no audio declared). The sweep vaults it, measured from its data, not 0 s."""
    recording_id, name = await rig.live_row()
    planted = rig.plant(name, seconds=1.25)
    data = bytearray(planted.read_bytes())
    data[4:8] = data[40:44] = bytes(4)
    planted.write_bytes(data)
    not_live(rig.fake, name)

    report = await rig.sweeper.sweep()

    assert report.vaulted == 1 and not planted.exists()
    row = await rig.row(recording_id)
    assert row["state"] == "stored" and row["duration_seconds"] == pytest.approx(1.25)


async def test_r1_left_live_file_with_no_audio_is_deleted_with_a_receipt(rig: Rig) -> None:
    """R1/T4: a file that holds nothing but a header is not vaulted (nothing to keep) nor
    left behind: deleted, row ``failed``, a ``delete_unusable`` receipt and an alert."""
    recording_id, name = await rig.live_row()
    planted = rig.plant(name, seconds=0.0)
    not_live(rig.fake, name)

    await rig.sweeper.sweep()

    assert not planted.exists() and list(rig.config.recordings.vault_dir.iterdir()) == []
    row = await rig.row(recording_id)
    assert row["state"] == "failed" and row["path"] is None
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "delete_unusable"
    assert receipt["target"] == f"recording:{recording_id}"
    assert receipt["details"]["reason"] == "it holds no audio"
    assert await rig.alerts() == ["recording_unusable"]


async def test_r1_a_fastagi_recording_is_left_alone_while_its_caller_is_up(rig: Rig) -> None:
    """MixMonitor is no ARI recording: the sweep asks whether the FastAGI call's caller
    channel is still up; while it is, the growing file is not the sweep's; once it is
    gone, the file is vaulted like any other left live."""

    def agi_call(s: SqliteStore) -> tuple[str, str]:
        call_id, recording_id = secrets.token_hex(8), secrets.token_hex(8)
        start = CallStart(call_id, "sales", "inbound", STARTED, None, "1733541234.42", path="agi")
        s.begin_call(start, "v1")
        name = secrets.token_hex(20)
        s.open_recording(recording_id, call_id, name, "wav", ("quality",), STARTED, 90)
        return recording_id, name

    recording_id, name = await rig.store.run(agi_call)
    planted = rig.plant(name)
    not_live(rig.fake, name)
    caller = {"id": "1733541234.42", "name": "Local/sales@sim-agi-entry-00000001;2"}
    rig.fake.answers[("GET", "/ari/channels")] = (200, [caller])

    report = await rig.sweeper.sweep()

    assert report.vaulted == 0 and report.unknown_deleted == 0 and planted.exists()
    assert (await rig.row(recording_id))["state"] == "live"

    rig.fake.answers[("GET", "/ari/channels")] = (200, [])
    report = await rig.sweeper.sweep()

    assert report.vaulted == 1 and not planted.exists()
    assert (await rig.row(recording_id))["state"] == "stored"
