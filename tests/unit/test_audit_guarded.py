"""What the access log refuses to sign (S3, S7, T3): a key start over a log that was
already written, a checkpoint over entries that do not verify, and a missing head.

Each attack is what someone with write access to the SQLite file (and not the audit key)
does: drop the triggers, edit rows, re-chain them with the public hash function."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.audit.chain import EntryDraft
from controller.audit.errors import CutRefused, HeadMissing, KeyStartMissing
from controller.cli import cli
from controller.config import Config
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.timestamps import to_text
from tests.sites import ENV, load_site, old_log_entry, open_site, site_config, write_site
from tests.tamper import attacker, rechain

KEY = Secret(ENV["RECCONTROL_AUDIT_KEY"])
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO = dt.datetime(2020, 1, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Config]]:
    path = write_site(tmp_path)
    config = load_site(path)
    store, _ = open_site(config)
    store.close()
    yield path, config


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def fill(config: Config, count: int, *, key: Secret | None = KEY, offset: int = 0) -> None:
    """``count`` entries written an hour apart, the newest an hour ago."""
    store = SqliteStore.open(config.store.path, audit_key=key)
    for n in range(offset, offset + count):
        old_log_entry(store, NOW - dt.timedelta(hours=offset + count - n), n)
    store.close()


def rows(config: Config, sql: str) -> list[tuple[object, ...]]:
    db = attacker(config.store.path)
    try:
        return [tuple(row) for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def draft() -> EntryDraft:
    return EntryDraft(to_text(NOW), "cdubois", "dpo", "listen", "recording:x", "review", "ok")


# -- the key start ---------------------------------------------------------------------------
def test_s7_a_new_empty_log_is_keyed_from_its_first_entry(tmp_path: Path) -> None:
    """S7: an empty log needs no person: its first keyed entry comes with the key start."""
    store = SqliteStore.open(tmp_path / "s.sqlite3", audit_key=KEY)
    entry = store.append_access(draft())
    start = store.audit_key_start()
    assert start is not None and start.from_seq == 1 == entry.seq
    assert store.verify_access_log(KEY).ok
    store.close()


def test_s7_a_keyed_log_without_its_key_start_is_never_keyed_again(
    site: tuple[Path, Config],
) -> None:
    """S7: the key start deleted, a keyed append (any access) is refused with a typed
    error and nothing is written; no key start appears, verify says broken."""
    path, config = site
    fill(config, 3)
    db = attacker(config.store.path)
    db.execute("DELETE FROM audit_key_start")
    db.close()
    store = SqliteStore.open(config.store.path, audit_key=KEY)
    with pytest.raises(KeyStartMissing) as caught:
        store.append_access(draft())
    assert caught.value.error_id == "access-log-key-start-missing"
    assert store.audit_head()[0] == 3 and store.audit_key_start() is None
    assert "no signed key start" in (store.access_log_problem() or "")
    store.close()
    result = run("audit", "verify", "-c", path)
    assert result.exit_code == 1
    assert "the log is not keyed: no signed key start" in result.output


def test_s7_an_old_log_is_switched_over_only_by_adopt_key(site: tuple[Path, Config]) -> None:
    """S7: a log written before the key was set is not keyed by the next access; 'audit
    adopt-key' verifies it and signs its head, then accesses are logged keyed."""
    path, config = site
    fill(config, 3, key=None)
    store = SqliteStore.open(config.store.path, audit_key=KEY)
    with pytest.raises(KeyStartMissing):
        store.append_access(draft())
    store.close()
    help_text = run("audit", "adopt-key", "--help")
    assert help_text.exit_code == 0 and "Verifies the hash chain first" in help_text.output
    result = run("audit", "adopt-key", "-c", path)
    assert result.exit_code == 0, result.output
    assert "keyed: entries from 4 on carry a MAC" in result.output
    again = run("audit", "adopt-key", "-c", path)
    assert again.exit_code == 1 and "already keyed" in again.output
    fill(config, 1, offset=3)
    verified = run("audit", "verify", "-c", path)
    assert verified.exit_code == 0, verified.output
    assert "entries 1..3 predate the audit key" in verified.output


