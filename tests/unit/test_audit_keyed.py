"""The keyed access log (S3, S7): signed checkpoints that cannot be downgraded, a keyed entry
chain with a signed switch-over for logs started without a key, and the outside witness.

Each attack is what someone with write access to the SQLite file can do: drop the
triggers, then edit, insert, delete and re-chain rows with the public hash function.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.audit.chain import (
    GENESIS,
    EntryDraft,
    canonical_json,
    make_checkpoint,
)
from controller.audit.witness import WitnessPublisher, append_line
from controller.cli import cli
from controller.clock import FixedClock
from controller.config import Config
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.timestamps import to_text
from tests.sites import ENV, load_site, old_log_entry, write_site
from tests.tamper import rechain

KEY = Secret(ENV["RECCONTROL_AUDIT_KEY"])
START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Config]]:
    path = write_site(tmp_path)
    yield path, load_site(path)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def fill(config: Config, count: int, *, key: Secret | None = KEY, offset: int = 0) -> None:
    store = SqliteStore.open(config.store.path, audit_key=key)
    for n in range(offset, offset + count):
        old_log_entry(store, START + dt.timedelta(minutes=n), n)
    store.close()


def attacker(config: Config) -> sqlite3.Connection:
    """The store file opened by someone who can write it, triggers dropped."""
    db = sqlite3.connect(config.store.path, isolation_level=None)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    return db


def verify_cli(path: Path, *extra: str | Path) -> Result:
    return run("audit", "verify", "-c", path, *extra)


# -- High 2: checkpoint downgrade --------------------------------------------------------
def test_high2_unsigned_checkpoint_downgrade_is_tampering(site: tuple[Path, Config]) -> None:
    """High 2 (S3): a forged ``sha256`` checkpoint "through entry 20" and entries <= 20
    deleted used to verify as intact, even with the key and ``--anchor <head>``."""
    path, config = site
    fill(config, 30)
    head = run("audit", "head", "-c", path).output.strip()
    db = attacker(config)
    through_hash = db.execute("SELECT hash FROM access_log WHERE seq = 20").fetchone()[0]
    forged = make_checkpoint(None, to_text(START), 20, through_hash, None)
    assert forged.algorithm == "sha256"
    db.execute(
        "INSERT INTO audit_checkpoints (number, at, through_seq, through_hash, entries_cut, "
        "prev_digest, algorithm, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            forged.number,
            forged.at,
            forged.through_seq,
            forged.through_hash,
            forged.entries_cut,
            forged.prev_digest,
            forged.algorithm,
            forged.digest,
        ],
    )
    db.execute("DELETE FROM access_log WHERE seq <= 20")
    db.close()
    for extra in ((), ("--anchor", head)):
        result = verify_cli(path, *extra)
        assert result.exit_code == 1, result.output
        assert "checkpoint 1 is not signed (sha256)" in result.output
        assert "forged or downgraded" in result.output


def test_high2_signed_checkpoints_from_the_purge_still_verify(site: tuple[Path, Config]) -> None:
    """High 2: the purge's own checkpoints are HMAC-signed and verify with the key."""
    path, config = site
    fill(config, 10)
    store = SqliteStore.open(config.store.path, audit_key=KEY)
    checkpoint = store.cut_access_log(
        START + dt.timedelta(minutes=5), START + dt.timedelta(days=400), KEY, "T3: test"
    )
    store.close()
    assert checkpoint is not None and checkpoint.algorithm == "hmac-sha256"
    result = verify_cli(path)
    assert result.exit_code == 0, result.output
    assert "intact: 6 entries" in result.output


# -- Medium 3: keyed entry chain ----------------------------------------------------------
def test_medium3_rechained_entry_edit_is_caught(site: tuple[Path, Config]) -> None:
    """Medium 3 (S3): triggers dropped, entry 3 edited and everything after it re-chained:
    the SHA-256 chain is consistent again, but the entry MACs need the key."""
    path, config = site
    fill(config, 6)
    db = attacker(config)
    db.execute("UPDATE access_log SET actor = 'someone-else' WHERE seq = 3")
    rechain(db, 3)
    db.close()
    result = verify_cli(path)
    assert result.exit_code == 1, result.output
    assert "broken at entry 3: keyed chain broken: it does not match its MAC" in result.output


def test_medium3_unkeyed_entry_appended_is_caught(site: tuple[Path, Config]) -> None:
    """Medium 3: an entry appended through a store opened without the key (a forged
    'system' entry, say) carries no MAC."""
    path, config = site
    fill(config, 3)
    fill(config, 1, key=None, offset=3)
    result = verify_cli(path)
    assert result.exit_code == 1
    assert "broken at entry 4: keyed chain broken: it has no MAC" in result.output


