"""The check of a backup before a restore.

Checking a backup reads the backup alone (the store copy through a scratch copy), only
the files of its fixed names, never through a link, so the live site is never touched.
It blocks: it runs in the CLI, never on the daemon's event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from controller.audit.chain import Verdict
from controller.recordings.vault import CHUNK
from controller.secrets import Secret
from controller.store.backup_files import BackupError, NotPlainFile, open_plain, sha256_of_file
from controller.store.backup_manifest import (
    MANIFEST,
    STORE_COPY,
    VAULT_COPY,
    Manifest,
    ManifestError,
    VaultEntry,
    digested_tables,
    parse_text,
    signature_problem,
)
from controller.store.backup_store_copy import file_rows, table_digests
from controller.store.migrations import MIGRATIONS
from controller.store.sqlite import SqliteStore, StoreError

# A manifest lists one line per vault file: far below this even for millions of them.
MAX_MANIFEST_BYTES = 1 << 30
NO_KEY_TO_CHECK = (
    "this site has no audit.checkpoint_key: the backup cannot be authenticated; the checks "
    "below show it is consistent, not that it was not rewritten together with its manifest"
)


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    authenticated: bool = False
    """The manifest's signature matched the audit key."""

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


def read_manifest(folder: Path) -> Manifest:
    """The backup's manifest, or :class:`ManifestError` saying what is wrong with it."""
    path = folder / MANIFEST
    try:
        with open_plain(path) as source:
            data = source.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing: not a reccontrol backup") from None
    except NotPlainFile as exc:
        raise ManifestError(str(exc)) from None
    except OSError as exc:
        raise ManifestError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{MANIFEST}: not UTF-8 text") from None
    return parse_text(text)


def _authenticate(manifest: Manifest, key: Secret | None, report: CheckReport) -> None:
    if key is None:
        report.warnings.append(NO_KEY_TO_CHECK)
        return
    problem = signature_problem(manifest, key)
    if problem:
        report.problems.append(problem)
        return
    report.authenticated = True
    report.facts.append("manifest: signed with the audit key")


@contextlib.contextmanager
def _scratch_copy(source: IO[bytes]) -> Iterator[Path]:
    """The store copy, copied again from the file opened and hashed: opening a database
    may write to it (WAL set-up), and a check must leave the backup as it found it."""
    with tempfile.TemporaryDirectory(prefix="reccontrol-check-") as scratch:
        target = Path(scratch) / STORE_COPY
        source.seek(0)
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        yield target


def check_backup(folder: Path, *, key: Secret | None, vault: Path | None = None) -> CheckReport:
    """Verifies a backup: the manifest's signature, the store copy (integrity, schema,
    table digests, access-log chain and head), and each vault file's SHA-256 against the
    manifest and the store's row. ``vault`` names a copy of the vault held elsewhere; by
    default the backup's own. Only the fixed names of the backup folder are read, never
    a path taken from the manifest, never through a link."""
    report = CheckReport()
    try:
        manifest = read_manifest(folder)
    except ManifestError as exc:
        report.problems.append(f"{exc.error_id}: {exc}")
        return report
    _authenticate(manifest, key, report)
    if manifest.store_file != STORE_COPY:
        report.problems.append(
            f"the manifest names the store copy {manifest.store_file!r}; a backup's store "
            f"copy is always {STORE_COPY}: refused"
        )
    store_copy = folder / STORE_COPY
    try:
        with open_plain(store_copy) as source:
            digest = hashlib.sha256()
            while block := source.read(CHUNK):
                digest.update(block)
            if digest.hexdigest() != manifest.store_sha256:
                report.problems.append(f"{STORE_COPY}: SHA-256 differs from the manifest")
            with _scratch_copy(source) as scratch:
                _check_store(scratch, manifest, key, vault or folder / VAULT_COPY, report)
    except FileNotFoundError:
        report.problems.append(f"{store_copy} is missing")
    except NotPlainFile as exc:
        report.problems.append(str(exc))
    except OSError as exc:
        report.problems.append(f"{store_copy} cannot be read: {exc.strerror or exc}")
    return report


def _check_tables(scratch: Path, manifest: Manifest, report: CheckReport) -> None:
    """Each digested table's rows against the manifest: a store copy edited (objections
    deleted, expiries moved) differs here whatever was done to the file's hash."""
    expected = digested_tables(manifest.schema_version)
    try:
        found = table_digests(scratch, manifest.schema_version)
    except BackupError as exc:
        report.problems.append(str(exc))
        return
    for table in expected:
        recorded = manifest.tables.get(table)
        if recorded is None:
            report.problems.append(f"table {table}: no digest in the manifest")
        elif recorded != found[table]:
            report.problems.append(
                f"table {table}: its rows differ from the manifest's digest "
                f"({found[table].rows} row(s), the manifest says {recorded.rows})"
            )
    report.facts.append(f"tables: {len(expected)} checked against their digests")


def _check_store(
    scratch: Path, manifest: Manifest, key: Secret | None, vault: Path, report: CheckReport
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
    if version != manifest.schema_version:
        report.problems.append(
            f"store copy has schema version {version}, the manifest says "
            f"{manifest.schema_version}: the copy is not the one backed up"
        )
    report.facts.append(f"store copy: schema version {version}, integrity ok")
    if verdict.ok:
        report.facts.append(f"access log {verdict.describe()}")
    else:
        report.problems.append(f"access log {verdict.describe()}")
    if manifest.access_log_head != tuple(head):
        report.problems.append("access-log head differs from the one the manifest recorded")
    _check_tables(scratch, manifest, report)
    try:
        rows = file_rows(scratch)
    except sqlite3.Error as exc:
        report.problems.append(f"store copy cannot be read: {exc}")
        return
    _check_vault(manifest, rows, vault, report)


def _file_problem(path: Path, entry: VaultEntry, vault: Path) -> str:
    """What is wrong with one vault file of the backup, or ""."""
    try:
        if sha256_of_file(path) != entry.sha256:
            return f"{entry.name}: SHA-256 differs from the manifest (damaged)"
    except FileNotFoundError:
        return f"{entry.name}: listed in the manifest, missing from {vault}"
    except NotPlainFile as exc:
        return str(exc)
    except OSError as exc:
        return f"{entry.name}: cannot be read: {exc.strerror or exc}"
    return ""


def _check_vault(
    manifest: Manifest, rows: dict[str, dict[str, Any]], vault: Path, report: CheckReport
) -> None:
    listed = {entry.name: entry for entry in manifest.vault}
    checked = 0
    for name, entry in sorted(listed.items()):
        row = rows.get(name)
        # A sealed file's row keeps the hash of its plaintext (S10).
        audio = entry.audio_sha256 or entry.sha256
        if row is not None and row["sha256"] and row["sha256"] != audio:
            report.problems.append(
                f"{name}: the manifest's SHA-256 differs from the store's row {row['id']}"
            )
        problem = _file_problem(vault / name, entry, vault)
        if problem:
            report.problems.append(problem)
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
