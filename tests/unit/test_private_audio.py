"""A2: a call declared private keeps no audio, whenever the key came, and nothing but a
count once its audio is gone; on each backend (N1).

The key's store write forgets the call at once but for its audio in the vault (or on its
way), whose rows stay until the crash-safe deletion has removed the files; the call row
stays meanwhile, shown by no listing, and goes with its last file. A legal hold (T6)
still wins."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.audit.chain import EntryDraft
from controller.clock import FixedClock
from controller.config import Config
from controller.privacy import caller_hash
from controller.recordings import LocalVault
from controller.records import Unkept
from controller.retention.unkept import (
    PRIVATE_RULE,
    delete_all_unkept_audio,
    delete_unkept_audio,
)
from controller.store import SqliteStore, StoreThread
from controller.store.call_views import CallFilters
from controller.store.holds import HoldConflict, NewHold
from controller.store.opening import open_configured
from controller.store.records import CallStart, ConsentEvent, Decision
from tests.factories import receipted
from tests.sites import add_call, add_recording, load_site, open_site, wav_bytes, write_site

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
DAY = "2026-12-02"
NUMBER = "+33612345678"
Site = tuple[Config, SqliteStore, LocalVault]


@pytest.fixture
def site(tmp_path: Path, site_store: dict[str, str]) -> Iterator[Site]:
    config = load_site(write_site(tmp_path, store=site_store))
    store, vault = open_site(config, sealed=True)
    yield config, store, vault
    store.close()


def _open_call(store: SqliteStore, config: Config) -> str:
    """A call in progress (not ended), with what a call writes as it goes."""
    call_id = secrets.token_hex(8)
    hashed = caller_hash(config.privacy.caller_hmac_key, NUMBER)
    store.begin_call(CallStart(call_id, "sales", "inbound", NOW, hashed, f"chan-{call_id}"), "v1")
    store.record_decision(
        Decision(call_id, NOW, True, "sampled", 1.0, 0.1, True, "always", "alice")
    )
    store.add_consent_event(ConsentEvent(call_id, NOW, "full_notice", "0", "v1", "announcement"))
    store.add_alert(call_id, "test", "an alert of the call", NOW)
    return call_id


def _live(store: SqliteStore, call_id: str) -> tuple[str, str]:
    """A recording row still ``live``: (id, name)."""
    recording_id, name = secrets.token_hex(8), secrets.token_hex(20)
    store.open_recording(recording_id, call_id, name, "wav", ("quality",), NOW, 90)
    return recording_id, name


def _of_call(store: SqliteStore, table: str, call_id: str) -> list[dict[str, Any]]:
    return list(store.db.query(f"SELECT * FROM {table} WHERE call_id = ?", [call_id]))  # noqa: S608


def _run(config: Config, work: Any) -> Any:
    """``work(thread)`` on a store thread of its own, as the daemon runs it."""

    async def main() -> Any:
        thread: StoreThread[SqliteStore] = StoreThread(
            lambda: open_configured(config.store, audit_key=config.audit.checkpoint_key),
            SqliteStore.close,
        )
        await thread.start()
        try:
            return await work(thread)
        finally:
            await thread.stop()

    return asyncio.run(main())


def _private_receipts(store: SqliteStore) -> list[dict[str, Any]]:
    return [r for r in receipted(store.access_entries()) if r["rule"] == PRIVATE_RULE]


def test_a2_the_private_key_keeps_only_the_audio_rows_until_the_deletion_then_a_count(
    site: Site,
) -> None:
    """A2, R3, A4: the private key's write forgets at once all of the call but its audio:
    decisions, consent events, alerts, the caller's HMAC, the cancelled recording's row.
    The first agent's segment already in the vault and a file still on its way keep
    their rows (so a killed daemon still finds them), under a call row no listing, no
    subject search, no call view and no restart shows, and no new legal hold takes. The
    deletion removes the files by the crash-safe deletion (receipts naming A2), the file
    on its way is marked for it as it is stored, and the call row goes with the last
    file: only the count stays. A private call with no audio goes at once. Another call
    of the caller is untouched."""
    config, store, vault = site
    private = _open_call(store, config)
    _, segment = add_recording(
        store, vault, config, service="sales", created_at=NOW, call_id=private,
        segment=1, agent_id="alice",
    )  # fmt: skip
    on_its_way, way_name = _live(store, private)
    cancelled, _ = _live(store, private)
    other, kept = add_recording(store, vault, config, service="sales", created_at=NOW)
    bare = _open_call(store, config)

    store.make_private(private, "bob", DAY, (cancelled,))
    store.make_private(bare, "bob", DAY)

    rows = {r["id"]: r["state"] for r in _of_call(store, "recordings", private)}
    assert rows == {segment: "stored", on_its_way: "live"}
    for table in ("decisions", "consent_events", "alerts"):
        assert _of_call(store, table, private) == [], table
    (call,) = store.db.query("SELECT private, caller_hash FROM calls WHERE id = ?", [private])
    assert call == {"private": 1, "caller_hash": None}
    assert not list(store.db.query("SELECT 1 FROM calls WHERE id = ?", [bare]))
    # No listing shows it meanwhile.
    assert store.call_summary(private) is None
    listing = store.call_listing(None, CallFilters(), None, 50)
    assert [row["id"] for row in listing.rows] == [other] and listing.total == 1
    hashed = caller_hash(config.privacy.caller_hmac_key, NUMBER)
    assert hashed is not None
    found = store.calls_for_caller(hashed, None, None)
    assert [record.call["id"] for record in found] == [other]
    assert [c.call_id for c in store.open_calls()] == []
    with pytest.raises(HoldConflict):
        store.place_hold(
            NewHold("h1", private, "dispute", "MED-1", "mediation", "cdubois", NOW, NOW),
            EntryDraft(NOW.isoformat(), "cdubois", "dpo", "hold_place", "call", "mediation", "ok"),
        )
    assert store.close_interrupted_calls(NOW) == 0
    assert [r.id for r in store.unkept_recordings(Unkept.PRIVATE, private)] == [segment]
    assert [r.id for r in store.unkept_recordings(Unkept.PRIVATE)] == [segment]
    assert store.unkept_recordings(Unkept.OBJECTED) == []
    assert store.forget_private_calls() == 0

    # The file on its way is stored after the key: its store write says it goes.
    vault.incoming_path(way_name, "wav").write_bytes(wav_bytes(0.5))
    taken = vault.adopt(way_name, "wav")
    assert (
        store.finish_recording(on_its_way, str(taken.path), 0.5, taken.sha256, NOW)
        is Unkept.PRIVATE
    )

    async def delete(thread: StoreThread[SqliteStore]) -> list[str]:
        report = await delete_unkept_audio(thread, vault, FixedClock(NOW), Unkept.PRIVATE, private)
        return report.deleted

    assert sorted(_run(config, delete)) == sorted([segment, on_its_way])
    receipts = _private_receipts(store)
    assert sorted((r["recording_id"], r["file"]) for r in receipts) == sorted(
        [(segment, "deleted"), (on_its_way, "deleted")]
    )
    assert all(r["key_destroyed"] for r in receipts)
    assert not list(store.db.query("SELECT 1 FROM calls WHERE id = ?", [private]))
    assert _of_call(store, "recordings", private) == []
    remaining = store.recording(kept)
    assert remaining is not None and remaining.path is not None
    assert [p.name for p in vault.vault_dir.iterdir() if p.is_file()] == [
        Path(remaining.path).name
    ]
    assert [(r["agent_id"], r["day"], r["count"]) for r in store.private_call_counts()] == [
        ("bob", DAY, 2)
    ]


def test_a2_t6_a_legal_hold_keeps_a_private_calls_audio_until_it_is_released(
    site: Site,
) -> None:
    """A2, T6: a legal hold on the call wins: its audio stays, with the hold, under a
    call row no listing shows; released, the next pass (a start's, a sweep's) deletes
    the audio and forgets the call."""
    config, store, vault = site
    private = _open_call(store, config)
    _, held = add_recording(store, vault, config, service="sales", created_at=NOW, call_id=private)
    store.place_hold(
        NewHold("h1", private, "dispute", "MED-1", "mediation", "cdubois", NOW, NOW),
        EntryDraft(NOW.isoformat(), "cdubois", "dpo", "hold_place", "call", "mediation", "ok"),
    )
    store.make_private(private, "alice", DAY)

    async def delete(thread: StoreThread[SqliteStore]) -> dict[str, str]:
        report = await delete_unkept_audio(thread, vault, FixedClock(NOW), Unkept.PRIVATE, private)
        return report.held

    assert _run(config, delete) == {held: "MED-1"}

    async def pass_over_every_call(thread: StoreThread[SqliteStore]) -> dict[str, str]:
        report = await delete_unkept_audio(thread, vault, FixedClock(NOW), Unkept.PRIVATE)
        return report.held

    # A start's or a sweep's pass leaves the held call alone: the hold was reported at
    # the key, not again every round.
    assert _run(config, pass_over_every_call) == {}
    assert [r["id"] for r in _of_call(store, "recordings", private)] == [held]
    assert store.standing_hold(private) is not None
    assert store.call_summary(private) is None
    assert store.call_listing(None, CallFilters(), None, 50).rows == []
    assert _private_receipts(store) == []

    store.release_hold(
        private,
        NOW,
        EntryDraft(NOW.isoformat(), "cdubois", "dpo", "hold_release", "call", "mediation", "ok"),
    )

    async def sweep(thread: StoreThread[SqliteStore]) -> int:
        return await delete_all_unkept_audio(thread, vault, FixedClock(NOW))

    assert _run(config, sweep) == 1
    assert [r["recording_id"] for r in _private_receipts(store)] == [held]
    assert not list(store.db.query("SELECT 1 FROM calls WHERE id = ?", [private]))
    assert [p for p in vault.vault_dir.iterdir() if p.is_file()] == []


def test_a2_a_private_call_left_with_no_audio_is_forgotten_by_the_next_pass(
    site: Site,
) -> None:
    """A2, R1: a file on its way at the key that never arrived (its row turned
    ``missing``) leaves a call row with no audio: the next pass forgets it."""
    config, store, vault = site
    private = _open_call(store, config)
    lost, _ = _live(store, private)
    other = add_call(store, config, service="sales", started_at=NOW)
    store.make_private(private, None, DAY)
    assert [r["id"] for r in _of_call(store, "recordings", private)] == [lost]
    store.close_recording(lost, "missing", NOW)

    async def sweep(thread: StoreThread[SqliteStore]) -> int:
        return await delete_all_unkept_audio(thread, vault, FixedClock(NOW))

    assert _run(config, sweep) == 0
    assert [row["id"] for row in store.db.query("SELECT id FROM calls")] == [other]
    assert [(r["agent_id"], r["count"]) for r in store.private_call_counts()] == [("unknown", 1)]