def test_medium3_existing_sha256_log_is_switched_over_safely(site: tuple[Path, Config]) -> None:
    """Medium 3, migration (S7): a log written without a key (with an unsigned
    checkpoint) gets a signed key start from 'audit adopt-key'. Verification then accepts
    the old entries and checkpoint, and catches each way of undoing the switch."""
    path, config = site
    fill(config, 8, key=None)
    store = SqliteStore.open(config.store.path)
    old = store.cut_access_log(
        START + dt.timedelta(minutes=3), START + dt.timedelta(days=400), None, "T3: test"
    )
    store.close()
    assert old is not None and old.algorithm == "sha256"
    adopted = run("audit", "adopt-key", "-c", path)
    assert adopted.exit_code == 0, adopted.output
    fill(config, 3, offset=8)  # the key is configured now
    result = verify_cli(path)
    assert result.exit_code == 0, result.output
    assert "entries 1..9 predate the audit key (hash chain only)" in result.output

    # A rewrite of a pre-key entry, re-chained to the head: the signed key start still
    # holds the head of the time.
    db = attacker(config)
    db.execute("UPDATE access_log SET purpose = 'nothing to see' WHERE seq = 6")
    rechain(db, 6)
    db.close()
    result = verify_cli(path)
    assert result.exit_code == 1
    assert "broken at entry 9: it is not the head the signed key start recorded" in (result.output)


def test_medium3_removing_the_key_start_is_caught(site: tuple[Path, Config]) -> None:
    """Medium 3: deleting the key start (and every MAC) makes the log look never keyed."""
    path, config = site
    fill(config, 4)
    db = attacker(config)
    db.execute("DELETE FROM audit_key_start")
    db.execute("UPDATE access_log SET mac = NULL")
    db.close()
    result = verify_cli(path)
    assert result.exit_code == 1
    assert "the log is not keyed: no signed key start" in result.output


def test_medium3_downgrade_after_switch_is_caught(site: tuple[Path, Config]) -> None:
    """High 2 with Medium 3: on a switched-over log, only the checkpoints that existed
    before the key may be unsigned; a new unsigned one is forged."""
    path, config = site
    fill(config, 4, key=None)
    assert run("audit", "adopt-key", "-c", path).exit_code == 0
    fill(config, 4, offset=4)
    db = attacker(config)
    through_hash = db.execute("SELECT hash FROM access_log WHERE seq = 6").fetchone()[0]
    forged = make_checkpoint(None, to_text(START), 6, through_hash, None)
    db.execute(
        "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [1, forged.at, 6, through_hash, 6, GENESIS, "sha256", forged.digest],
    )
    db.execute("DELETE FROM access_log WHERE seq <= 6")
    db.close()
    result = verify_cli(path)
    assert result.exit_code == 1
    assert "checkpoint 1 is not signed (sha256)" in result.output


# -- Medium 3: the outside witness ----------------------------------------------------------
async def publish(config: Config, witness: Path) -> None:
    store = SqliteStore.open(config.store.path, audit_key=KEY)

    async def head() -> tuple[int, str]:
        return store.audit_head()

    publisher = WitnessPublisher(head, FixedClock(START), KEY, witness, interval=3600)
    publisher.start()
    await publisher.stop()
    store.close()
    assert publisher.published == 1


