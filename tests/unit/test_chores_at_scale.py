"""The purge and the verification in batches (T4, S3, S7): what they write and conclude
is what the one-by-one way wrote and concluded. Speed is measured by the bench
(``python -m bench --chores``), not here."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.audit.chain import EntryDraft, verify
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.retention.deletion import Deletion, Request, delete_recordings
from controller.retention.file_work import FileWork, OwnedPaths, file_threads
from controller.retention.plan import RetentionRules
from controller.retention.purge import Purger
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.access_log import append_entry
from controller.store.access_log_batch import append_entries
from controller.store.call_views import TOTAL_CAP, CallFilters
from controller.store.lifecycle import Condemnation
from tests.factories import deletion_drafts, receipted
from tests.site_bulk import bulk_calls, bulk_recordings, caller_hashes, subject_number
from tests.sites import add_recording, load_site, open_site, write_site

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
KEY = Secret("audit-key-0123456789abcdef")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def purger(config: Config, store: SqliteStore, vault: LocalVault, batch: int) -> Purger:
    rules = RetentionRules.from_config(config)
    key = config.audit.checkpoint_key
    return Purger(store, vault, rules, FixedClock(NOW), key, batch_size=batch, file_threads=3)


def receipts(store: SqliteStore) -> Counter[str]:
    return Counter(str(r["recording_id"]) for r in receipted(store.access_entries()))


def test_t4_s7_batched_purge_deletes_every_expired_recording_once_with_a_chained_receipt(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T4: batches of 7 over 3 threads: every expired row and file goes, named in exactly
    one receipt (one per batch); the kept ones stay; S3/S7: the receipts are keyed,
    chained and verify."""
    config, store, vault = site
    expired = {
        add_recording(
            store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=95, minutes=i)
        )[1]
        for i in range(30)
    }
    kept = {
        add_recording(
            store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=5, minutes=i)
        )[1]
        for i in range(4)
    }
    report = purger(config, store, vault, batch=7).run()
    assert report.errors == [] and report.recordings_deleted == 30
    assert report.files_deleted == 30
    assert {row["id"] for row in store.db.query("SELECT id FROM recordings")} == kept
    assert len(list(config.recordings.vault_dir.iterdir())) == len(kept)
    assert receipts(store) == Counter({recording_id: 1 for recording_id in expired})
    entries = list(store.access_entries())
    # One receipt per batch of 7 (all of one rule), each naming its batch's recordings;
    # which receipt names a recording is one lookup.
    assert [len(e.details["recordings"]) for e in entries if e.action == "delete"] == [
        7, 7, 7, 7, 2
    ]
    for recording_id in expired:
        receipt = store.receipt_of(recording_id)
        assert receipt is not None and recording_id in {
            str(r["recording_id"]) for r in receipted([receipt])
        }
    assert all(e.mac is not None for e in entries)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    verdict = store.verify_access_log(config.audit.checkpoint_key)
    assert verdict.ok, verdict.describe()
    # A second run finds nothing more to do and writes no receipt.
    again = purger(config, store, vault, batch=7).run()
    assert again.recordings_deleted == 0 and receipts(store) == Counter(
        {recording_id: 1 for recording_id in expired}
    )


def test_t4_a_batch_of_2500_gets_receipts_of_a_thousand_recordings_at_most(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T4: one batch of 2,500 expired recordings (the command's batches are larger than
    a receipt) is named by three receipts, of 1,000, 1,000 and 500 recordings, each
    recording once, and the chain verifies."""
    config, store, vault = site
    bulk_recordings(store, vault, config, count=2500, newest=NOW - dt.timedelta(days=100))
    expired = {str(row["id"]) for row in store.db.query("SELECT id FROM recordings")}
    report = purger(config, store, vault, batch=5000).run()
    assert report.errors == [] and report.recordings_deleted == 2500
    sizes = [len(e.details["recordings"]) for e in store.access_entries() if e.action == "delete"]
    assert sizes == [1000, 1000, 500]
    assert receipts(store) == Counter({recording_id: 1 for recording_id in expired})
    assert store.db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
    verdict = store.verify_access_log(config.audit.checkpoint_key)
    assert verdict.ok, verdict.describe()


def test_t4_condemned_rows_of_a_killed_run_are_finished_in_a_batch_once(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T4: rows an earlier run condemned (some files already gone) are finished by the
    next batched run, named once each in the receipts, with what happened to each file."""
    config, store, vault = site
    ids = [
        add_recording(
            store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=95, minutes=i)
        )[1]
        for i in range(6)
    ]
    store.condemn_recordings(
        [Condemnation(i, "T1: test", "system", "system", "retention", True) for i in ids], NOW
    )
    for recording_id in ids[:3]:
        row = store.recording(recording_id)
        assert row is not None and row.path is not None
        Path(row.path).unlink()
    report = purger(config, store, vault, batch=4).run()
    assert report.recordings_deleted == 6 and report.deletions_resumed == 6
    files = {str(r["recording_id"]): r["file"] for r in receipted(store.access_entries())}
    assert files == {i: "deleted" for i in ids}
    assert store.db.execute("SELECT COUNT(*) FROM recording_deletions").fetchone()[0] == 0
    assert store.verify_access_log(config.audit.checkpoint_key).ok


