"""Retention and purge (T1-T4) with a clock moved forward, on a real store and vault."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from controller import daemon
from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.retention.plan import (
    Expire,
    Finish,
    RecordingRow,
    RetentionRules,
    SheetRow,
    plan_recordings,
    plan_sheets,
)
from controller.retention.purge import Purger, PurgeReport
from controller.retention.scheduler import PurgeScheduler
from controller.store import SqliteStore
from controller.store.lifecycle import Condemnation
from controller.web import keys
from tests.factories import receipted
from tests.sites import add_recording, load_site, old_log_entry, open_site, write_site
from tests.waiting import until

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def site(
    tmp_path: Path, site_store: dict[str, str]
) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    """The site on each backend (N1)."""
    config = load_site(write_site(tmp_path, store=site_store))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def purger(config: Config, store: SqliteStore, vault: LocalVault, clock: FixedClock) -> Purger:
    return Purger(
        store, vault, RetentionRules.from_config(config), clock, config.audit.checkpoint_key
    )


def receipts(store: SqliteStore) -> list[dict[str, object]]:
    return receipted(store.access_entries())


# -- the plan (pure) ---------------------------------------------------------------------
def row(**changes: object) -> RecordingRow:
    base = RecordingRow(
        id="r1",
        call_id="c1",
        service="sales",
        name="n1",
        format="wav",
        path="/v/n1.wav",
        state="stored",
        sha256="ab",
        created_at=T0,
        expires_at=T0 + 90 * DAY,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


RULES = RetentionRules(service_days={"sales": 90, "support": 30}, sheet_days=365, log_days=365)


def test_recording_expires_at_its_service_retention() -> None:
    assert plan_recordings(T0 + 90 * DAY - dt.timedelta(seconds=1), [row()], RULES) == []
    (action,) = plan_recordings(T0 + 90 * DAY, [row()], RULES)
    assert isinstance(action, Expire)
    assert action.rule == "T1: services.sales.retention_days = 90"


def test_lower_service_retention_applies_to_kept_recordings_higher_never_extends() -> None:
    lowered = RetentionRules({"sales": 10}, 365, 365)
    (action,) = plan_recordings(T0 + 10 * DAY, [row()], lowered)
    assert isinstance(action, Expire) and action.rule.endswith("= 10")
    raised = RetentionRules({"sales": 180}, 365, 365)
    (action,) = plan_recordings(T0 + 90 * DAY, [row()], raised)
    assert isinstance(action, Expire) and "expiry set when recorded (90 days" in action.rule
    gone = RetentionRules({}, 365, 365)
    assert len(plan_recordings(T0 + 90 * DAY, [row()], gone)) == 1


def test_deletions_in_progress_come_first() -> None:
    old = row(id="old", created_at=T0 - 10 * DAY, expires_at=T0 + 80 * DAY)
    doomed = row(id="doomed", state="deleted", expires_at=T0 + 500 * DAY)
    actions = plan_recordings(T0 + 100 * DAY, [row(), old, doomed], RULES)
    assert isinstance(actions[0], Finish) and actions[0].row.id == "doomed"
    assert [a.row.id for a in actions[1:]] == ["old", "r1"]


def test_sheets_expire_after_their_retention() -> None:
    sheet = SheetRow("s1", T0, T0 + 365 * DAY)
    assert plan_sheets(T0 + 364 * DAY, [sheet], RULES) == []
    assert plan_sheets(T0 + 365 * DAY, [sheet], RULES) == [
        ("s1", "T2: sheets.retention_days = 365")
    ]


# -- the purge on a real store and vault ------------------------------------------------
def test_purge_with_a_moved_clock(site: tuple[Config, SqliteStore, LocalVault]) -> None:
    """T1, T2, T3: with the clock moved forward, each recording goes at its service's
    retention, the summary sheet at 365 days and the access-log entries at 365 days,
    each with its receipt, and the log still verifies."""
    config, store, vault = site
    clock = FixedClock(T0)
    call_id, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    _, short_id = add_recording(store, vault, config, service="support", created_at=T0)
    _, kept_id = add_recording(store, vault, config, service="sales", created_at=T0 + 30 * DAY)
    path = Path(str(store.recording(rec_id).path))  # type: ignore[union-attr]
    for n in range(5):
        old_log_entry(store, T0, n)
    service = AccessService(config, store, vault, clock)
    person = config.access.persons["mleroy"]
    sheet = service.sheet_create(person, "weekly coaching", call_id, {"greeting": 4}, {}, "ok")

    clock.set(T0 + 30 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.recordings_deleted == 1 and store.recording(short_id) is None

    clock.set(T0 + 90 * DAY - dt.timedelta(seconds=1))
    assert purger(config, store, vault, clock).run().recordings_deleted == 0
    assert path.exists()

    clock.set(T0 + 90 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.recordings_deleted == 1 and report.files_deleted == 1
    assert not path.exists() and store.recording(rec_id) is None
    assert store.recording(kept_id) is not None  # created 30 days later: kept to day 120
    (receipt,) = [r for r in receipts(store) if r["recording_id"] == rec_id]
    assert receipt["rule"] == "T1: services.sales.retention_days = 90"
    assert receipt["file"] == "deleted" and len(str(receipt["sha256"])) == 64
    # The sheet outlives its recording, and no longer links to it.
    view = service.sheet_read(person, "weekly coaching", sheet.id)
    assert not view.recording_available and view.sheet.recording_id is None

    clock.set(T0 + 365 * DAY - dt.timedelta(seconds=1))
    report = purger(config, store, vault, clock).run()
    assert report.sheets_deleted == 0 and report.log_entries_cut == 0

    clock.set(T0 + 365 * DAY + dt.timedelta(seconds=1))
    report = purger(config, store, vault, clock).run()
    assert report.sheets_deleted == 1 and store.sheet(sheet.id) is None
    assert report.log_entries_cut >= 5 and report.checkpoint == 1
    assert not any(e.at.startswith("2026-01-05") for e in store.access_entries())
    verdict = store.verify_access_log(config.audit.checkpoint_key)
    assert verdict.ok, verdict.describe()
    actions = [e.action for e in store.access_entries()]
    assert "log_purge" in actions


def test_missing_files_are_marked_and_unknown_files_reported(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    clock = FixedClock(T0 + DAY)
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    Path(str(store.recording(rec_id).path)).unlink()  # type: ignore[union-attr]
    stray = config.recordings.vault_dir / "stray.wav"
    stray.write_bytes(b"RIFF")
    report = purger(config, store, vault, clock).run()
    assert report.marked_missing == [rec_id] and report.needs_attention
    assert report.unknown_files == [str(stray)] and stray.exists()
    assert store.recording(rec_id).state == "missing"  # type: ignore[union-attr]
    assert [e.action for e in store.access_entries()][-1] == "file_missing"
    # At expiry the row goes, with a receipt that says the file was already missing.
    clock.set(T0 + 91 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.recordings_deleted == 1 and report.files_already_missing == 1
    (receipt,) = receipts(store)
    assert receipt["file"] == "already missing"


def test_dry_run_changes_nothing(site: tuple[Config, SqliteStore, LocalVault]) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    head = store.audit_head()
    report = purger(config, store, vault, FixedClock(T0 + 100 * DAY)).run(dry_run=True)
    assert report.recordings_deleted == 1
    assert report.planned == [(rec_id, "T1: services.sales.retention_days = 90")]
    assert store.recording(rec_id).state == "stored"  # type: ignore[union-attr]
    assert store.audit_head() == head


def condemn(store: SqliteStore, recording_id: str) -> None:
    store.condemn_recordings(
        [Condemnation(recording_id, "T1: test", "system", "system", "retention: test", True)], T0
    )


def test_a_deletion_interrupted_after_condemning_is_finished(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    path = Path(str(store.recording(rec_id).path))  # type: ignore[union-attr]
    condemn(store, rec_id)
    assert store.recording(rec_id).state == "deleted"  # type: ignore[union-attr]
    report = purger(config, store, vault, FixedClock(T0 + DAY)).run()
    assert report.deletions_resumed == 1 and report.recordings_deleted == 1
    assert not path.exists() and store.recording(rec_id) is None
    (receipt,) = receipts(store)
    assert receipt["rule"] == "T1: test" and receipt["file"] == "deleted"


def test_a_deletion_interrupted_after_removing_the_file_is_finished_once(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    condemn(store, rec_id)
    Path(str(store.recording(rec_id).path)).unlink()  # type: ignore[union-attr]
    clock = FixedClock(T0 + DAY)
    purger(config, store, vault, clock).run()
    purger(config, store, vault, clock).run()
    (receipt,) = receipts(store)
    assert receipt["file"] == "deleted"  # it was there when the deletion started


def test_leftover_of_a_failed_recording_is_removed_at_expiry(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    name = store.recording(rec_id).name  # type: ignore[union-attr]
    store.close_recording(rec_id, "failed", T0)
    leftover = vault.incoming_path(name, "wav")
    leftover.write_bytes(b"RIFF")
    purger(config, store, vault, FixedClock(T0 + 90 * DAY)).run()
    assert not leftover.exists() and store.recording(rec_id) is None


def test_a_path_outside_the_vault_is_never_removed(
    site: tuple[Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    store.db.execute("UPDATE recordings SET path = ? WHERE id = ?", [str(outside), rec_id])
    report = purger(config, store, vault, FixedClock(T0 + 100 * DAY)).run()
    assert outside.exists() and report.errors and "outside the vault" in report.errors[0]
    assert store.recording(rec_id).state == "stored"  # type: ignore[union-attr]


def test_the_access_log_refuses_updates_and_uncheckpointed_deletes(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    import sqlite3

    _, store, _ = site
    old_log_entry(store, T0, 1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE access_log SET purpose = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="behind a checkpoint"):
        store.db.execute("DELETE FROM access_log")


# -- the daemon's schedule ----------------------------------------------------------------
async def test_scheduler_runs_off_the_loop_and_stops() -> None:
    import threading

    loop_thread = threading.get_ident()
    seen: list[int] = []

    def purge_once(stop: threading.Event) -> PurgeReport:
        seen.append(threading.get_ident())
        return PurgeReport(dry_run=False)

    scheduler = PurgeScheduler(purge_once, interval=0.01, first_delay=0)
    scheduler.start()
    await until(lambda: scheduler.runs >= 3, "three scheduled purges")
    await scheduler.stop()
    assert scheduler.runs >= 3 and loop_thread not in seen


async def test_r4_scheduled_purges_that_raise_or_end_with_errors_are_counted() -> None:
    """R4: /metrics shows purge failures; one that raises does not stop the schedule."""
    import threading

    outcomes = iter(["raise", "errors", "ok"])

    def purge_once(stop: threading.Event) -> PurgeReport:
        outcome = next(outcomes, "ok")
        if outcome == "raise":
            raise OSError("the vault is gone")
        report = PurgeReport(dry_run=False)
        if outcome == "errors":
            report.errors.append("a file could not be deleted")
        return report

    scheduler = PurgeScheduler(purge_once, interval=0.01, first_delay=0)
    scheduler.start()
    await until(lambda: scheduler.runs >= 2, "two purges after the failed one")
    await scheduler.stop()
    assert scheduler.failures == 2


async def test_daemon_purges_on_schedule(
    site: tuple[Config, SqliteStore, LocalVault], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store, vault = site
    now = dt.datetime.now(dt.UTC)
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=now - 91 * DAY)
    monkeypatch.setattr(daemon, "PURGE_FIRST_DELAY", 0.0)
    app = web.Application()
    app[keys.CONFIG] = config
    app[keys.CLOCK] = FixedClock(now)
    # As in the daemon: the purge's writes go through the one store thread.
    app.cleanup_ctx.append(daemon._store_ctx)
    app.cleanup_ctx.append(daemon._purge_ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await until(lambda: app[keys.PURGE].runs >= 1, "the daemon's first purge")
    finally:
        await runner.cleanup()
    assert app[keys.PURGE].runs >= 1
    assert store.recording(rec_id) is None
