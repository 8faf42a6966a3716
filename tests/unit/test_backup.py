"""Backups, their check before a restore, and store upgrades at start."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import cli
from controller.config import Config
from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.store.migrations import MIGRATIONS
from tests.sites import ENV, add_recording, load_site, old_log_entry, open_site, write_site

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Config, SqliteStore, LocalVault]]:
    path = write_site(tmp_path / "site")
    config = load_site(path)
    store, vault = open_site(config)
    for minutes in range(3):
        add_recording(
            store, vault, config, service="sales", created_at=NOW - dt.timedelta(minutes=minutes)
        )
    for n in range(4):
        old_log_entry(store, NOW, n)
    yield path, config, store, vault
    store.close()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=ENV)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_state(config: Config) -> dict[str, str]:
    """Every file of the live site with its hash: a check must change none."""
    folders = (config.store.path.parent, config.recordings.vault_dir)
    return {
        str(p): digest(p) for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_backup_copies_store_and_vault_with_manifest_never_secrets_S5(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S5: the store copy holds every row, each vault file is copied 0600 and listed
    with its SHA-256 and recording; no secret of the site is anywhere in the backup."""
    path, _config, store, vault = site
    target = tmp_path / "backup"
    result = invoke("backup", "-c", str(path), "--to", str(target))
    assert result.exit_code == 0, result.output
    assert "3 stored recording(s), 3 vault file(s) copied" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    manifest = json.loads((target / "manifest.json").read_text())
    rows = {r["path"]: r for r in store.db.query("SELECT * FROM recordings")}
    assert len(manifest["vault"]) == 3
    for entry in manifest["vault"]:
        original = vault.vault_dir / entry["name"]
        assert entry["sha256"] == digest(original) == rows[str(original)]["sha256"]
        assert entry["recording_id"] == rows[str(original)]["id"]
        copy = target / "vault" / entry["name"]
        assert digest(copy) == entry["sha256"]
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert manifest["schema_version"] == max(m.version for m in MIGRATIONS)
    assert manifest["access_log_head"] == dict(
        zip(("seq", "hash"), store.audit_head(), strict=True)
    )
    copied = sqlite3.connect(target / "reccontrol.sqlite3")
    assert copied.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 3
    assert copied.execute("SELECT COUNT(*) FROM access_log").fetchone()[0] == 4
    copied.close()
    # Never the secrets: neither the YAML nor any value it points to.
    secrets = [value.encode() for value in ENV.values()]
    secrets += [p.read_bytes().strip() for p in (path.parent / "access").glob("*.token")]
    for file in target.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert not any(secret in data for secret in secrets), file
    assert not list(target.rglob("*.yaml"))