def test_t6_a_hold_placed_inside_a_batch_keeps_only_its_recording(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T6: the batched condemnation reads the holds in its transaction: a held recording
    in the middle of a batch keeps its row and file, the others go."""
    config, store, vault = site
    made = [
        add_recording(
            store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=95, minutes=i)
        )
        for i in range(5)
    ]
    held_call, held_id = made[2]
    store.db.execute(
        "INSERT INTO legal_holds (id, call_id, reference, reason, purpose, placed_by, "
        "placed_at, review_by) VALUES ('h1', ?, 'H-1', 'dispute', 'mediation', 'cdubois', ?, ?)",
        [held_call, NOW.isoformat(), (NOW + dt.timedelta(days=30)).isoformat()],
    )
    rows = [store.recording(recording_id) for _, recording_id in made]
    request = Request("T1: test", "system", "system", "retention")
    done = delete_recordings(
        store, vault, FixedClock(NOW), [Deletion(r, request) for r in rows if r], "system"
    )
    assert done.held == {held_id: "H-1"}
    assert set(done.deleted) == {
        r for _, r in made if r != held_id
    }
    row = store.recording(held_id)
    assert row is not None and row.state == "stored" and Path(str(row.path)).is_file()


def drafts(count: int) -> list[EntryDraft]:
    return deletion_drafts(count, NOW)


def rows(store: SqliteStore) -> list[tuple[object, ...]]:
    return [tuple(row) for row in store.db.execute("SELECT * FROM access_log ORDER BY seq")]


def test_s7_entries_appended_together_are_the_entries_appended_one_by_one() -> None:
    """S3, S7: a batch of receipts is sealed entry by entry (own seq, previous hash, MAC):
    the rows and the recorded head are byte for byte those of one-by-one appends."""
    one = SqliteStore.open(":memory:", audit_key=KEY)
    many = SqliteStore.open(":memory:", audit_key=KEY)
    with one.transaction() as db:
        for draft in drafts(5):
            append_entry(db, draft, KEY)
    with many.transaction() as db:
        append_entries(db, drafts(5), KEY)
    assert rows(one) == rows(many) and len(rows(many)) == 5
    assert one.audit_head() == many.audit_head()
    with many.transaction() as db:
        assert append_entries(db, [], KEY) == []
    assert many.verify_access_log(KEY).ok


def full_reading(store: SqliteStore, key: Secret) -> str:
    """The verdict of the entry-by-entry reading (details parsed and serialised again)."""
    return verify(
        store.access_entries(),
        checkpoints=store.checkpoints(),
        key=key,
        recorded_head=store.audit_head(),
        locate=store.locate_entry,
        key_start=store.audit_key_start(),
    ).describe()


def rewrite_details(store: SqliteStore, seq: int, text: str) -> None:
    """What an attacker with the database file does: the append-only trigger set aside."""
    store.db.execute("DROP TRIGGER access_log_no_update")
    store.db.execute("UPDATE access_log SET details = ? WHERE seq = ?", [text, seq])


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        # Same meaning, other spacing: the full reading accepts it, so does the fast one.
        (lambda d: json.dumps(d, indent=1), "intact"),
        (lambda d: json.dumps({**d, "rule": "T2"}, sort_keys=True, separators=(",", ":")),
         "broken at entry 3: edited"),
        (lambda d: "not json", "broken at entry 3: unreadable details"),
        (lambda d: '{"a": NaN}', "broken at entry 3: unreadable details"),
    ],
)
def test_s3_verify_reading_rows_concludes_what_the_full_reading_concludes(
    details: object, expected: str
) -> None:
    """S3: verification rebuilds each entry's canonical text in SQLite; whatever does not
    match falls back to the full reading, so every verdict is the full reading's."""
    store = SqliteStore.open(":memory:", audit_key=KEY)
    with store.transaction() as db:
        append_entries(db, drafts(5), KEY)
    third = next(e for e in store.access_entries() if e.seq == 3)
    assert callable(details)
    rewrite_details(store, 3, details(dict(third.details)))
    fast = store.verify_access_log(KEY).describe()
    assert fast.startswith(expected), fast
    assert fast == full_reading(store, KEY)


def test_s3_unusual_characters_verify_and_an_edit_among_them_is_named() -> None:
    """S3: control characters, quotes, backslashes, non-ASCII and U+2028 in every field
    verify intact; an edited actor is named at its entry."""
    store = SqliteStore.open(":memory:", audit_key=KEY)
    odd = "\x00\x01\x1f\x7f\u2028é€😀\"\\/\n\r\t\b\f"
    with store.transaction() as db:
        append_entries(
            db,
            [
                EntryDraft(
                    at=NOW.isoformat(), actor=f"a{odd}", role=odd, action=odd, target=odd,
                    purpose=odd, result="ok", details={odd: [odd, 1.5, None, True]},
                ),
                *drafts(2),
            ],
            KEY,
        )
    assert store.verify_access_log(KEY).ok
    store.db.execute("DROP TRIGGER access_log_no_update")
    store.db.execute("UPDATE access_log SET actor = 'someone' WHERE seq = 1")
    verdict = store.verify_access_log(KEY).describe()
    assert verdict.startswith("broken at entry 1: edited") and verdict == full_reading(store, KEY)


def test_file_work_keeps_the_order_of_the_rows_with_threads() -> None:
    with file_threads(3) as work:
        assert work.map(lambda n: n * n, list(range(50))) == [n * n for n in range(50)]
        assert work.map(lambda n: n, []) == []
    assert FileWork().map(str, [1, 2]) == ["1", "2"]


def test_s4_owned_paths_answers_what_the_vault_answers(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """S4: the vault check, kept per folder, still refuses paths outside the vault."""
    _, _, vault = site
    owned = OwnedPaths(vault)
    inside = vault.vault_dir / "a.wav"
    for path in (
        inside,
        vault.vault_dir / "b.wav",
        vault.vault_dir.parent / "a.wav",
        vault.vault_dir / ".." / "a.wav",
        vault.vault_dir / "sub" / "a.wav",
        Path("/etc/passwd"),
    ):
        assert owned(path) == vault.owns(path), path


def test_c5_bulk_site_calls_are_found_by_subject_and_listed(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """C5: the generated call metadata is what the store reads: a subject's calls are
    found by their caller HMAC, and the recordings generated in bulk expire."""
    config, store, vault = site
    bulk_calls(store, config, count=250, newest=NOW)
    bulk_recordings(store, vault, config, count=12, newest=NOW - dt.timedelta(days=100))
    assert store.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 250
    (hashed,) = list(caller_hashes(config, 8))[7:]
    (found,) = store.calls_for_caller(hashed, None, None)
    assert found.call["id"].endswith(f"{7:012x}") and subject_number(7) == "+33600000007"
    report = purger(config, store, vault, batch=5).run()
    assert report.recordings_deleted == 12 and report.errors == []
    assert store.verify_access_log(config.audit.checkpoint_key).ok


def test_s1_the_call_list_counts_up_to_its_cap_and_says_so(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """S1: on a large store the listing's count stops at TOTAL_CAP and says it did (the
    page stays fast); below the cap the count is exact."""
    config, store, _ = site
    bulk_calls(store, config, count=TOTAL_CAP + 5, newest=NOW)
    listing = store.call_listing(None, CallFilters(), None, 50)
    assert (listing.total, listing.total_capped, len(listing.rows)) == (TOTAL_CAP, True, 50)
    one_agent = store.call_listing(None, CallFilters(agent="agent03"), None, 50)
    exact = store.db.execute(
        "SELECT COUNT(*) FROM calls WHERE agent_id = 'agent03'"
    ).fetchone()[0]
    assert (one_agent.total, one_agent.total_capped) == (exact, False)
