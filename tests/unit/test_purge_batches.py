"""The purge at scale (T1, T4, T6, S10): its plan read a batch at a time, and a batch's
files shredded together, data keys first. What it deletes and the receipts it writes are
those of the purge one recording at a time; speed is measured by the bench
(``python -m bench --chores``), not here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from controller.audit.chain import EntryDraft
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.recordings.sealing import KEY_ID_BYTES
from controller.retention.file_work import FileWork, file_threads
from controller.retention.plan import RetentionRules
from controller.retention.purge import Purger
from controller.retention.shredding import Removal, destroy_keys, remove_files
from controller.store import SqliteStore
from controller.store.holds import NewHold
from controller.store.lifecycle import Condemnation
from controller.store.purge_pages import Cursor, PurgePage
from controller.store.records import RecordingRow
from tests.factories import receipted
from tests.sites import add_recording, load_site, open_site, write_site

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAYS_30 = dt.timedelta(days=30)


@pytest.fixture
def site(
    tmp_path: Path, site_store: dict[str, str]
) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    """A sealed site (S10, as the default site), on each backend (N1)."""
    config = load_site(write_site(tmp_path, store=site_store))
    store, vault = open_site(config, sealed=True)
    yield config, store, vault
    store.close()


class PagesSeen:
    """The store, counting the rows each page of the plan handed out."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.pages: list[int] = []

    def purge_page(
        self,
        now: dt.datetime,
        cutoffs: Mapping[str, dt.datetime],
        *,
        finishing: bool,
        after: Cursor | None,
        limit: int,
    ) -> PurgePage:
        page = self._store.purge_page(now, cutoffs, finishing=finishing, after=after, limit=limit)
        self.pages.append(len(page.rows))
        return page

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def add(
    store: SqliteStore, vault: LocalVault, config: Config, service: str, days: int, n: int
) -> set[str]:
    return {
        add_recording(
            store,
            vault,
            config,
            service=service,
            created_at=NOW - dt.timedelta(days=days, minutes=i),
        )[1]
        for i in range(n)
    }


def delete_receipts(store: SqliteStore) -> list[str]:
    return [str(r["recording_id"]) for r in receipted(store.access_entries())]


@pytest.mark.parametrize("overlapped", [False, True], ids=["in-turn", "overlapped"])
def test_t4_t1_the_plan_is_read_a_batch_at_a_time_by_each_service_rule(
    site: tuple[Config, SqliteStore, LocalVault], overlapped: bool
) -> None:
    """T4: no page of the plan holds more than a batch, whatever the backlog (the memory
    of a purge is one batch's); T1: each service's own retention decides (support keeps
    30 days, sales 90), and the progress bar's length is what is deleted. The same with
    the batches' store and file work overlapped (``reccontrol purge``)."""
    config, store, vault = site
    expired = add(store, vault, config, "support", 40, 11)
    expired |= add(store, vault, config, "sales", 95, 6)
    kept = add(store, vault, config, "sales", 40, 3) | add(store, vault, config, "support", 5, 2)
    seen = PagesSeen(store)
    rules = RetentionRules.from_config(config)
    key = config.audit.checkpoint_key
    purger = Purger(
        seen,  # type: ignore[arg-type]
        vault,
        rules,
        FixedClock(NOW),
        key,
        batch_size=4,
        file_threads=3,
        overlapped=overlapped,
    )
    totals: list[int] = []
    progress: list[int] = []
    report = purger.run(on_plan=totals.append, on_progress=progress.append)
    assert report.errors == [] and report.recordings_deleted == len(expired) == totals[0]
    assert sum(progress) == len(expired) and report.files_deleted == len(expired)
    assert seen.pages and max(seen.pages) <= 4
    assert {row["id"] for row in store.db.query("SELECT id FROM recordings")} == kept
    assert sorted(delete_receipts(store)) == sorted(expired)
    assert vault.keyring is not None and len(vault.keyring.ids()) == len(kept)


