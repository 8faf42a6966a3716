"""Backups of a site, and their check before a restore.

A backup folder holds:

- ``reccontrol.sqlite3``: a consistent copy of the store, taken online with SQLite's
  backup API from a read-only connection (the daemon goes on writing meanwhile);
- ``vault/``: a copy of each recording file (0600), unless left out;
- ``manifest.json``: what the copy is (schema version, access-log head, the store
  copy's SHA-256, a digest of the rows of each table that decides what is recorded and
  kept) and every vault file with its size and SHA-256, with the recording it belongs
  to; signed with the audit key (see :mod:`controller.store.backup_manifest`).

Never the secrets: no YAML, no key, no password, no credential file is copied. The
store holds caller numbers only as keyed hashes and the access log's HMAC signatures,
not their keys.

The backup is written only into a folder of this user's own, never through a link, and
reads each recording through the vault's checks: a link or a stranger's file planted in
the vault is refused, not copied. Checking a backup reads the backup alone (the store
copy through a scratch copy), only the files of its fixed names, never through a link,
so the live site is never touched. Everything here blocks: it runs in the CLI, never on
the daemon's event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from controller import __version__
from controller.audit.chain import Verdict
from controller.recordings.vault import (
    CHUNK,
    LocalVault,
    VaultError,
    VaultFileRefused,
    copy_hashed,
)
from controller.secrets import Secret
from controller.store.backup_manifest import (
    DIGESTED_TABLES,
    MANIFEST,
    STORE_COPY,
    VAULT_COPY,
    Manifest,
    ManifestError,
    TableDigest,
    VaultEntry,
    parse_text,
    sign,
    signature_problem,
)
from controller.store.migrations import MIGRATIONS
from controller.store.sqlite import SqliteStore, StoreError

# A manifest lists one line per vault file: far below this even for millions of them.
MAX_MANIFEST_BYTES = 1 << 30
NO_KEY = (
    "this site has no audit.checkpoint_key: the manifest is not signed, so the backup "
    "cannot be authenticated (whoever can write it could rewrite it and its manifest)"
)
NO_KEY_TO_CHECK = (
    "this site has no audit.checkpoint_key: the backup cannot be authenticated; the checks "
    "below show it is consistent, not that it was not rewritten together with its manifest"
)


class BackupError(Exception):
    error_id = "backup-error"


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


def _private_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


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


def _sqlite_uri(path: Path) -> str:
    """A read-only URI for ``path``: its ``?``, ``#`` or ``%`` are escaped, not read as
    URI syntax."""
    return f"{path.absolute().as_uri()}?mode=ro"


def _check_live_store(live: Path) -> None:
    """The store copied must be the site's own file: SQLite follows links, so a link
    planted at ``store.path`` would have another database copied out."""
    try:
        info = os.lstat(live)
    except FileNotFoundError:
        raise BackupError(f"no store at {live}") from None
    if stat.S_ISLNK(info.st_mode):
        raise BackupError(f"the store {live} is a symbolic link; not copied")
    if not stat.S_ISREG(info.st_mode):
        raise BackupError(f"the store {live} is not a regular file; not copied")
    folder_owner = os.stat(live.parent).st_uid
    if info.st_uid != folder_owner:
        raise BackupError(
            f"the store {live} belongs to uid {info.st_uid}, not to the owner of its folder "
            f"(uid {folder_owner}); not copied"
        )


def copy_store(live: Path, target: Path) -> None:
    """SQLite's online backup, from a read-only connection: it never writes to the live
    store and sees one committed state of it."""
    _check_live_store(live)
    try:
        source = sqlite3.connect(_sqlite_uri(live), uri=True)
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


@contextlib.contextmanager
def _read_only(store_copy: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(_sqlite_uri(store_copy), uri=True)
    try:
        yield conn
    finally:
        conn.close()


def _file_rows(store_copy: Path) -> dict[str, dict[str, Any]]:
    """Vault file name -> recording row, from the backup's snapshot."""
    with _read_only(store_copy) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT id, path, sha256, state FROM recordings WHERE path IS NOT NULL"
        ).fetchall()
    return {Path(row["path"]).name: dict(row) for row in rows}


def _snapshot_facts(store_copy: Path) -> tuple[int, tuple[int, str]]:
    """Schema version and access-log head of a store copy, read without writing to it."""
    try:
        with _read_only(store_copy) as conn:
            version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"the store copy cannot be read: {exc}") from None
    return int(version or 0), (int(head[0]), str(head[1])) if head else (0, "")


