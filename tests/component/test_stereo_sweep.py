"""The orphan sweep and two-channel recordings (R5, R1): the two halves a crash left in
Asterisk's folder are one recording to the sweep, joined into the vault or deleted
together, each time with a receipt; never one half without the other, and nothing
while either half still records."""

from __future__ import annotations

import secrets
from pathlib import Path

from controller.calls import ids
from controller.store import SqliteStore
from controller.store.records import ConsentEvent
from tests.audio import open_wav
from tests.component.test_orphan_sweep import STARTED, Rig, not_live, rig
from tests.sites import add_call, wav_bytes

__all__ = ["rig"]


async def stereo_row(rig: Rig, name: str, *, objected: bool = False) -> str:
    config = rig.config

    def write(s: SqliteStore) -> str:
        call_id = add_call(s, config, service="sales", started_at=STARTED)
        recording_id = secrets.token_hex(8)
        days = config.services["sales"].retention_days
        s.open_recording(recording_id, call_id, name, "wav", ("quality",), STARTED, days)
        if objected:
            event = ConsentEvent(call_id, STARTED, "opt_out", "9", "v1", "conversation")
            s.add_consent_event(event)
        return recording_id

    return await rig.store.run(write)


def plant_halves(rig: Rig, name: str) -> list[Path]:
    paths = [rig.incoming / f"{half}.wav" for half in ids.recording_halves(name)]
    for path, seconds in zip(paths, (1.0, 0.5), strict=True):
        path.write_bytes(wav_bytes(seconds))
    return paths


async def test_r5_r1_left_halves_are_joined_into_the_vault_with_a_receipt(rig: Rig) -> None:
    name = ids.stereo_name(secrets.token_hex(20))
    recording_id = await stereo_row(rig, name)
    halves = plant_halves(rig, name)
    not_live(rig.fake, *ids.recording_halves(name))

    report = await rig.sweeper.sweep()

    assert report.vaulted == 1 and report.unknown_deleted == 0
    assert not any(p.exists() for p in halves)
    row = await rig.row(recording_id)
    assert row["state"] == "stored" and row["duration_seconds"] == 1.0
    with open_wav(row["path"]) as joined:
        assert (joined.getnchannels(), joined.getnframes()) == (2, 8000)
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_vault" and receipt["details"]["sha256"] == row["sha256"]


async def test_r5_c2_left_halves_of_an_objecting_caller_both_go_with_a_receipt(rig: Rig) -> None:
    name = ids.stereo_name(secrets.token_hex(20))
    recording_id = await stereo_row(rig, name, objected=True)
    halves = plant_halves(rig, name)
    not_live(rig.fake, *ids.recording_halves(name))

    report = await rig.sweeper.sweep()

    assert report.discarded == 1 and not any(p.exists() for p in halves)
    assert rig.vault.files() == []
    assert (await rig.row(recording_id))["state"] == "discarded"
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_delete" and len(receipt["details"]["sha256"]) == 64


async def test_r5_halves_are_left_alone_while_either_still_records(rig: Rig) -> None:
    name = ids.stereo_name(secrets.token_hex(20))
    recording_id = await stereo_row(rig, name)
    halves = plant_halves(rig, name)
    left, right = ids.recording_halves(name)
    not_live(rig.fake, left)
    live = {"name": right, "format": "wav", "state": "recording"}
    rig.fake.answers[("GET", f"/ari/recordings/live/{right}")] = (200, live)

    report = await rig.sweeper.sweep()

    assert (report.vaulted, report.discarded, report.unknown_deleted) == (0, 0, 0)
    assert all(p.exists() for p in halves)
    assert (await rig.row(recording_id))["state"] == "live"


async def test_r5_r1_halves_no_row_owns_are_deleted_together(rig: Rig) -> None:
    name = ids.stereo_name(secrets.token_hex(20))
    halves = plant_halves(rig, name)
    not_live(rig.fake, *ids.recording_halves(name))

    report = await rig.sweeper.sweep()

    assert report.unknown_deleted == 1 and not any(p.exists() for p in halves)
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "sweep_delete" and receipt["target"] == f"file:{name}.wav"


async def test_r5_r1_halves_with_no_audio_are_both_deleted_with_a_receipt(rig: Rig) -> None:
    """Asterisk died right after both sides started: two bare headers. Nothing to keep;
    both go, the row turns ``failed``, with the receipt of an unusable recording."""
    name = ids.stereo_name(secrets.token_hex(20))
    recording_id = await stereo_row(rig, name)
    halves = [rig.incoming / f"{half}.wav" for half in ids.recording_halves(name)]
    for path in halves:
        path.write_bytes(wav_bytes(0.0))
    not_live(rig.fake, *ids.recording_halves(name))

    await rig.sweeper.sweep()

    assert not any(p.exists() for p in halves)
    assert (await rig.row(recording_id))["state"] == "failed"
    (receipt,) = await rig.receipts()
    assert receipt["action"] == "delete_unusable"