async def test_medium3_witness_catches_truncation_and_wipe(
    site: tuple[Path, Config], tmp_path: Path
) -> None:
    """Medium 3: deleting the newest entries and setting the head back, or wiping the
    whole log, leaves a chain that verifies; the published head does not."""
    path, config = site
    witness = tmp_path / "witness" / "audit-head.log"
    witness.parent.mkdir()
    fill(config, 5)
    await publish(config, witness)
    fill(config, 2, offset=5)
    await publish(config, witness)
    lines = [json.loads(line) for line in witness.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [5, 7] and all("mac" in line for line in lines)
    result = verify_cli(path, "--witness", witness)
    assert result.exit_code == 0, result.output
    assert "witness: 2 of 2 published heads found in the log" in result.output

    db = attacker(config)
    db.execute("DELETE FROM access_log WHERE seq > 5")
    head = db.execute("SELECT hash FROM access_log WHERE seq = 5").fetchone()[0]
    db.execute("UPDATE audit_head SET seq = 5, hash = ?", [head])
    db.close()
    assert verify_cli(path).exit_code == 0  # the chain alone cannot see it
    result = verify_cli(path, "--witness", witness)
    assert result.exit_code == 1
    assert "witness line 2" in result.output and "log ends at entry 5" in result.output

    db = attacker(config)
    for table in ("access_log", "audit_checkpoints", "audit_key_start"):
        db.execute(f"DELETE FROM {table}")  # noqa: S608
    db.execute("UPDATE audit_head SET seq = 0, hash = ?", [GENESIS])
    db.close()
    assert verify_cli(path).exit_code == 0
    result = verify_cli(path, "--witness", witness)
    assert result.exit_code == 1
    assert "witness line 1" in result.output and "wiped" in result.output


async def test_medium3_witness_catches_rewritten_entry_and_forged_line(
    site: tuple[Path, Config], tmp_path: Path
) -> None:
    """Medium 3: a published head whose entry now has another hash is caught, and a
    witness line without a valid signature is not trusted."""
    path, config = site
    witness = tmp_path / "audit-head.log"
    fill(config, 3)
    await publish(config, witness)
    line = json.loads(witness.read_text())
    forged = dict(line, hash=hashlib.sha256(b"x").hexdigest())
    append_line(witness, canonical_json(forged).decode())
    result = verify_cli(path, "--witness", witness)
    assert result.exit_code == 1
    assert "witness line 2" in result.output and "does not match its signature" in result.output


def test_medium3_witness_file_is_append_only_and_never_a_symlink(tmp_path: Path) -> None:
    """Medium 3: the witness is appended to, never truncated, and a planted symlink is
    refused rather than followed."""
    path = tmp_path / "witness.log"
    append_line(path, "one")
    append_line(path, "two")
    assert path.read_text() == "one\ntwo\n"
    assert path.stat().st_mode & 0o777 == 0o640
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "link.log"
    link.symlink_to(target)
    with pytest.raises(OSError):
        append_line(link, "three")
    assert target.read_text() == "keep\n"


def test_witness_settings_load(tmp_path: Path) -> None:
    """Medium 3: the witness file, interval and syslog switch are configuration."""
    from tests.sites import site_config

    data = site_config(tmp_path)
    data["audit"].update(
        witness_file=str(tmp_path / "w.log"), witness_interval_seconds=60, witness_syslog=True
    )
    config = load_site(write_site(tmp_path, data))
    assert config.audit.witness_file == tmp_path / "w.log"
    assert config.audit.witness_interval_seconds == 60 and config.audit.witness_syslog


# -- Low: details that cannot be read back ---------------------------------------------
@pytest.mark.parametrize("details", ["{not json", '{"x": NaN}', "[1]"])
def test_low_audit_verify_reports_unreadable_details(
    site: tuple[Path, Config], details: str
) -> None:
    """Low (S3): a non-JSON or NaN ``details`` value is reported with its entry, not a
    traceback."""
    path, config = site
    fill(config, 3)
    db = attacker(config)
    db.execute("UPDATE access_log SET details = ? WHERE seq = 2", [details])
    db.close()
    result = verify_cli(path)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "broken at entry 2: unreadable details" in result.output


def test_keyed_entries_carry_a_mac() -> None:
    """Medium 3: a keyed append stores the MAC next to the hash."""
    store = SqliteStore.open(":memory:", audit_key=KEY)
    entry = store.append_access(
        EntryDraft(to_text(START), "cdubois", "dpo", "listen", "r", "quality review", "ok")
    )
    assert entry.mac is not None and entry.mac != entry.hash
    assert store.audit_key_start() is not None
    assert store.verify_access_log(KEY).ok
    assert not store.verify_access_log(Secret("another-key-0123456789")).ok


async def test_medium3_witness_head_also_goes_to_syslog(tmp_path: Path) -> None:
    """Medium 3: with ``witness_syslog`` the signed head is also sent to the syslog socket
    (facility auth), here a socket the test listens on."""
    address = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(5)
        store = SqliteStore.open(":memory:", audit_key=KEY)
        store.append_access(
            EntryDraft(to_text(START), "cdubois", "dpo", "listen", "r", "quality review", "ok")
        )

        async def head() -> tuple[int, str]:
            return store.audit_head()

        publisher = WitnessPublisher(
            head,
            FixedClock(START),
            KEY,
            None,
            interval=3600,
            to_syslog=True,
            syslog_address=address,
        )
        assert await publisher.publish_now()
        datagram = listener.recv(4096).decode()
    assert datagram.startswith("<38>reccontrol: audit head {")
    line = json.loads(datagram.split("audit head ", 1)[1])
    assert (line["seq"], line["hash"]) == store.audit_head() and len(line["mac"]) == 64
    store.close()