def _row_bytes(columns: list[str], row: tuple[Any, ...]) -> bytes:
    """One row in a canonical form: column names and values, bytes as hex."""
    pairs = [[name, {"blob": v.hex()} if isinstance(v, bytes) else v] for name, v in zip(
        columns, row, strict=True
    )]
    return json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def table_digest(conn: sqlite3.Connection, table: str) -> TableDigest:
    """SHA-256 of a table's rows in primary-key order (every column as a tie-break):
    it depends on the rows only, not on how the file stores them."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    if not info:
        raise sqlite3.OperationalError(f"no table {table}")
    columns = [str(col[1]) for col in info]
    keys = [str(col[1]) for col in sorted(info, key=lambda c: c[5]) if col[5] > 0]
    order = ", ".join(f'"{name}"' for name in keys + columns)
    digest = hashlib.sha256()
    rows = 0
    # Names from DIGESTED_TABLES and the table's own schema, never from input.
    for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):  # noqa: S608
        digest.update(_row_bytes(columns, row))
        rows += 1
    return TableDigest(rows, digest.hexdigest())


def table_digests(store_copy: Path) -> dict[str, TableDigest]:
    try:
        with _read_only(store_copy) as conn:
            return {table: table_digest(conn, table) for table in DIGESTED_TABLES}
    except sqlite3.Error as exc:
        raise BackupError(f"the store copy cannot be read: {exc}") from None


def _copy_to_file(source: BinaryIO, target: Path) -> tuple[int, str]:
    with os.fdopen(_private_file(target), "wb") as out:
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
    schema_version, head = _snapshot_facts(store_copy)
    tables = table_digests(store_copy)
    rows = _file_rows(store_copy)
    files: list[VaultEntry] = []
    notes: list[str] = [] if key is not None else [NO_KEY]
    refused: list[str] = []
    if copy_audio:
        (folder / VAULT_COPY).mkdir(mode=0o700)
    for name in _vault_names(vault.vault_dir):
        try:
            with vault.reader(vault.vault_dir / name) as source:
                if copy_audio:
                    size, digest = _copy_to_file(source, folder / VAULT_COPY / name)
                else:
                    counter = _Counter()
                    digest = copy_hashed(source, counter, name)
                    size = counter.size
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
        files.append(VaultEntry(name, size, digest, row["id"] if row else None))
    manifest = Manifest(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        reccontrol_version=__version__,
        schema_version=schema_version,
        store_file=STORE_COPY,
        store_sha256=_sha256_of_file(store_copy),
        tables=tables,
        access_log_head=head,
        audio_copied=copy_audio,
        vault=tuple(files),
        signature=None,
    )
    if key is not None:
        manifest = _signed(manifest, key)
    with os.fdopen(_private_file(folder / MANIFEST), "w", encoding="utf-8") as out:
        json.dump(manifest.to_json(), out, indent=2, sort_keys=True)
        out.write("\n")
    recordings = sum(1 for row in rows.values() if row["state"] == "stored")
    return BackupSummary(
        folder, schema_version, recordings, len(files), copy_audio, tuple(notes), tuple(refused)
    )


def _signed(manifest: Manifest, key: Secret) -> Manifest:
    return replace(manifest, signature=sign(manifest.body(), key))


# -- the check before a restore --------------------------------------------------------
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


class _NotPlain(Exception):
    """A file of the backup that is a link or not a regular file: never read."""


@contextlib.contextmanager
def _open_plain(path: Path) -> Iterator[BinaryIO]:
    """A file of the backup opened for reading, never through a link, and only if it is
    a regular file: a link planted in a backup would have the check read (and vouch
    for) a file elsewhere, the live store say."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotPlain(f"{path} is a symbolic link; not read") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotPlain(f"{path} is not a regular file; not read")
    with os.fdopen(fd, "rb") as source:
        yield source


def _sha256_of_file(path: Path) -> str:
    with _open_plain(path) as source:
        digest = hashlib.sha256()
        while block := source.read(CHUNK):
            digest.update(block)
        return digest.hexdigest()


def read_manifest(folder: Path) -> Manifest:
    """The backup's manifest, or :class:`ManifestError` saying what is wrong with it."""
    path = folder / MANIFEST
    try:
        with _open_plain(path) as source:
            data = source.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing: not a reccontrol backup") from None
    except _NotPlain as exc:
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
        with _open_plain(store_copy) as source:
            digest = hashlib.sha256()
            while block := source.read(CHUNK):
                digest.update(block)
            if digest.hexdigest() != manifest.store_sha256:
                report.problems.append(f"{STORE_COPY}: SHA-256 differs from the manifest")
            with _scratch_copy(source) as scratch:
                _check_store(scratch, manifest, key, vault or folder / VAULT_COPY, report)
    except FileNotFoundError:
        report.problems.append(f"{store_copy} is missing")
    except _NotPlain as exc:
        report.problems.append(str(exc))
    except OSError as exc:
        report.problems.append(f"{store_copy} cannot be read: {exc.strerror or exc}")
    return report


def _check_tables(scratch: Path, manifest: Manifest, report: CheckReport) -> None:
    """Each digested table's rows against the manifest: a store copy edited (objections
    deleted, expiries moved) differs here whatever was done to the file's hash."""
    try:
        found = table_digests(scratch)
    except BackupError as exc:
        report.problems.append(str(exc))
        return
    for table in DIGESTED_TABLES:
        recorded = manifest.tables.get(table)
        if recorded is None:
            report.problems.append(f"table {table}: no digest in the manifest")
        elif recorded != found[table]:
            report.problems.append(
                f"table {table}: its rows differ from the manifest's digest "
                f"({found[table].rows} row(s), the manifest says {recorded.rows})"
            )
    report.facts.append(f"tables: {len(DIGESTED_TABLES)} checked against their digests")


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
    report.facts.append(f"store copy: schema version {version}, integrity ok")
    if verdict.ok:
        report.facts.append(f"access log {verdict.describe()}")
    else:
        report.problems.append(f"access log {verdict.describe()}")
    if manifest.access_log_head != tuple(head):
        report.problems.append("access-log head differs from the one the manifest recorded")
    _check_tables(scratch, manifest, report)
    try:
        rows = _file_rows(scratch)
    except sqlite3.Error as exc:
        report.problems.append(f"store copy cannot be read: {exc}")
        return
    _check_vault(manifest, rows, vault, report)


def _file_problem(path: Path, entry: VaultEntry, vault: Path) -> str:
    """What is wrong with one vault file of the backup, or ""."""
    try:
        if _sha256_of_file(path) != entry.sha256:
            return f"{entry.name}: SHA-256 differs from the manifest (damaged)"
    except FileNotFoundError:
        return f"{entry.name}: listed in the manifest, missing from {vault}"
    except _NotPlain as exc:
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
        if row is not None and row["sha256"] and row["sha256"] != entry.sha256:
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