def test_backup_is_online_and_consistent(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """Taken while a writer holds an open transaction, the backup neither waits for
    it nor contains its uncommitted rows."""
    path, config, _store, _ = site
    writer = sqlite3.connect(config.store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM recordings")
    done = threading.Event()
    outcome: list[Result] = []

    def take() -> None:
        outcome.append(invoke("backup", "-c", str(path), "--to", str(tmp_path / "b")))
        done.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert done.wait(30), "the backup waited for the writer"
    writer.execute("ROLLBACK")
    writer.close()
    thread.join()
    assert outcome[0].exit_code == 0, outcome[0].output
    copied = sqlite3.connect(tmp_path / "b" / "reccontrol.sqlite3")
    assert copied.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 3
    copied.close()


def test_backup_refuses_a_folder_in_use(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    target = tmp_path / "used"
    target.mkdir()
    (target / "x").write_text("x")
    result = invoke("backup", "-c", str(site[0]), "--to", str(target))
    assert result.exit_code == 1
    assert f"{target} is not empty" in result.output


def test_restore_check_passes_on_a_sound_backup_without_touching_the_live_site(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    path, config, _, _ = site
    invoke("backup", "-c", str(path), "--to", str(tmp_path / "b"))
    before_live, before_backup = live_state(config), digest(tmp_path / "b" / "reccontrol.sqlite3")
    result = invoke("restore", "-c", str(path), "--check", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "access log intact: 4 entries" in result.output
    assert "vault: 3 of 3 file(s) match their SHA-256" in result.output
    assert live_state(config) == before_live
    assert digest(tmp_path / "b" / "reccontrol.sqlite3") == before_backup
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "manifest.json",
        "reccontrol.sqlite3",
        "vault",
    ]


def test_restore_check_names_a_damaged_recording(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    path = site[0]
    invoke("backup", "-c", str(path), "--to", str(tmp_path / "b"))
    victim = sorted((tmp_path / "b" / "vault").iterdir())[1]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = invoke("restore", "-c", str(path), "--check", str(tmp_path / "b"))
    assert result.exit_code == 3
    assert f"problem: {victim.name}: SHA-256 differs from the manifest (damaged)" in result.output


def test_restore_check_catches_an_edited_access_log_S3(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S3: an access-log entry edited in the backup's store breaks the chain."""
    path = site[0]
    invoke("backup", "-c", str(path), "--to", str(tmp_path / "b"))
    copy = sqlite3.connect(tmp_path / "b" / "reccontrol.sqlite3", isolation_level=None)
    copy.execute("DROP TRIGGER access_log_no_update")
    copy.execute("UPDATE access_log SET purpose = 'nothing to see' WHERE seq = 2")
    copy.close()
    result = invoke("restore", "-c", str(path), "--check", str(tmp_path / "b"))
    assert result.exit_code == 3
    assert "problem: access log broken at entry 2" in result.output


def test_restore_check_with_a_vault_held_elsewhere(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """--no-audio lists the files only; --vault checks a copy of the vault kept by other
    means, and names a file that is missing there."""
    path, _config, _, vault = site
    result = invoke("backup", "-c", str(path), "--to", str(tmp_path / "b"), "--no-audio")
    assert "3 vault file(s) listed, not copied" in result.output
    assert not (tmp_path / "b" / "vault").exists()
    result = invoke(
        "restore", "-c", str(path), "--check", str(tmp_path / "b"), "--vault", str(vault.vault_dir)
    )
    assert result.exit_code == 0, result.output
    gone = sorted(vault.vault_dir.iterdir())[0]
    gone.unlink()
    result = invoke(
        "restore", "-c", str(path), "--check", str(tmp_path / "b"), "--vault", str(vault.vault_dir)
    )
    assert result.exit_code == 3
    assert f"{gone.name}: listed in the manifest, missing from" in result.output


# -- upgrades --------------------------------------------------------------------------
def test_run_applies_pending_migrations_at_start(tmp_path: Path) -> None:
    """A store left by an older reccontrol is brought up to date before the daemon
    runs, and the log says which migrations ran."""
    from controller.commands.startup import upgrade_at_start

    path = tmp_path / "store.sqlite3"
    old = SqliteStore.open(path, migrate=False)
    old.migrate(MIGRATIONS[:2])
    old.close()
    assert upgrade_at_start(path) == [m.version for m in MIGRATIONS[2:]]
    store = SqliteStore.open(path, migrate=False)
    assert store.schema_version() == max(m.version for m in MIGRATIONS)
    store.close()
    assert upgrade_at_start(path) == []


def test_run_refuses_a_store_newer_than_it_knows(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """A store written by a newer reccontrol stops `reccontrol run` before anything
    starts, with a message saying what to do, exit status 4, and the store unchanged."""
    path, config, store, _ = site
    store.db.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 'x')")
    before = digest(config.store.path)
    result = invoke("run", "-c", str(path))
    assert result.exit_code == 4, result.output
    assert "schema version 99, which this reccontrol does not know" in result.output
    assert "Upgrade reccontrol, or restore a backup taken before the upgrade" in result.output
    assert digest(config.store.path) == before
