"""Backups, their check before a restore, and store upgrades at start."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pwd
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from controller.cli import cli
from controller.config import Config
from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.store.migrations import MIGRATIONS
from tests.sites import (
    ENV,
    add_recording,
    load_site,
    old_log_entry,
    open_site,
    site_config,
    write_site,
)

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
    target.chmod(0o755)
    (target / "x").write_text("x")
    result = invoke("backup", "-c", str(site[0]), "--to", str(target))
    assert result.exit_code == 1
    assert f"{target} is not empty" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # left as it was


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


# -- an authenticated manifest (S3, S7) ------------------------------------------------
def take(site: tuple[Path, Config, SqliteStore, LocalVault], folder: Path) -> dict[str, Any]:
    result = invoke("backup", "-c", str(site[0]), "--to", str(folder))
    assert result.exit_code == 0, result.output
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def rewrite(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def check(path: Path, folder: Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["restore", "-c", str(path), "--check", str(folder)], env=env or ENV
    )


def test_restore_check_refuses_a_store_copy_edited_and_rehashed_S3_S7(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S3, S7: a store copy with the objections deleted and the expiries moved to 2099,
    re-hashed in the manifest, is refused: the rows of both tables differ from their
    digests; and with the digests recomputed as well, the manifest's signature (HMAC
    with the audit key) no longer matches."""
    path, config, store, _ = site
    store.remember_objection("ab" * 32, NOW, 365)
    folder = tmp_path / "b"
    manifest = take(site, folder)
    copy = sqlite3.connect(folder / "reccontrol.sqlite3", isolation_level=None)
    copy.execute("DELETE FROM objections")
    copy.execute("UPDATE recordings SET expires_at = '2099-12-31T00:00:00+00:00'")
    copy.close()
    manifest["store"]["sha256"] = digest(folder / "reccontrol.sqlite3")
    rewrite(folder, manifest)
    before = live_state(config)

    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert "problem: table objections: its rows differ from the manifest's digest" in (
        result.output
    )
    assert "problem: table recordings: its rows differ from the manifest's digest" in (
        result.output
    )
    assert "sound" not in result.output

    if "tables" in manifest:  # The digests are no secret: a tamperer recomputes them too.
        from controller.store.backup_store_copy import table_digests

        tables = table_digests(folder / "reccontrol.sqlite3", manifest["schema_version"])
        manifest["tables"] = {
            name: {"rows": t.rows, "sha256": t.sha256} for name, t in tables.items()
        }
        rewrite(folder, manifest)
    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert "problem: the manifest's signature does not match the audit key" in result.output
    assert "table objections" not in result.output
    assert live_state(config) == before