def test_s7_adopt_key_refuses_a_broken_chain(site: tuple[Path, Config]) -> None:
    """S7: adopting signs the present head, so a chain that does not verify is refused."""
    path, config = site
    fill(config, 4, key=None)
    db = attacker(config.store.path)
    db.execute("UPDATE access_log SET purpose = 'nothing' WHERE seq = 2")
    db.close()
    result = run("audit", "adopt-key", "-c", path)
    assert result.exit_code == 1
    assert "refused: the access log is broken at entry 2: edited" in result.output
    assert rows(config, "SELECT COUNT(*) FROM audit_key_start") == [(0,)]


def test_s7_adopt_key_refuses_a_log_that_was_keyed(site: tuple[Path, Config]) -> None:
    """S7: the attacker re-chains an edit, deletes the key start and clears the MACs: the
    hash chain verifies, yet the log was keyed (the witness published its key start), so
    it is not adopted. With the MACs left, they give it away too."""
    path, config = site
    witness = config.store.path.parent / "witness.log"
    fill(config, 4)
    start = rows(config, "SELECT mac FROM audit_key_start")[0][0]
    head = rows(config, "SELECT seq, hash FROM audit_head")[0]
    line = {"at": to_text(NOW), "seq": head[0], "hash": head[1], "key_start": start}
    witness.write_text(json.dumps(line) + "\n")
    db = attacker(config.store.path)
    db.execute("UPDATE access_log SET purpose = 'nothing' WHERE seq = 2")
    rechain(db, 2)
    db.execute("DELETE FROM audit_key_start")
    db.close()
    result = run("audit", "adopt-key", "-c", path)
    assert result.exit_code == 1 and "entries of the access log carry a MAC" in result.output
    db = attacker(config.store.path)
    db.execute("UPDATE access_log SET mac = NULL")
    db.close()
    result = run("audit", "adopt-key", "-c", path, "--witness", witness)
    assert result.exit_code == 1 and "the witness published a key start" in result.output
    assert rows(config, "SELECT COUNT(*) FROM audit_key_start") == [(0,)]


def test_s7_adopt_key_needs_the_key(tmp_path: Path) -> None:
    """S7: without audit.checkpoint_key there is nothing to adopt: a config error naming
    the key path."""
    data = site_config(tmp_path)
    data["audit"] = {}
    path = write_site(tmp_path, data)
    result = run("audit", "adopt-key", "-c", path)
    assert result.exit_code == 2
    assert "audit.checkpoint_key_env: no audit key is configured" in result.output


async def test_s7_verify_witness_reports_a_key_start_other_than_the_published_one(
    site: tuple[Path, Config],
) -> None:
    """S7: the key start is part of every witness line: a log re-keyed since (another key
    start, however it verifies) is reported."""
    from controller.audit.witness_line import witness_line

    path, config = site
    fill(config, 3)
    head = rows(config, "SELECT seq, hash FROM audit_head")[0]
    witness = config.store.path.parent / "witness.log"
    line = witness_line(to_text(NOW), (int(str(head[0])), str(head[1])), KEY, "f" * 64)
    witness.write_text(line + "\n")
    result = run("audit", "verify", "-c", path, "--witness", witness)
    assert result.exit_code == 1
    assert "witness line 1" in result.output
    assert "published key start ffffffffffff" in result.output and "re-keyed" in result.output


# -- the purge's checkpoint ----------------------------------------------------------------
def backdate(config: Config, through: int) -> None:
    """Entries 1..``through`` dated years ago (keeping their order), the chain re-hashed."""
    db = attacker(config.store.path)
    for seq in range(1, through + 1):
        at = to_text(LONG_AGO + dt.timedelta(minutes=seq))
        db.execute("UPDATE access_log SET at = ? WHERE seq = ?", [at, seq])
    rechain(db, 1)
    db.close()


def test_t3_purge_refuses_to_seal_back_dated_entries(site: tuple[Path, Config]) -> None:
    """T3, S7: entries 1..3 back-dated (and re-chained) to make the purge cut them: it
    re-checks what it cuts, refuses, deletes nothing, stores an alert and exits 1; the
    tampering stays visible to verify."""
    path, config = site
    fill(config, 6)
    backdate(config, 3)
    result = run("purge", "-c", path)
    assert result.exit_code == 1, result.output
    assert "the access log was not cut: broken at entry 1" in result.output
    assert "access-log-cut-refused" in result.output
    assert rows(config, "SELECT COUNT(*) FROM access_log") == [(6,)]
    assert rows(config, "SELECT COUNT(*) FROM audit_checkpoints") == [(0,)]
    assert [r[0] for r in rows(config, "SELECT kind FROM alerts")] == ["access_log_cut_refused"]
    verified = run("audit", "verify", "-c", path)
    assert verified.exit_code == 1
    assert "keyed chain broken: it does not match its MAC" in verified.output


