"""The tables of docs/retention-and-audit.md, "Verification" and "What each attacker can
hide", as tests (S3, S7, T3): one case per row and claim. Each case writes a real store,
tampers with it as that attacker would (``sqlite3`` on the file, triggers dropped), then
runs ``reccontrol audit verify`` and checks its exit status and what it says.

A case that says "can" asserts that verification really does not see it (so the doc
does not promise more than the code does); the witness or an anchor is what catches it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.audit.chain import (
    GENESIS,
    EntryDraft,
    canonical_json,
    entry_hash,
    entry_mac,
    make_checkpoint,
    make_key_start,
    seal,
)
from controller.audit.witness_line import witness_line
from controller.cli import cli
from controller.config import Config
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.timestamps import to_text
from tests.sites import ENV, load_site, open_site, site_config, write_site
from tests.tamper import attacker, insert_checkpoint, rechain

KEY = Secret(ENV["RECCONTROL_AUDIT_KEY"])
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO = dt.datetime(2020, 1, 1, 9, 0, tzinfo=dt.UTC)
ENTRIES = 6


@dataclass
class Site:
    path: Path
    config: Config
    root: Path

    @property
    def witness(self) -> Path:
        return self.root / "witness.log"

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        connection = attacker(self.config.store.path)
        try:
            yield connection
        finally:
            connection.close()

    def head(self) -> tuple[int, str]:
        with self.db() as db:
            seq, digest = db.execute("SELECT seq, hash FROM audit_head").fetchone()
        return int(seq), str(digest)

    def publish(self) -> None:
        """What the daemon appends to the witness file: the signed head and key start."""
        with self.db() as db:
            row = db.execute("SELECT mac FROM audit_key_start").fetchone()
        key = self.config.audit.checkpoint_key
        line = witness_line(to_text(NOW), self.head(), key, row[0] if row else None)
        with self.witness.open("a") as file:
            file.write(line + "\n")

    def write(self, count: int, *, key: Secret | None = KEY, start: int = 0) -> None:
        """``count`` entries an hour apart, the newest an hour ago."""
        store = SqliteStore.open(self.config.store.path, audit_key=key)
        for n in range(start, start + count):
            at = NOW - dt.timedelta(hours=start + count - n)
            store.append_access(
                EntryDraft(
                    to_text(at), "cdubois", "dpo", "listen", f"recording:r{n}", "review", "ok"
                )
            )
        store.close()


def keyed_site(tmp_path: Path, *, key: bool = True) -> Site:
    data = site_config(tmp_path)
    if not key:
        data["audit"] = {}
    path = write_site(tmp_path, data)
    config = load_site(path)
    store, _ = open_site(config)
    store.close()
    site = Site(path, config, tmp_path)
    site.write(ENTRIES, key=KEY if key else None)
    return site


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


# -- tampering, one function per row -------------------------------------------------------
def edit(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("UPDATE access_log SET purpose = 'nothing to see' WHERE seq = 3")
    return []


def edit_and_rehash(site: Site) -> list[str]:
    """Entry 3 edited and its own hash recomputed, nothing after it: the next link breaks."""
    store = SqliteStore.open(site.config.store.path)
    entry = next(e for e in store.access_entries() if e.seq == 3)
    store.close()
    content = dict(entry.content(), purpose="nothing to see")
    with site.db() as db:
        db.execute(
            "UPDATE access_log SET purpose = 'nothing to see', hash = ? WHERE seq = 3",
            [entry_hash(content)],
        )
    return []


def delete_one(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("DELETE FROM access_log WHERE seq = 3")
    return []


def swap(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("UPDATE access_log SET seq = -3 WHERE seq = 3")
        db.execute("UPDATE access_log SET seq = 3 WHERE seq = 4")
        db.execute("UPDATE access_log SET seq = 4 WHERE seq = -3")
    return []


def insert(site: Site) -> list[str]:
    """A forged entry after entry 2, chained to it; the later ones renumbered."""
    with site.db() as db:
        prev = db.execute("SELECT hash FROM access_log WHERE seq = 2").fetchone()[0]
        forged = seal(
            EntryDraft(to_text(NOW), "system", "system", "listen", "r", "forged", "ok"), 3, prev
        )
        for seq in range(ENTRIES, 2, -1):
            db.execute("UPDATE access_log SET seq = ? WHERE seq = ?", [seq + 1, seq])
        db.execute(
            "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
            "details, prev_hash, hash) VALUES (3, ?, 'system', 'system', 'listen', 'r', "
            "'forged', 'ok', '{}', ?, ?)",
            [forged.at, prev, forged.hash],
        )
        db.execute("UPDATE audit_head SET seq = ?", [ENTRIES + 1])
    return []


def truncate(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("DELETE FROM access_log WHERE seq = ?", [ENTRIES])
    return []


def cut(site: Site) -> None:
    """A genuine, signed cut of entries 1..2 (everything before entry 3's time)."""
    store = SqliteStore.open(site.config.store.path, audit_key=KEY)
    entries = list(store.access_entries())
    before = dt.datetime.fromisoformat(entries[2].at)
    assert store.cut_access_log(before, NOW, KEY, "T3: test") is not None
    store.close()


def change_checkpoint(site: Site) -> list[str]:
    cut(site)
    with site.db() as db:
        db.execute("UPDATE audit_checkpoints SET at = '2020-01-01' WHERE number = 1")
    return []


def unsigned_checkpoint(site: Site) -> list[str]:
    with site.db() as db:
        through_hash = db.execute("SELECT hash FROM access_log WHERE seq = 4").fetchone()[0]
        insert_checkpoint(db, make_checkpoint(None, to_text(NOW), 4, through_hash, None))
        db.execute("DELETE FROM access_log WHERE seq <= 4")
    return []


def edit_and_rechain(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("UPDATE access_log SET purpose = 'nothing to see' WHERE seq = 3")
        rechain(db, 3)
    return []


def append_unkeyed(site: Site) -> list[str]:
    with site.db() as db:
        head = db.execute("SELECT seq, hash FROM audit_head").fetchone()
        forged = seal(
            EntryDraft(to_text(NOW), "system", "system", "listen", "r", "forged", "ok"),
            head[0] + 1,
            head[1],
        )
        db.execute(
            "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
            "details, prev_hash, hash) VALUES (?, ?, 'system', 'system', 'listen', 'r', "
            "'forged', 'ok', '{}', ?, ?)",
            [forged.seq, forged.at, forged.prev_hash, forged.hash],
        )
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", [forged.seq, forged.hash])
    return []


def remove_key_start(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("DELETE FROM audit_key_start")
        db.execute("UPDATE access_log SET mac = NULL")
    return []


def rekey_by_a_refused_access(site: Site) -> list[str]:
    """Edit, re-chain, delete the key start, then make the software log anything (a
    failed sign-in): a fresh key start would have blessed the rewritten log."""
    edit_and_rechain(site)
    with site.db() as db:
        db.execute("DELETE FROM audit_key_start")
    wrong = site.root / "wrong.token"
    wrong.write_text("not-the-token\n")
    refused = run(
        "recording", "download", "-c", site.path, "r1", "--output", site.root / "x.wav",
        "--as", "cdubois", "--purpose", "quality review", "--token-file", wrong,
    )
    assert refused.exit_code == 1, refused.output  # the access log could not take it
    assert "access-log-key-start-missing" in refused.output
    return []


def unreadable_details(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("UPDATE access_log SET details = '{not json' WHERE seq = 2")
    return []


def delete_head_row(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("DELETE FROM audit_head")
    return []


def backdate_then_purge(site: Site) -> list[str]:
    """Entries 1..3 dated years back (in order, re-chained) so the next purge cuts them."""
    with site.db() as db:
        for seq in (1, 2, 3):
            at = to_text(LONG_AGO + dt.timedelta(minutes=seq))
            db.execute("UPDATE access_log SET at = ? WHERE seq = ?", [at, seq])
        rechain(db, 1)
    purge = run("purge", "-c", site.path)
    assert purge.exit_code == 1 and "the access log was not cut" in purge.output, purge.output
    return []


def truncate_and_set_head_back(site: Site) -> list[str]:
    with site.db() as db:
        db.execute("DELETE FROM access_log WHERE seq > 4")
        digest = db.execute("SELECT hash FROM access_log WHERE seq = 4").fetchone()[0]
        db.execute("UPDATE audit_head SET seq = 4, hash = ?", [digest])
    return []


def wipe(site: Site) -> list[str]:
    with site.db() as db:
        for table in ("access_log", "audit_checkpoints", "audit_key_start"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608
        db.execute("UPDATE audit_head SET seq = 0, hash = ?", [GENESIS])
    return []


def truncate_with_anchor(site: Site) -> list[str]:
    anchor = site.head()[1]
    truncate_and_set_head_back(site)
    return ["--anchor", anchor]


def rewrite_published_entry(site: Site) -> list[str]:
    """The newest entry rewritten and re-chained; without the key its MAC stays stale."""
    with site.db() as db:
        db.execute("UPDATE access_log SET purpose = 'nothing' WHERE seq = ?", [ENTRIES])
        rechain(db, ENTRIES)
    return []


def forge_witness_line(site: Site) -> list[str]:
    line = json.loads(site.witness.read_text())
    with site.witness.open("a") as file:
        file.write(canonical_json(dict(line, seq=1)).decode() + "\n")
    return []


def rewrite_with_the_key(site: Site) -> list[str]:
    """Someone with the key rewrites the entries consistently: hashes and MACs."""
    with site.db() as db:
        db.execute("UPDATE access_log SET purpose = 'nothing' WHERE seq = 3")
        rechain(db, 1)
        for seq, digest in db.execute("SELECT seq, hash FROM access_log").fetchall():
            mac = entry_mac(KEY, digest)
            db.execute("UPDATE access_log SET mac = ? WHERE seq = ?", [mac, seq])
    return []


def rekey_with_the_key(site: Site) -> list[str]:
    """The same, with a new key start signed with the key."""
    rewrite_with_the_key(site)
    with site.db() as db:
        db.execute("DELETE FROM audit_key_start")
        start = make_key_start(to_text(NOW), (0, GENESIS), None, KEY)
        db.execute(
            "INSERT INTO audit_key_start VALUES (1, ?, ?, ?, ?, ?, ?)",
            [
                start.at,
                start.from_seq,
                start.head_hash,
                start.checkpoints,
                start.checkpoint_digest,
                start.mac,
            ],
        )
    return []


def backdate_unkeyed_then_purge(site: Site) -> list[str]:
    """Without the key the back-dated, re-chained run verifies and is cut; the witness
    had published one of its heads recently."""
    with site.db() as db:
        for seq in (1, 2, 3):
            at = to_text(LONG_AGO + dt.timedelta(minutes=seq))
            db.execute("UPDATE access_log SET at = ? WHERE seq = ?", [at, seq])
        rechain(db, 1)
        digest = db.execute("SELECT hash FROM access_log WHERE seq = 3").fetchone()[0]
    site.witness.write_text(json.dumps({"at": to_text(NOW), "seq": 3, "hash": digest}) + "\n")
    purge = run("purge", "-c", site.path)
    assert purge.exit_code == 0 and "access-log entries cut: 3" in purge.output, purge.output
    return ["--witness", str(site.witness)]


def edit_and_rechain_unkeyed(site: Site) -> list[str]:
    return edit_and_rechain(site)


def witness(tamper: Callable[[Site], list[str]]) -> Callable[[Site], list[str]]:
    """The same tampering on a site whose daemon published the head before it."""

    def with_witness(site: Site) -> list[str]:
        site.publish()
        return [*tamper(site), "--witness", str(site.witness)]

    with_witness.__name__ = tamper.__name__
    return with_witness


@dataclass(frozen=True)
class Row:
    tamper: Callable[[Site], list[str]]
    exit_code: int
    says: tuple[str, ...]
    keyed: bool = True


# One per row of "Verification" (tampering -> reported) and per claim of "What each
# attacker can hide"; the doc quotes these messages.
ROWS = {
    "entry edited": Row(
        edit, 1, ("access log broken at entry 3: edited: its content does not match its hash",)
    ),
    "entry edited and rehashed (no key)": Row(
        edit_and_rehash,
        1,
        ("broken at entry 4: link broken: its prev_hash matches no entry",),
        keyed=False,
    ),
    "entry edited and rehashed": Row(
        edit_and_rehash, 1, ("broken at entry 3: keyed chain broken: it does not match its MAC",)
    ),
    "entry deleted": Row(delete_one, 1, ("broken at entry 4: gap: entry 3 is missing (deleted)",)),
    "two entries swapped": Row(
        swap,
        1,
        ("broken at entry 3: reordered: its prev_hash is the hash of entry 4, which comes after",),
    ),
    "entry inserted (no key)": Row(
        insert, 1, ("broken at entry 4: inserted or reordered entries before it",), keyed=False
    ),
    "entry inserted": Row(insert, 1, ("broken at entry 3: keyed chain broken: it has no MAC",)),
    "last entry deleted": Row(
        truncate, 1, ("truncated: the log ends at entry 5 but entry 6 was written",)
    ),
    "checkpoint changed": Row(
        change_checkpoint, 1, ("checkpoint 1 does not match its signature",)
    ),
    "unsigned checkpoint and entries before it deleted": Row(
        unsigned_checkpoint,
        1,
        ("checkpoint 1 is not signed (sha256) although audit.checkpoint_key is configured",),
    ),
    "entry edited and chain recomputed": Row(
        edit_and_rechain, 1, ("broken at entry 3: keyed chain broken: it does not match its MAC",)
    ),
    "entry written without the key": Row(
        append_unkeyed, 1, ("broken at entry 7: keyed chain broken: it has no MAC",)
    ),
    "key start removed": Row(remove_key_start, 1, ("the log is not keyed: no signed key start",)),
    "key start removed, then an access re-keys nothing": Row(
        rekey_by_a_refused_access, 1, ("the log is not keyed: no signed key start",)
    ),
    "key start removed, then an access (witness)": Row(
        witness(rekey_by_a_refused_access), 1, ("the log is not keyed: no signed key start",)
    ),
    "details not JSON": Row(
        unreadable_details, 1, ("broken at entry 2: unreadable details: not valid JSON",)
    ),
    "head row deleted": Row(
        delete_head_row, 1, ("the recorded head is missing (audit_head has no row)",)
    ),
    "entries back-dated before a purge": Row(
        backdate_then_purge,
        1,
        ("broken at entry 1: keyed chain broken: it does not match its MAC",),
    ),
    "entries back-dated before a purge (witness)": Row(
        witness(backdate_then_purge),
        1,
        ("broken at entry 1: keyed chain broken: it does not match its MAC",),
    ),
    # What each attacker can hide: no key, no witness or anchor.
    "no key: newest entries deleted, head set back, unseen": Row(
        truncate_and_set_head_back, 0, ("intact: 4 entries",)
    ),
    "no key: log wiped, unseen": Row(wipe, 0, ("intact: 0 entries",)),
    "no key: newest entries deleted, the witness sees it": Row(
        witness(truncate_and_set_head_back),
        1,
        ("witness line 1", "the log ends at entry 4 but the witness saw entry 6"),
    ),
    "no key: log wiped, the witness sees it": Row(
        witness(wipe), 1, ("witness line 1", "the log was wiped")
    ),
    "no key: newest entries deleted, the anchor sees it": Row(
        truncate_with_anchor, 1, ("is not in the chain: an anchored entry was removed",)
    ),
    "no key: a published entry rewritten": Row(
        witness(rewrite_published_entry), 1, ("broken at entry 6: keyed chain broken",)
    ),
    "no key: a witness line forged": Row(
        witness(forge_witness_line), 1, ("witness line 2", "does not match its signature")
    ),
    "with the key: a consistent rewrite, unseen": Row(
        rewrite_with_the_key, 0, ("intact: 6 entries",)
    ),
    "with the key: a consistent rewrite, the witness sees it": Row(
        witness(rewrite_with_the_key),
        1,
        ("witness line 1", "the log's entry 6 has another hash (rewritten)"),
    ),
    "with the key: re-keyed, the witness sees it": Row(
        witness(rekey_with_the_key), 1, ("witness line 1", "the log was re-keyed")
    ),
    # Without the key configured the chain catches edits that were not re-chained only.
    "unkeyed log: an edit re-chained, unseen": Row(
        edit_and_rechain_unkeyed, 0, ("intact: 6 entries",), keyed=False
    ),
    "unkeyed log: back-dated and purged early, the witness sees it": Row(
        backdate_unkeyed_then_purge,
        1,
        ("witness line 1", "purged by checkpoint 1", "before its time"),
        keyed=False,
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=list(ROWS))
def test_s3_s7_attacker_table(tmp_path: Path, row: Row) -> None:
    """S3, S7, T3: each row of the doc's tampering and attacker tables, on a real store
    through 'reccontrol audit verify'."""
    site = keyed_site(tmp_path, key=row.keyed)
    extra = row.tamper(site)
    result = run("audit", "verify", "-c", site.path, *extra)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == row.exit_code, result.output
    for text in row.says:
        assert text in result.output, result.output
