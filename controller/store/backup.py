"""Backups of a site.

A backup folder holds:

- ``reccontrol.sqlite3``: a consistent copy of the store, taken online with SQLite's
  backup API from a read-only connection (the daemon goes on writing meanwhile; see
  :mod:`controller.store.backup_store_copy`);
- ``vault/``: a copy of each recording file (0600), unless left out: a file sealed at
  rest (S10) is copied sealed, as stored, and no data key is ever copied, so a
  recording purged or erased after the backup cannot be decrypted from it;
- ``manifest.json``: what the copy is (schema version, access-log head, the store
  copy's SHA-256, a digest of the rows of each table that decides what is recorded and
  kept) and every vault file with its size and SHA-256, with the recording it belongs
  to; signed with the audit key (see :mod:`controller.store.backup_manifest`).

Never the secrets: no YAML, no key, no password, no credential file is copied. The
store holds caller numbers only as keyed hashes and the access log's HMAC signatures,
not their keys.

The backup is written only into a folder of this user's own, never through a link, and
reads each recording through the vault's checks: a link or a stranger's file planted in
the vault is refused, not copied. Checking a backup before a restore is
:mod:`controller.store.backup_check`. Everything here blocks: it runs in the CLI, never
on the daemon's event loop.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from controller import __version__
from controller.recordings.vault import (
    LocalVault,
    VaultError,
    VaultFileRefused,
    copy_hashed,
)
from controller.secrets import Secret
from controller.store.backup_files import BackupError, create_private_file, sha256_of_file
from controller.store.backup_manifest import (
    MANIFEST,
    STORE_COPY,
    VAULT_COPY,
    Manifest,
    VaultEntry,
    sign,
)
from controller.store.backup_store_copy import copy_store, file_rows, snapshot_facts, table_digests

NO_KEY = (
    "this site has no audit.checkpoint_key: the manifest is not signed, so the backup "
    "cannot be authenticated (whoever can write it could rewrite it and its manifest)"
)


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    schema_version: int
    recordings: int
    files: int
    audio_copied: bool
    notes: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    """Vault files the vault's checks refused (each ``error_id: why``): not copied."""


def _own_empty_folder(folder: Path) -> None:
    """Makes ``folder`` a new or empty folder of this user's, 0700, or raises.

    Never through a link (it would put the backup wherever the link points), never a
    folder of another user (its owner could read the backup or change it before a
    restore). The mode is set on what was opened, never through a path that could have
    been swapped."""
    try:
        info: os.stat_result | None = os.lstat(folder)
    except FileNotFoundError:
        info = None
    if info is None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            raise BackupError(
                f"{folder} appeared while the backup started; give it again"
            ) from None
    elif stat.S_ISLNK(info.st_mode):
        raise BackupError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}): a backup is never "
            "written through a link; give the folder itself"
        )
    elif not stat.S_ISDIR(info.st_mode):
        raise BackupError(f"{folder} exists and is not a folder")
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BackupError(f"{folder} was replaced while the backup started") from None
        raise BackupError(f"cannot open {folder}: {exc.strerror or exc}") from None
    try:
        owner, me = os.fstat(fd).st_uid, os.geteuid()
        if owner != me:
            raise BackupError(
                f"{folder} belongs to uid {owner}, not to this user (uid {me}): its owner "
                "could read the backup or change it before a restore; give a folder of "
                "your own"
            )
        # Looked into before the mode changes (a refused folder is left as it was) and
        # again after (nothing slipped in before others were shut out).
        for _ in range(2):
            if os.listdir(fd):
                raise BackupError(f"{folder} is not empty; give a new or empty folder")
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _copy_to_file(source: BinaryIO, target: Path) -> tuple[int, str]:
    with os.fdopen(create_private_file(target), "wb") as out:
        digest = copy_hashed(source, out, target.name)
        out.flush()
        os.fsync(out.fileno())
        return out.tell(), digest


class _Counter:
    """A sink that only counts: hashing a file listed, not copied."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, block: bytes) -> int:
        self.size += len(block)
        return len(block)


def _audio_sha256(vault: LocalVault, path: Path) -> str | None:
    """The SHA-256 of a sealed file's plaintext, read through its data key (proof that
    the copy opens today); None for a plaintext file."""
    if not vault.is_sealed(path):
        return None
    with vault.reader(path) as plain:
        return copy_hashed(plain, _Counter(), path.name)


def _vault_names(vault_dir: Path) -> list[str]:
    """Names in the vault folder that may be recordings, listed without following links
    (what each one is, the vault's checks decide when it is opened)."""
    try:
        entries = list(os.scandir(vault_dir))
    except FileNotFoundError:
        return []
    return sorted(
        e.name
        for e in entries
        if not e.name.endswith(".partial") and not e.is_dir(follow_symlinks=False)
    )


def take_backup(
    store_path: Path,
    vault: LocalVault,
    folder: Path,
    *,
    key: Secret | None,
    copy_audio: bool = True,
) -> BackupSummary:
    """Copies the store, then lists (and copies) the vault, into ``folder``; signs the
    manifest with ``key`` (the audit key), unsigned without one."""
    _own_empty_folder(folder)
    store_copy = folder / STORE_COPY
    copy_store(store_path, store_copy)
    schema_version, head = snapshot_facts(store_copy)
    tables = table_digests(store_copy, schema_version)
    rows = file_rows(store_copy)
    files: list[VaultEntry] = []
    notes: list[str] = [] if key is not None else [NO_KEY]
    refused: list[str] = []
    if copy_audio:
        (folder / VAULT_COPY).mkdir(mode=0o700)
    for name in _vault_names(vault.vault_dir):
        try:
            with vault.raw_reader(vault.vault_dir / name) as source:
                if copy_audio:
                    size, digest = _copy_to_file(source, folder / VAULT_COPY / name)
                else:
                    counter = _Counter()
                    digest = copy_hashed(source, counter, name)
                    size = counter.size
            audio = _audio_sha256(vault, vault.vault_dir / name)
        except VaultFileRefused as exc:
            refused.append(f"{exc.error_id}: {exc}")
            continue
        except VaultError as exc:
            if os.path.lexists(vault.vault_dir / name):
                raise BackupError(str(exc)) from None
            # Purged while the backup ran: not part of it.
            notes.append(f"{name}: removed from the vault while the backup ran")
            continue
        row = rows.get(name)
        files.append(VaultEntry(name, size, digest, row["id"] if row else None, audio))
    manifest = Manifest(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        reccontrol_version=__version__,
        schema_version=schema_version,
        store_file=STORE_COPY,
        store_sha256=sha256_of_file(store_copy),
        tables=tables,
        access_log_head=head,
        audio_copied=copy_audio,
        vault=tuple(files),
        signature=None,
    )
    if key is not None:
        manifest = _signed(manifest, key)
    with os.fdopen(create_private_file(folder / MANIFEST), "w", encoding="utf-8") as out:
        json.dump(manifest.to_json(), out, indent=2, sort_keys=True)
        out.write("\n")
    recordings = sum(1 for row in rows.values() if row["state"] == "stored")
    return BackupSummary(
        folder, schema_version, recordings, len(files), copy_audio, tuple(notes), tuple(refused)
    )


def _signed(manifest: Manifest, key: Secret) -> Manifest:
    return replace(manifest, signature=sign(manifest.body(), key))