@pytest.mark.parametrize("overlapped", [False, True], ids=["in-turn", "overlapped"])
def test_t4_t6_deletions_under_way_first_then_the_oldest_held_ones_reported(
    site: tuple[Config, SqliteStore, LocalVault], overlapped: bool
) -> None:
    """T4: a deletion an earlier run started is finished before any new one, whatever its
    age, its receipt first; T6: an expired recording under a legal hold is met by the
    pages, kept and reported, never deleted. The same with the batches' store and file
    work overlapped (``reccontrol purge``)."""
    config, store, vault = site
    old = add(store, vault, config, "sales", 200, 5)
    (started,) = add(store, vault, config, "sales", 95, 1)
    held_call, held = add_recording(
        store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=300)
    )
    store.condemn_recordings(
        [Condemnation(started, "T1: test", "system", "system", "retention: test", True)], NOW
    )
    store.place_hold(
        NewHold("h1", held_call, "dispute", "MED-1", "mediation", "cdubois", NOW, NOW + DAYS_30),
        EntryDraft(NOW.isoformat(), "cdubois", "dpo", "hold_place", "call", "mediation", "ok"),
    )
    rules = RetentionRules.from_config(config)
    key = config.audit.checkpoint_key
    report = Purger(
        store, vault, rules, FixedClock(NOW), key, batch_size=2, overlapped=overlapped
    ).run()
    assert report.deletions_resumed == 1 and report.recordings_deleted == 6
    receipts = delete_receipts(store)
    assert receipts[0] == started and set(receipts[1:]) == old
    assert [h.row.id for h in report.held] == [held]
    assert {row["id"] for row in store.db.query("SELECT id FROM recordings")} == {held}


def rows_of(store: SqliteStore, ids: set[str]) -> list[RecordingRow]:
    rows = [store.recording(i) for i in sorted(ids)]
    assert all(rows)
    return [r for r in rows if r is not None]


def test_s10_a_batch_s_data_keys_go_durably_before_any_of_its_files(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """S10: when the files of a batch start going, every data key of the batch is already
    destroyed (a kill then leaves files nobody can read, which the next run removes); the
    outcome says each was sealed. A plaintext file goes too, its outcome not sealed."""
    config, store, vault = site
    rows = rows_of(store, add(store, vault, config, "sales", 95, 6))
    plain_vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    (plain,) = rows_of(store, add(store, plain_vault, config, "sales", 95, 1))
    assert vault.keyring is not None and len(vault.keyring.ids()) == 6
    with file_threads(3) as work:
        keys = destroy_keys(vault, [*rows, plain], work)
        assert vault.keyring.ids() == []
        assert all(Path(str(row.path)).is_file() for row in [*rows, plain])
        assert [len(k) for k in keys if isinstance(k, bytes)] == [KEY_ID_BYTES] * 6 + [0]
        outcomes = remove_files(vault, [*rows, plain], keys, work)
    assert outcomes == [Removal(True, True)] * 6 + [Removal(True, False)]
    assert not any(config.recordings.vault_dir.iterdir())
    # Run again (a killed run's files already gone): nothing removed, nothing sealed known.
    again = remove_files(vault, rows, destroy_keys(vault, rows, FileWork()), FileWork())
    assert again == [Removal(False, False)] * 6


def test_s10_a_sealed_file_whose_key_cannot_go_stays_with_its_reason(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """S10: without the keyring a sealed file's key cannot be destroyed: the file stays,
    and its outcome says why (the purge reports it and keeps the row for the next run)."""
    config, store, vault = site
    rows = rows_of(store, add(store, vault, config, "sales", 95, 2))
    blind = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    outcomes = remove_files(blind, rows, destroy_keys(blind, rows, FileWork()), FileWork())
    assert all(isinstance(o, Exception) and "no keyring" in str(o) for o in outcomes)
    assert all(Path(str(row.path)).is_file() for row in rows)


def test_t4_r5_files_left_in_asterisk_s_folder_go_with_their_recording(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T4, R5: what Asterisk left of a deleted recording in its own folder (the file, or
    both halves of a two-channel one) goes with it; another recording's file stays."""
    config, store, vault = site
    (row,) = rows_of(store, add(store, vault, config, "sales", 95, 1))
    folder = config.recordings.asterisk_dir
    left = [folder / f"{row.name}.wav"]
    other = folder / "someone-else.wav"
    for path in (*left, other):
        path.write_bytes(b"RIFF")
    (outcome,) = remove_files(vault, [row], destroy_keys(vault, [row], FileWork()), FileWork())
    assert outcome == Removal(True, True)
    assert not any(p.exists() for p in left) and other.exists()
