"""Verification the fast way (S3, S7): rows walked as tuples, a long chain split in two
halves walked by two processes. Whatever the rows hold, the verdict is the one the
entry-by-entry reading gives. Speed is measured by the bench
(``python -m bench --chores``), not here."""

from __future__ import annotations

import datetime as dt
import hmac
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.audit.chain import GENESIS, EntryDraft, canonical_json, entry_mac, seal, verify
from controller.audit.entries import entry_macs
from controller.audit.verification import Start, Verdict, prepare
from controller.audit.walk import walk
from controller.secrets import Secret
from controller.store import SqliteStore, access_log_walk
from controller.store.access_log_batch import append_entries
from controller.store.access_log_stream import row_batches
from tests.factories import deletion_drafts
from tests.tamper import attacker, rechain

KEY = Secret("audit-key-0123456789abcdef")
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ENTRIES = 40
SEAM = ENTRIES // 2


def drafts(count: int) -> list[EntryDraft]:
    return deletion_drafts(count, NOW)


@pytest.fixture
def store_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "store.sqlite3"
    store = SqliteStore.open(path, audit_key=KEY)
    with store.transaction() as db:
        append_entries(db, drafts(ENTRIES), KEY)
    store.close()
    yield path


def reference(store: SqliteStore) -> str:
    """The verdict of the entry-by-entry reading (details parsed and serialised again)."""
    return verify(
        store.access_entries(),
        checkpoints=store.checkpoints(),
        key=KEY,
        recorded_head=store.audit_head(),
        locate=store.locate_entry,
        key_start=store.audit_key_start(),
    ).describe()


def split_verdicts(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Verdict, Verdict]:
    """The verdict in one process, and split in two halves at entry 20."""
    store = SqliteStore.open(path, audit_key=KEY)
    try:
        one = store.verify_access_log(KEY, jobs=1)
        monkeypatch.setattr(access_log_walk, "SPLIT_FROM", 10)
        two = store.verify_access_log(KEY, jobs=2)
        assert reference(store) == one.describe() == two.describe()
        return one, two
    finally:
        store.close()


@pytest.mark.parametrize(
    "raw", ["k", "audit-key-0123456789abcdef", "x" * 64, "é" * 40 + "y" * 100]
)
def test_s7_entry_macs_are_the_entry_macs(raw: str) -> None:
    """S7: the MAC with the key set up once is HMAC-SHA-256 of "entry:" + hash, for keys
    shorter than, as long as and longer than SHA-256's block."""
    mac = entry_macs(Secret(raw))
    for digest in (GENESIS, "ab" * 32, "0123456789abcdef" * 4):
        assert mac(digest) == entry_mac(Secret(raw), digest)
        expected = hmac.new(raw.encode(), b"entry:" + digest.encode(), "sha256").hexdigest()
        assert mac(digest) == expected