def test_t3_purge_refuses_an_entry_dated_before_the_one_it_follows(tmp_path: Path) -> None:
    """T3: without the key, the hash chain of a back-dated, re-chained run verifies; an
    entry dated months before the one it follows still stops the cut."""
    store = SqliteStore.open(tmp_path / "s.sqlite3")
    for n in range(4):
        old_log_entry(store, NOW - dt.timedelta(days=10 - n), n)
    store.close()
    db = attacker(tmp_path / "s.sqlite3")
    # Entry 3 back-dated alone, to months before entries 1 and 2 that were already old.
    for seq, days in ((1, 60), (2, 61), (3, 0)):
        at = to_text(LONG_AGO + dt.timedelta(days=days))
        db.execute("UPDATE access_log SET at = ? WHERE seq = ?", [at, seq])
    rechain(db, 1)
    db.close()
    store = SqliteStore.open(tmp_path / "s.sqlite3")
    with pytest.raises(CutRefused) as caught:
        store.cut_access_log(NOW - dt.timedelta(days=365), NOW, None, "T3: test")
    assert "broken at entry 3: dated" in str(caught.value) and "back-dated" in str(caught.value)
    assert len(list(store.access_entries())) == 4 and store.checkpoints() == []
    store.close()


def test_t3_genuine_expired_entries_are_still_cut(site: tuple[Path, Config]) -> None:
    """T3: the check passes what verifies: expired entries are cut behind a checkpoint."""
    path, config = site
    store = SqliteStore.open(config.store.path, audit_key=KEY)
    for n in range(3):
        old_log_entry(store, NOW - dt.timedelta(days=400 - n), n)
    old_log_entry(store, NOW - dt.timedelta(days=1), 3)
    store.close()
    result = run("purge", "-c", path)
    assert result.exit_code == 0, result.output
    assert "access-log entries cut: 3 (checkpoint 1)" in result.output
    assert run("audit", "verify", "-c", path).exit_code == 0


def test_t3_verify_witness_flags_a_head_purged_before_its_time(site: tuple[Path, Config]) -> None:
    """T3, S3: on a site without the key (where a re-chained, back-dated run does
    verify), the purge cuts it; the witness published one of those heads recently, so
    its entry was purged long before audit.retention_days: verify --witness says so."""
    path, _ = site
    data = site_config(path.parent)
    data["audit"] = {"witness_file": str(path.parent / "witness.log")}
    config = load_site(write_site(path.parent, data))
    fill(config, 5, key=None)
    head = rows(config, "SELECT hash FROM access_log WHERE seq = 3")[0][0]
    witness = path.parent / "witness.log"
    witness.write_text(json.dumps({"at": to_text(NOW), "seq": 3, "hash": head}) + "\n")
    assert run("audit", "verify", "-c", path, "--witness", witness).exit_code == 0
    db = attacker(config.store.path)
    for seq in (1, 2, 3):
        at = to_text(LONG_AGO + dt.timedelta(minutes=seq))
        db.execute("UPDATE access_log SET at = ? WHERE seq = ?", [at, seq])
    rechain(db, 1)
    db.close()
    # The witness line still names the hash the attacker replaced: give it the new one
    # (as if the line had been published after the rewrite) to isolate the date check.
    head = rows(config, "SELECT hash FROM access_log WHERE seq = 3")[0][0]
    witness.write_text(json.dumps({"at": to_text(NOW), "seq": 3, "hash": head}) + "\n")
    purged = run("purge", "-c", path)
    assert purged.exit_code == 0 and "access-log entries cut: 3" in purged.output
    assert run("audit", "verify", "-c", path).exit_code == 0  # the chain alone cannot see it
    result = run("audit", "verify", "-c", path, "--witness", witness)
    assert result.exit_code == 1
    assert "witness line 1" in result.output
    assert "purged by checkpoint 1" in result.output and "before its time" in result.output


