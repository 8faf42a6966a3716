"""The store's foundations: versioned migrations, WAL, one owner thread."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from pathlib import Path

import pytest

from controller.store import SqliteStore, StoreError, StoreThread
from controller.store.database import Database
from controller.store.migrations import MIGRATIONS, Migration
from controller.store.worker import FromAnotherThread
from tests.conftest import StoreOpener
from tests.waiting import until


def test_fresh_db_is_at_latest_version(fresh_db: SqliteStore) -> None:
    assert fresh_db.schema_version() == max(m.version for m in MIGRATIONS)
    assert {"calls", "decisions", "consent_events", "recordings"} <= set(fresh_db.db.table_names())


def test_migration_versions_are_unique_and_ordered() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert versions[0] == 1


def test_file_store_uses_wal_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.sqlite3"
    store = SqliteStore.open(path)
    assert store.sqlite.journal_mode == "wal"
    assert path.stat().st_mode & 0o007 == 0
    store.close()


def modes(*paths: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in paths}


def test_store_folder_0700_and_files_0600_with_wal_and_shm_S3(tmp_path: Path) -> None:
    """S3: the store (access log, caller HMACs) is its account's alone: the folders it
    creates are 0700, the database and the -wal/-shm files SQLite adds beside it 0600,
    whatever the umask."""
    path = tmp_path / "state" / "db" / "store.sqlite3"
    previous = os.umask(0o022)
    try:
        store = SqliteStore.open(path)
        store.db.execute("CREATE TABLE t (x INTEGER)")
        store.db.execute("INSERT INTO t VALUES (1)")
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert modes(path.parent, path.parent.parent) == {"db": "0o700", "state": "0o700"}
        assert modes(path, wal, shm) == {
            "store.sqlite3": "0o600",
            "store.sqlite3-wal": "0o600",
            "store.sqlite3-shm": "0o600",
        }
        store.close()
    finally:
        os.umask(previous)


def test_store_left_0640_by_an_older_version_is_narrowed_S3(tmp_path: Path) -> None:
    """S3: a store an older reccontrol left group-readable is 0600 once opened again."""
    path = tmp_path / "store.sqlite3"
    SqliteStore.open(path).close()
    for file in (path, Path(f"{path}-wal")):
        file.touch()
        file.chmod(0o640)
    store = SqliteStore.open(path)
    assert modes(path, Path(f"{path}-wal")) == {
        "store.sqlite3": "0o600",
        "store.sqlite3-wal": "0o600",
    }
    store.close()


def test_migrations_apply_once(open_store: StoreOpener) -> None:
    """On each backend (N1)."""
    open_store().close()
    store = open_store()
    assert store.migrate() == []
    rows = list(store.db.query("SELECT version FROM schema_migrations"))
    assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
    store.close()


def test_failed_migration_leaves_nothing_behind(fresh_db: SqliteStore) -> None:
    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("disk on fire")

    extra = (*MIGRATIONS, Migration(999, "broken", broken))
    with pytest.raises(RuntimeError):
        fresh_db.migrate(extra)
    assert "half_done" not in fresh_db.db.table_names()
    assert fresh_db.schema_version() == max(m.version for m in MIGRATIONS)


def test_store_newer_than_code_is_refused(open_store: StoreOpener) -> None:
    """On each backend (N1)."""
    store = open_store()
    store.db.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')"
    )
    store.close()
    with pytest.raises(StoreError, match="which this reccontrol does not know"):
        open_store()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the store at"):
        SqliteStore.open(blocker / "store.sqlite3")


async def test_store_thread_runs_everything_on_one_thread_off_the_loop(
    open_store: StoreOpener,
) -> None:
    """On each backend (N1)."""
    thread: StoreThread[SqliteStore] = StoreThread(open_store, SqliteStore.close)
    await thread.start()
    loop_thread = threading.get_ident()
    idents = await asyncio.gather(*(thread.run(lambda s: threading.get_ident()) for _ in range(20)))
    assert len(set(idents)) == 1 and idents[0] != loop_thread

    # A slow store call does not stall the event loop: the call waits for the loop to
    # release it, which the loop can only do while the store thread is busy.
    entered, released = threading.Event(), threading.Event()

    def slow(s: SqliteStore) -> bool:
        entered.set()
        return released.wait(timeout=30)

    pending = asyncio.ensure_future(thread.run(slow))
    await until(entered.is_set, "the store thread runs the slow call")
    released.set()
    assert await pending is True
    await thread.stop()


async def test_a_worker_thread_writes_through_the_store_thread(open_store: StoreOpener) -> None:
    """On each backend (N1)."""
    thread: StoreThread[SqliteStore] = StoreThread(open_store, SqliteStore.close)
    await thread.start()
    owner = await thread.run(lambda s: threading.get_ident())
    remote = FromAnotherThread(thread, asyncio.get_running_loop())

    def job() -> tuple[int, int, int]:
        return (
            remote.call(lambda s: s.schema_version()),
            remote.call(lambda s: threading.get_ident()),
            threading.get_ident(),
        )

    version, ran_on, worker = await asyncio.to_thread(job)
    assert version == max(m.version for m in MIGRATIONS)
    assert ran_on == owner and worker != owner
    await thread.stop()


def test_consent_events_upgrade_keeps_rows_and_takes_the_agents_notice(
    open_store: StoreOpener,
) -> None:
    """C6: a store from before outbound calls keeps its consent events and then accepts
    the agent's notice-given key; other kinds are still refused (on each backend, N1)."""
    import datetime as dt

    from controller.store.records import ConsentEvent

    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    store = open_store(migrate=False)
    store.migrate(tuple(m for m in MIGRATIONS if m.version < 6))
    store.db.execute(
        "INSERT INTO calls (id, service, direction, started_at, announcement_version) "
        "VALUES ('c1', 'sales', 'outbound', ?, 'v1')",
        [now.isoformat()],
    )
    store.add_consent_event(ConsentEvent("c1", now, "opt_out", "9", "v1", "announcement"))
    with pytest.raises(Exception, match="CHECK"):
        store.add_consent_event(ConsentEvent("c1", now, "notice_given", "*4", "v1", "conversation"))
    assert 6 in store.migrate()
    store.add_consent_event(ConsentEvent("c1", now, "notice_given", "*4", "v1", "conversation"))
    kinds = [e["kind"] for e in store.call_summary("c1")["consent_events"]]  # type: ignore[index]
    assert kinds == ["opt_out", "notice_given"]
    with pytest.raises(Exception, match="CHECK"):
        store.add_consent_event(ConsentEvent("c1", now, "agreed", "1", "v1", "conversation"))
    store.close()