def test_restore_check_refuses_a_copy_without_its_legal_hold_S3_T6(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S3, T6: a backup copy whose legal hold was deleted (restored, it would let the
    purge delete a recording a dispute needs) is refused: the legal holds are digested in
    the signed manifest like the objections."""
    from controller.audit.chain import EntryDraft
    from controller.store.holds import NewHold

    path, _config, store, _ = site
    call_id = str(store.db.execute("SELECT call_id FROM recordings LIMIT 1").fetchone()[0])
    store.place_hold(
        NewHold(
            id="hold-1",
            call_id=call_id,
            reason="dispute over an order",
            reference="CASE-7",
            purpose="legal claim",
            placed_by="cdubois",
            placed_at=NOW,
            review_by=NOW + dt.timedelta(days=30),
        ),
        EntryDraft(
            at=NOW.isoformat(),
            actor="cdubois",
            role="dpo",
            action="hold_place",
            target=f"call:{call_id}",
            purpose="legal claim",
            result="ok",
            details={},
        ),
    )
    folder = tmp_path / "b"
    manifest = take(site, folder)
    copy = sqlite3.connect(folder / "reccontrol.sqlite3", isolation_level=None)
    assert copy.execute("DELETE FROM legal_holds").rowcount == 1
    copy.close()
    manifest["store"]["sha256"] = digest(folder / "reccontrol.sqlite3")
    rewrite(folder, manifest)

    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert "problem: table legal_holds: its rows differ from the manifest's digest" in (
        result.output
    )
    assert "sound" not in result.output


def test_restore_check_refuses_a_copy_without_a_transferred_segments_decision_S3_R3(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S3, R3: the decision taken again for the agent a call was transferred to is
    digested in the signed manifest like the call's first one: a copy without it (which
    would hide why that agent's segment was recorded) is refused."""
    from controller.records import Decision

    path, _config, store, _ = site
    call_id = str(store.db.execute("SELECT call_id FROM recordings LIMIT 1").fetchone()[0])
    store.record_decision(
        Decision(
            call_id=call_id,
            decided_at=NOW,
            record=True,
            reason="sampled",
            rate=0.5,
            draw=0.1,
            in_window=True,
            window="default",
            agent_id="david",
            segment=2,
        )
    )
    folder = tmp_path / "b"
    manifest = take(site, folder)
    assert manifest["tables"]["segment_decisions"]["rows"] == 1
    copy = sqlite3.connect(folder / "reccontrol.sqlite3", isolation_level=None)
    assert copy.execute("DELETE FROM segment_decisions").rowcount == 1
    copy.close()
    manifest["store"]["sha256"] = digest(folder / "reccontrol.sqlite3")
    rewrite(folder, manifest)

    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert "problem: table segment_decisions: its rows differ from the manifest's digest" in (
        result.output
    )


def test_restore_check_refuses_a_manifest_naming_the_live_store_S3(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S3: a manifest naming the live store (hash and all) is refused: the check reads
    the backup folder's own reccontrol.sqlite3, never a path from the manifest."""
    path, config, store, _ = site
    folder = tmp_path / "b"
    manifest = take(site, folder)
    # The live store as one file, the way a copy of it would be read.
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    manifest["store"] = {"file": str(config.store.path), "sha256": digest(config.store.path)}
    rewrite(folder, manifest)
    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert (
        f"problem: backup-manifest-malformed: manifest.json: store.file: "
        f"{str(config.store.path)!r} is not a plain file name"
    ) in result.output
    assert "sound" not in result.output


@pytest.mark.parametrize("name", ["../../etc/hostname", "/etc/hostname"])
def test_restore_check_refuses_a_file_name_out_of_the_backup_S3(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path, name: str
) -> None:
    """S3: a vault entry naming a file outside the backup (``../../etc/hostname``, an
    absolute path) is refused, naming the entry; the file is never vouched for."""
    path = site[0]
    folder = tmp_path / "b"
    manifest = take(site, folder)
    # What ../../etc/hostname reaches from the backup's vault/ folder.
    reached = tmp_path / "etc" / "hostname"
    reached.parent.mkdir()
    reached.write_text("pbx-1\n")
    target = reached if name.startswith("..") else Path(name)
    entry = {
        "name": name,
        "size": target.stat().st_size,
        "sha256": digest(target),
        "recording_id": None,
    }
    manifest["vault"].append(entry)
    rewrite(folder, manifest)
    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert f"manifest.json: vault[3].name: {name!r} is not a plain file name" in result.output


def test_restore_check_refuses_an_unsigned_manifest_on_a_keyed_site_S7(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S7: on a site with the audit key, a manifest without a signature is refused with
    a message saying why; checked with another key, a signed one is refused too."""
    path = site[0]
    folder = tmp_path / "b"
    manifest = take(site, folder)
    result = check(path, folder)
    assert result.exit_code == 0, result.output
    assert "manifest: signed with the audit key" in result.output
    assert f"backup in {folder}: sound" in result.output

    other = {**ENV, "RECCONTROL_AUDIT_KEY": "another-audit-key-0123456789"}
    result = check(path, folder, other)
    assert result.exit_code == 3, result.output
    assert "signature does not match the audit key" in result.output

    manifest["signature"] = None
    rewrite(folder, manifest)
    result = check(path, folder)
    assert result.exit_code == 3, result.output
    assert (
        "problem: the manifest is not signed although audit.checkpoint_key is configured: "
        "the backup cannot be authenticated"
    ) in result.output


def test_backup_of_a_site_without_audit_key_says_it_cannot_be_authenticated_S7(
    tmp_path: Path,
) -> None:
    """S7: without audit.checkpoint_key, the backup and its check both say the backup
    cannot be authenticated; the check still verifies what it can."""
    data = site_config(tmp_path / "site")
    del data["audit"]
    path = write_site(tmp_path / "site", data)
    config = load_site(path)
    store, vault = open_site(config)
    add_recording(store, vault, config, service="sales", created_at=NOW)
    store.close()
    result = invoke("backup", "-c", str(path), "--to", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "note: this site has no audit.checkpoint_key" in result.output
    assert "cannot be authenticated" in result.output
    result = check(path, tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "warning: this site has no audit.checkpoint_key: the backup cannot be " in (
        result.output
    )
    assert "vault: 1 of 1 file(s) match their SHA-256" in result.output
    assert f"backup in {tmp_path / 'b'}: consistent, but not authenticated" in result.output


# -- malformed manifests (R2) ----------------------------------------------------------
def _set(manifest: dict[str, Any], dotted: str, value: Any) -> bytes:
    *parents, last = dotted.split(".")
    node: Any = manifest
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return json.dumps(manifest).encode()


MALFORMED: dict[str, tuple[Any, str]] = {
    # case: (what to write, or a field to set to a value; what the message names)
    "not JSON": (b"{not json", "manifest.json: not JSON"),
    "not UTF-8": (b"\xff\xfe{}", "manifest.json: not UTF-8"),
    "a list": (b"[]", "manifest.json: the top level: must be an object, not list"),
    "keys missing": (
        b'{"format": 2, "vault": []}',
        "manifest.json: the top level: missing created_at",
    ),
    "store a string": (("store", "x"), "manifest.json: store: must be an object, not str"),
    "vault an object": (("vault", {"a": 1}), "manifest.json: vault: must be a list"),
    "size a string": (("vault.0.size", "big"), "manifest.json: vault[0].size: must be a whole"),
    "size true": (("vault.0.size", True), "manifest.json: vault[0].size: must be a whole"),
    "entry a number": (("vault.1", 7), "manifest.json: vault[1]: must be an object, not int"),
    "name missing": (("vault.0", {"size": 1}), "manifest.json: vault[0]: missing name"),
    "head seq negative": (("access_log_head.seq", -1), "access_log_head.seq: must be a whole"),
    "sha256 not hex": (("store.sha256", "zz"), "manifest.json: store.sha256: must be 64"),
    "NaN": (b'{"format": 2, "schema_version": NaN}', "manifest.json: not JSON"),
    "nested deep": (b"[" * 200_000, "manifest.json: nested too deeply"),
    "format 1": (("format", 1), "manifest.json: format: 1 is not 2"),
    "signature a list": (("signature", []), "manifest.json: signature: must be an object"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_restore_check_names_what_is_wrong_with_a_malformed_manifest_R2(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path, case: str
) -> None:
    """R2: a manifest that is not JSON, of the wrong types or with keys missing ends the
    check with exit status 3 and one line naming the field, never a traceback."""
    folder = tmp_path / "b"
    manifest = take(site, folder)
    what, expected = MALFORMED[case]
    data = what if isinstance(what, bytes) else _set(manifest, *what)
    (folder / "manifest.json").write_bytes(data)
    result = check(site[0], folder)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, result.output
    assert "problem: backup-manifest-malformed: " in result.output
    assert expected in result.output
    assert "Traceback" not in result.output


# -- where a backup is written (S4) ------------------------------------------------------
def test_backup_refuses_a_target_that_is_a_symlink_S4(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S4: --to naming a symlink (to an empty folder) is refused, naming the path and
    why; nothing is written where it points."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    result = invoke("backup", "-c", str(site[0]), "--to", str(link))
    assert result.exit_code == 1, result.output
    assert f"error: {link} is a symbolic link (to {real})" in result.output
    assert list(real.iterdir()) == []


def test_backup_refuses_a_folder_owned_by_another_user_S4(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path
) -> None:
    """S4: --to naming an empty folder owned by another user (``nobody``) is refused,
    naming the folder and its owner; the folder is left as it was."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root to create a folder owned by another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    theirs.chmod(0o755)
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(theirs, nobody, -1)
    result = invoke("backup", "-c", str(site[0]), "--to", str(theirs))
    assert result.exit_code == 1, result.output
    assert f"error: {theirs} belongs to uid {nobody}, not to this user" in result.output
    assert list(theirs.iterdir()) == []
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o755


# -- links planted in the vault (S4) ----------------------------------------------------
@pytest.mark.parametrize("audio", [True, False], ids=["copied", "listed"])
def test_backup_refuses_a_link_planted_in_the_vault_S4(
    site: tuple[Path, Config, SqliteStore, LocalVault], tmp_path: Path, audio: bool
) -> None:
    """S4: a recording's vault file replaced by a symlink to a file elsewhere is refused
    (``vault-file-refused``, exit status 3): nothing of the file pointed at is copied or
    listed, the other recordings are, and the check then names the recording missing."""
    path, _, _, vault = site
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$precious:19000::::::\n")
    victim = sorted(vault.vault_dir.iterdir())[0]
    victim.unlink()
    victim.symlink_to(secret)
    folder = tmp_path / "b"
    options = [] if audio else ["--no-audio"]
    result = invoke("backup", "-c", str(path), "--to", str(folder), *options)
    assert result.exit_code == 3, result.output
    assert (
        f"problem: vault-file-refused: recording file {victim.name} is a symbolic link; "
        "not read"
    ) in result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(e["name"] for e in manifest["vault"]) == sorted(
        p.name for p in vault.vault_dir.iterdir() if p != victim
    )
    for file in folder.rglob("*"):
        assert not file.is_symlink()
        if file.is_file():
            assert secret.read_bytes() not in file.read_bytes(), file
    if audio:
        assert not (folder / "vault" / victim.name).exists()
        result = check(path, folder)
        assert result.exit_code == 3
        assert f"{victim.name}: recording " in result.output
        assert "is stored in the store copy but its file is not in the backup" in result.output
