"""Backups of a site, and their check before a restore.

A backup folder holds:

- ``reccontrol.sqlite3``: a consistent copy of the store, taken online with SQLite's
  backup API from a read-only connection (the daemon goes on writing meanwhile);
- ``vault/``: a copy of each recording file (0600), unless left out;
- ``manifest.json``: what the copy is (schema version, access-log head, the store
  copy's SHA-256) and every vault file with its size and SHA-256, with the recording
  it belongs to.

Never the secrets: no YAML, no key, no password, no credential file is copied. The
store holds caller numbers only as keyed hashes and the access log's HMAC signatures,
not their keys.

Checking a backup reads the backup alone (the store copy through a scratch copy), so
the live site is never touched. Everything here blocks: it runs in the CLI, never on the
daemon's event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import __version__
from controller.audit.chain import Verdict
from controller.recordings.vault import CHUNK, sha256_of
from controller.secrets import Secret
from controller.store.migrations import MIGRATIONS
from controller.store.sqlite import SqliteStore, StoreError

MANIFEST = "manifest.json"
STORE_COPY = "reccontrol.sqlite3"
VAULT_COPY = "vault"
FORMAT = 1


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class VaultFile:
    name: str
    size: int
    sha256: str
    recording_id: str | None
    """The store row naming this file in the backup's snapshot, if any."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    schema_version: int
    recordings: int
    files: int
    audio_copied: bool
    notes: tuple[str, ...] = ()