def test_open_calls_carry_what_adoption_needs_R1(open_store: StoreOpener) -> None:
    """A call left open is read back with its channel, whether the announcement was
    heard, its objection, decision, newest live recording and open pause; closing the
    interrupted ones spares those carried on (on each backend, N1)."""
    import datetime as dt

    from controller.store.records import CallStart, ConsentEvent, Decision

    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    store = open_store()
    store.begin_call(CallStart("c1", "sales", "inbound", now, "h1", "chan-1"), "v1")
    store.begin_call(CallStart("c2", "sales", "inbound", now, None, "chan-2"), "v1")
    store.announcement_heard("c1")
    store.add_consent_event(ConsentEvent("c1", now, "opt_out", "9", "v1", "conversation"))
    store.record_decision(Decision("c1", now, True, "sampled", 0.5, 0.1, True, "w", "alice"))
    store.open_recording("r0", "c1", "a" * 40, "wav", ("quality",), now, 90)
    store.close_recording("r0", "failed", now)
    later = now + dt.timedelta(seconds=1)
    store.open_recording("r1", "c1", "b" * 40, "wav", ("quality",), later, 90)
    store.open_pause("p1", "r1", "c1", "alice", "card", later)

    first, second = store.open_calls()
    assert (first.call_id, first.channel_id, first.caller_hash) == ("c1", "chan-1", "h1")
    assert first.announcement_completed and first.objected and not first.notice_given
    assert first.decision is not None and first.decision.agent_id == "alice"
    assert first.has_recordings and first.recording is not None
    assert (first.recording.recording_id, first.recording.pause_reason) == ("r1", "card")
    assert second.decision is None and second.recording is None and not second.has_recordings

    assert store.close_interrupted_calls(now, keep={"c1"}) == 1
    assert [c.call_id for c in store.open_calls()] == ["c1"]
    store.close()


def test_c2_the_stored_recordings_of_objected_calls_are_found_for_deletion(
    open_store: StoreOpener,
) -> None:
    """C2: the store finds the recordings in the vault (stored, or being deleted) of the
    calls whose caller objected, of one call or of all; and storing a file tells whether
    its caller objected meanwhile (on each backend, N1)."""
    import datetime as dt

    from controller.store.records import CallStart, ConsentEvent, Unkept

    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    store = open_store()
    for call in ("c1", "c2", "c3"):
        store.begin_call(CallStart(call, "sales", "inbound", now, None, f"chan-{call}"), "v1")
    for recording, call in (("r1", "c1"), ("r2", "c1"), ("r3", "c2"), ("r4", "c3")):
        store.open_recording(recording, call, recording * 20, "wav", ("quality",), now, 90)
    assert not store.finish_recording("r1", "/vault/r1.wav", 1.0, "0" * 64, now)
    store.add_consent_event(ConsentEvent("c1", now, "opt_out", "9", "v1", "conversation"))
    store.add_consent_event(ConsentEvent("c2", now, "opt_out", "9", "v1", "conversation"))
    store.add_consent_event(ConsentEvent("c3", now, "full_notice", "0", "v1", "announcement"))
    assert store.finish_recording("r2", "/vault/r2.wav", 1.0, "0" * 64, now)
    assert not store.finish_recording("r4", "/vault/r4.wav", 1.0, "0" * 64, now)
    store.close_recording("r3", "discarded", now)

    assert [r.id for r in store.unkept_recordings(Unkept.OBJECTED, "c1")] == ["r1", "r2"]
    assert store.unkept_recordings(Unkept.OBJECTED, "c2") == []
    assert [r.id for r in store.unkept_recordings(Unkept.OBJECTED)] == ["r1", "r2"]
    store.close()