def test_s3_a_long_chain_split_in_two_verifies_intact(
    store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3: split in two halves, the chain verifies intact with every entry counted and
    the head the one-process walk reaches."""
    one, two = split_verdicts(store_file, monkeypatch)
    assert one.ok and two.ok
    assert (two.entries, two.head_seq, two.head_hash) == (ENTRIES, ENTRIES, one.head_hash)


def _edit(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET target = 'recording:other' WHERE seq = 30")


def _edit_the_seam(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET details = '{\"rule\":\"T2\"}' WHERE seq = ?", [SEAM])


def _edit_after_the_seam(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET actor = 'someone' WHERE seq = ?", [SEAM + 1])


def _delete(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM access_log WHERE seq = 31")


def _rechain_without_key(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET purpose = 'curiosity' WHERE seq = 25")
    rechain(db, 25)


def _drop_mac(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET mac = NULL WHERE seq = 35")


def _cut_the_end(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM access_log WHERE seq > 38")


def _add_past_the_head(db: sqlite3.Connection) -> None:
    """An entry sealed after the head, the recorded head left where it was."""
    (head,) = db.execute("SELECT hash FROM access_log WHERE seq = ?", [ENTRIES]).fetchone()
    e = seal(drafts(1)[0], ENTRIES + 1, head, KEY)
    db.execute(
        "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
        "details, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [e.seq, e.at, e.actor, e.role, e.action, e.target, e.purpose, e.result,
         canonical_json(e.details).decode(), e.prev_hash, e.hash, e.mac],
    )


def _swap(db: sqlite3.Connection) -> None:
    db.execute("UPDATE access_log SET seq = -1 WHERE seq = 27")
    db.execute("UPDATE access_log SET seq = 27 WHERE seq = 28")
    db.execute("UPDATE access_log SET seq = 28 WHERE seq = -1")


def _move_the_head(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit_head SET hash = ? WHERE id = 1", ["f" * 64])


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit, "broken at entry 30: edited"),
        (_edit_the_seam, "broken at entry 20: edited"),
        (_edit_after_the_seam, "broken at entry 21: edited"),
        (_delete, "broken at entry 32: gap: entry 31 is missing"),
        (_rechain_without_key, "broken at entry 25: keyed chain broken"),
        (_drop_mac, "broken at entry 35: keyed chain broken: it has no MAC"),
        (_cut_the_end, "broken at entry 39: truncated"),
        (_add_past_the_head, "broken at entry 40: the recorded head"),
        (_swap, "broken at entry 27: reordered"),
        (_move_the_head, "broken at entry 40: the recorded head"),
    ],
)
def test_s3_each_tampering_is_named_as_the_full_reading_names_it_split_or_not(
    store_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tamper: Callable[[sqlite3.Connection], None],
    expected: str,
) -> None:
    """S3, S7: an edit in either half or at the seam, a deletion, a re-chaining without
    the key, a missing MAC, the end cut off, an entry past the head, two entries swapped,
    a moved head: the verdict, in one process or split, is the full reading's."""
    db = attacker(store_file)
    tamper(db)
    db.close()
    one, two = split_verdicts(store_file, monkeypatch)
    assert not one.ok and one.describe().startswith(expected), one.describe()
    assert two == one


def start_of(store: SqliteStore) -> Start:
    start = prepare(
        checkpoints=store.checkpoints(),
        key=KEY,
        recorded_head=store.audit_head(),
        anchor=None,
        key_start=store.audit_key_start(),
    )
    assert isinstance(start, Start)
    return start


def test_s3_the_walk_stops_at_the_first_row_that_does_not_pass(store_file: Path) -> None:
    """S3: the walk passes every row of an intact chain; on an edited one it stops before
    it, so the reference reading is what names it."""
    store = SqliteStore.open(store_file, audit_key=KEY)
    try:
        start = start_of(store)
        walked = walk(row_batches(store.db.conn), start, KEY, None)
        assert (walked.clean, walked.count, walked.head_seq) == (True, ENTRIES, ENTRIES)
        assert walked.head_hash == store.audit_head()[1]
        db = attacker(store_file)
        _edit(db)
        db.close()
        stopped = walk(row_batches(store.db.conn), start, KEY, None)
        assert (stopped.clean, stopped.count, stopped.head_seq) == (False, 29, 29)
        # Without the key the MACs are not read: the hash chain alone still stops it.
        assert not walk(row_batches(store.db.conn), start, None, None).clean
    finally:
        store.close()


def test_s3_rows_are_read_in_batches_to_the_end(
    store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3: read a few rows at a time, every entry is read once, in order."""
    from controller.store import access_log_stream

    monkeypatch.setattr(access_log_stream, "BATCH", 7)
    store = SqliteStore.open(store_file, audit_key=KEY)
    try:
        seqs = [row[0] for batch in row_batches(store.db.conn) for row in batch]
        assert seqs == list(range(1, ENTRIES + 1))
        assert [row[0] for batch in row_batches(store.db.conn, 35) for row in batch] == [
            36, 37, 38, 39, 40
        ]
        assert store.verify_access_log(KEY).ok
    finally:
        store.close()


def test_s3_t4_large_entries_are_read_fewer_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3, T4: a receipt names a batch of recordings (a large entry): after the first
    read, each read takes as many rows as the text bound holds at the size just read,
    so the verification's memory follows the bound, not the entries' count; every entry
    is still read once, in order, and verifies."""
    from controller.store import access_log_stream

    monkeypatch.setattr(access_log_stream, "BATCH_TEXT", 25_000)
    store = SqliteStore.open(tmp_path / "store.sqlite3", audit_key=KEY)
    try:
        big = [
            EntryDraft(**{**vars(d), "details": {**d.details, "rows": "x" * 10_000}})
            for d in drafts(120)
        ]
        with store.transaction() as db:
            append_entries(db, big, KEY)
        batches = [[row[0] for row in batch] for batch in row_batches(store.db.conn)]
        assert len(batches[0]) == access_log_stream.FIRST_BATCH
        assert all(len(batch) <= 2 for batch in batches[1:])
        assert [seq for batch in batches for seq in batch] == list(range(1, 121))
        assert store.verify_access_log(KEY).ok
    finally:
        store.close()