def _private_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _empty_folder(folder: Path) -> None:
    if folder.exists():
        if not folder.is_dir():
            raise BackupError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise BackupError(f"{folder} is not empty; give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)


def copy_store(live: Path, target: Path) -> None:
    """SQLite's online backup, from a read-only connection: it never writes to the live
    store and sees one committed state of it."""
    if not live.is_file():
        raise BackupError(f"no store at {live}")
    try:
        source = sqlite3.connect(f"file:{live}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the store at {live}: {exc}") from None
    os.close(_private_file(target))
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        # One self-contained file: no -wal or -shm beside it.
        destination.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the store at {live}: {exc}") from None
    finally:
        destination.close()
        source.close()


def _file_rows(store_copy: Path) -> dict[str, dict[str, Any]]:
    """Vault file name -> recording row, from the backup's snapshot."""
    conn = sqlite3.connect(f"file:{store_copy}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT id, path, sha256, state FROM recordings WHERE path IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    return {Path(row["path"]).name: dict(row) for row in rows}


def _snapshot_facts(store_copy: Path) -> tuple[int, tuple[int, str]]:
    """Schema version and access-log head of a store copy, read without writing to it."""
    conn = sqlite3.connect(f"file:{store_copy}?mode=ro", uri=True)
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"the store copy cannot be read: {exc}") from None
    finally:
        conn.close()
    return int(version or 0), (int(head[0]), str(head[1])) if head else (0, "")


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, os.fdopen(_private_file(target), "wb") as out:
        while block := src.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def take_backup(
    store_path: Path, vault_dir: Path, folder: Path, *, copy_audio: bool = True
) -> BackupSummary:
    """Copies the store, then lists (and copies) the vault, into ``folder``."""
    _empty_folder(folder)
    store_copy = folder / STORE_COPY
    copy_store(store_path, store_copy)
    schema_version, (head_seq, head_hash) = _snapshot_facts(store_copy)
    rows = _file_rows(store_copy)
    files: list[VaultFile] = []
    notes: list[str] = []
    if copy_audio:
        (folder / VAULT_COPY).mkdir(mode=0o700)
    for path in sorted(p for p in vault_dir.iterdir() if p.is_file()) if vault_dir.is_dir() else []:
        if path.name.endswith(".partial"):
            continue
        try:
            if copy_audio:
                size, digest = _copy_hashed(path, folder / VAULT_COPY / path.name)
            else:
                size, digest = path.stat().st_size, sha256_of(path)
        except FileNotFoundError:
            # Purged while the backup ran: not part of it.
            notes.append(f"{path.name}: removed from the vault while the backup ran")
            continue
        row = rows.get(path.name)
        files.append(VaultFile(path.name, size, digest, row["id"] if row else None))
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reccontrol_version": __version__,
        "schema_version": schema_version,
        "store": {"file": STORE_COPY, "sha256": sha256_of(store_copy)},
        "access_log_head": {"seq": head_seq, "hash": head_hash},
        "audio_copied": copy_audio,
        "vault": [file.__dict__ for file in files],
    }
    with os.fdopen(_private_file(folder / MANIFEST), "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
        out.write("\n")
    recordings = sum(1 for row in rows.values() if row["state"] == "stored")
    return BackupSummary(folder, schema_version, recordings, len(files), copy_audio, tuple(notes))


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _opened:
    """A store copy opened without migrating; closed on exit."""

    def __init__(self, path: Path) -> None:
        self._store = SqliteStore.open(path, migrate=False)

    def __enter__(self) -> SqliteStore:
        return self._store

    def __exit__(self, *exc: object) -> None:
        self._store.close()


@contextlib.contextmanager
def _scratch_copy(store_copy: Path) -> Iterator[Path]:
    """The store copy, copied again: opening a database may write to it (WAL set-up),
    and a check must leave the backup as it found it."""
    with tempfile.TemporaryDirectory(prefix="reccontrol-check-") as scratch:
        target = Path(scratch) / STORE_COPY
        shutil.copyfile(store_copy, target)
        yield target


def check_backup(folder: Path, *, key: Secret | None, vault: Path | None = None) -> CheckReport:
    """Verifies a backup: the manifest, the store copy (integrity, schema, access-log
    chain and head), and each vault file's SHA-256 against the manifest and the store's
    row. ``vault`` names a copy of the vault held elsewhere; by default the backup's own.
    """
    report = CheckReport()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.problems.append(f"{folder / MANIFEST} is missing: not a reccontrol backup")
        return report
    except (OSError, ValueError) as exc:
        report.problems.append(f"{folder / MANIFEST} cannot be read: {exc}")
        return report
    if manifest.get("format") != FORMAT:
        report.problems.append(f"manifest format {manifest.get('format')!r} is not {FORMAT}")
        return report
    store_copy = folder / manifest["store"]["file"]
    if not store_copy.is_file():
        report.problems.append(f"{store_copy} is missing")
        return report
    if sha256_of(store_copy) != manifest["store"]["sha256"]:
        report.problems.append(f"{store_copy.name}: SHA-256 differs from the manifest")
    with _scratch_copy(store_copy) as scratch:
        _check_store(scratch, manifest, key, vault or folder / VAULT_COPY, report)
    return report


def _check_store(
    scratch: Path, manifest: dict[str, Any], key: Secret | None, vault: Path, report: CheckReport
) -> None:
    known = max(m.version for m in MIGRATIONS)
    try:
        with _opened(scratch) as store:
            integrity = store.integrity_check()
            if integrity != "ok":
                report.problems.append(f"store copy: integrity check failed: {integrity}")
                return
            version = store.schema_version()
            verdict: Verdict = store.verify_access_log(key)
            head = store.audit_head()
    except (StoreError, sqlite3.Error) as exc:
        report.problems.append(f"store copy cannot be read: {exc}")
        return
    if version > known:
        report.problems.append(
            f"store copy has schema version {version}, newer than this reccontrol knows "
            f"({known}): check it with the reccontrol that took it"
        )
    report.facts.append(f"store copy: schema version {version}, integrity ok")
    if verdict.ok:
        report.facts.append(f"access log {verdict.describe()}")
    else:
        report.problems.append(f"access log {verdict.describe()}")
    recorded = manifest.get("access_log_head", {})
    if [recorded.get("seq"), recorded.get("hash")] != list(head):
        report.problems.append("access-log head differs from the one the manifest recorded")
    rows = _file_rows(scratch)
    _check_vault(manifest, rows, vault, report)


def _check_vault(
    manifest: dict[str, Any], rows: dict[str, dict[str, Any]], vault: Path, report: CheckReport
) -> None:
    listed = {entry["name"]: entry for entry in manifest.get("vault", [])}
    checked = 0
    for name, entry in sorted(listed.items()):
        row = rows.get(name)
        if row is not None and row["sha256"] and row["sha256"] != entry["sha256"]:
            report.problems.append(
                f"{name}: the manifest's SHA-256 differs from the store's row {row['id']}"
            )
        path = vault / name
        if not path.is_file():
            report.problems.append(f"{name}: listed in the manifest, missing from {vault}")
            continue
        if sha256_of(path) != entry["sha256"]:
            report.problems.append(f"{name}: SHA-256 differs from the manifest (damaged)")
            continue
        checked += 1
    for name, row in sorted(rows.items()):
        if row["state"] == "stored" and name not in listed:
            report.problems.append(
                f"{name}: recording {row['id']} is stored in the store copy but its file is "
                "not in the backup (stored while the backup ran, or lost)"
            )
    if vault.is_dir():
        for path in sorted(vault.iterdir()):
            if path.name not in listed:
                report.problems.append(f"{path.name}: in {vault} but not in the manifest")
    report.facts.append(f"vault: {checked} of {len(listed)} file(s) match their SHA-256")