# -- the head ------------------------------------------------------------------------------
def test_s3_verify_with_the_head_row_deleted_gives_a_verdict(site: tuple[Path, Config]) -> None:
    """S3, R2: the audit_head row deleted: verify names it (exit 1), no traceback; 'audit
    head' and an append fail with a clear message too."""
    path, config = site
    fill(config, 3)
    db = attacker(config.store.path)
    db.execute("DELETE FROM audit_head")
    db.close()
    result = run("audit", "verify", "-c", path)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "the recorded head is missing (audit_head has no row)" in result.output
    head = run("audit", "head", "-c", path)
    assert head.exit_code == 1 and "recorded head (audit_head) is missing" in head.output
    assert head.exception is None or isinstance(head.exception, SystemExit)
    store = SqliteStore.open(config.store.path, audit_key=KEY)
    with pytest.raises(HeadMissing) as caught:
        store.append_access(draft())
    assert caught.value.error_id == "access-log-head-missing"
    assert len(list(store.access_entries())) == 3
    store.close()


def test_t3_a_long_backlog_is_cut_in_checked_batches(tmp_path: Path) -> None:
    """T3: a cut re-checks what it cuts inside its write transaction, so a backlog goes
    in bounded batches, each behind its own checkpoint, and the log still verifies."""
    store = SqliteStore.open(tmp_path / "s.sqlite3", audit_key=KEY)
    for n in range(5):
        old_log_entry(store, NOW - dt.timedelta(days=400 - n), n)
    old_log_entry(store, NOW - dt.timedelta(days=1), 5)
    before = NOW - dt.timedelta(days=365)
    cuts = []
    while (checkpoint := store.cut_access_log(before, NOW, KEY, "T3: test", limit=2)) is not None:
        cuts.append((checkpoint.through_seq, checkpoint.entries_cut))
    assert cuts == [(2, 2), (4, 2), (5, 1)]
    verdict = store.verify_access_log(KEY)
    assert verdict.ok, verdict.describe()
    store.close()


def test_t3_t4_large_receipts_are_cut_in_batches_bounded_by_their_size(tmp_path: Path) -> None:
    """T3, T4: a deletion receipt names a batch of recordings, so a cut is bounded by the
    size of what it re-checks as well as by a count of entries: entries of 500 characters
    with a bound of 1,200 go two by two (a single larger entry alone), and the log still
    verifies."""
    store = SqliteStore.open(tmp_path / "s.sqlite3", audit_key=KEY)
    for n in range(5):
        store.append_access(
            EntryDraft(
                at=(NOW - dt.timedelta(days=400 - n)).isoformat(),
                actor="system",
                role="system",
                action="delete",
                target=f"recordings:{n}",
                purpose="retention: T1",
                result="ok",
                details={"text": "x" * (1300 if n == 4 else 480)},
            )
        )
    old_log_entry(store, NOW - dt.timedelta(days=1), 5)
    before = NOW - dt.timedelta(days=365)
    cuts = []
    while (checkpoint := store.cut_access_log(before, NOW, KEY, "T3", text_limit=1200)) is not None:
        cuts.append((checkpoint.through_seq, checkpoint.entries_cut))
    assert cuts == [(2, 2), (4, 2), (5, 1)]
    verdict = store.verify_access_log(KEY)
    assert verdict.ok, verdict.describe()
    store.close()


def test_s7_no_purge_while_the_access_log_cannot_take_its_receipts(
    site: tuple[Path, Config],
) -> None:
    """S7, T4: with the key start removed no receipt can be logged, so the purge deletes
    nothing (an expired recording and its file stay), says why and exits 1."""
    from tests.sites import add_recording

    path, config = site
    fill(config, 2)
    store, vault = open_site(config)
    _, expired = add_recording(
        store, vault, config, service="sales", created_at=NOW - dt.timedelta(days=91)
    )
    store.close()
    db = attacker(config.store.path)
    db.execute("DELETE FROM audit_key_start")
    db.close()
    result = run("purge", "-c", path)
    assert result.exit_code == 1, result.output
    assert "purge not run: the access log holds entries but has no signed key start" in (
        result.output
    )
    store = SqliteStore.open(config.store.path)
    row = store.recording(expired)
    store.close()
    assert row is not None and row.state == "stored" and Path(str(row.path)).exists()
