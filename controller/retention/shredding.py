"""Step 2 of a deletion for a whole batch (T4, S10): the files go, their data keys first.

The order is the one :meth:`~controller.recordings.vault.LocalVault.shred_file` keeps for
one file, kept for the batch as a whole:

1. each file's header is read once (is it there; sealed, and with which data key),
   when the deletion condemns its row (:mod:`controller.retention.deletion`) or here;
2. every data key of the batch is destroyed, and the keyring's folder synced once: from
   here on no copy of these files (a backup) can be decrypted by anyone;
3. the files are unlinked, with whatever Asterisk left of them in its own folder;
4. the caller syncs the vault's folder once (:meth:`LocalVault.sync`).

A kill between 2 and 3 leaves files nobody can read, which the next run removes (their
keys are already gone: step 2 finds nothing to destroy). Steps 1 to 3 run on the purge's
threads, each a few system calls per file, on paths as plain text: the Python work per
file is what bounds a purge of a million recordings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.recordings.keyring import SiteKeyMissing
from controller.recordings.names import recording_halves
from controller.recordings.sealing import HEADER_SIZE, is_sealed, read_header
from controller.recordings.vault import EXTENSIONS, LocalVault, VaultError
from controller.retention.file_work import FileWork
from controller.store.records import RecordingRow

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Removal:
    """What happened to one recording's files."""

    removed: bool
    """A file of it (in the vault, or left in Asterisk's folder) was there and is gone."""
    sealed: bool
    """Its vault file was sealed: its data key is gone (destroyed now or by a run that was
    interrupted), so no copy of it can be decrypted."""


Outcome = Removal | Exception
Key = bytes | Exception | None
"""A file's data key id, ``b""`` for a plaintext file, None for no file, or why the file
must stay."""


def read_key(path: str | None) -> Key:
    """The data key id in a vault file's header: ``b""`` for a plaintext file, None for no
    file; an exception for a header that cannot be read."""
    if path is None:
        return None
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return None
    except OSError:
        return b""  # not readable as a file (a link...): removed all the same, as before
    try:
        head = os.pread(fd, HEADER_SIZE, 0)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)
    if not is_sealed(head):
        return b""
    try:
        return read_header(head).key_id
    except VaultError as exc:
        return exc


def unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def leftovers(vault: LocalVault, rows: Sequence[RecordingRow]) -> dict[str, list[str]]:
    """Recording id -> the files Asterisk left of it in its folder (a recording that never
    reached the vault; both halves of a two-channel one, R5). The folder is listed once
    for the batch, rather than each name tried."""
    try:
        present = set(os.listdir(vault.asterisk_dir))
    except OSError:
        return {}
    if not present:
        return {}
    found: dict[str, list[str]] = {}
    folder = os.fspath(vault.asterisk_dir)
    for row in rows:
        suffix = EXTENSIONS.get(row.format, row.format)
        names = [f"{n}.{suffix}" for n in (row.name, *recording_halves(row.name))]
        mine = [f"{folder}/{n}" for n in names if n in present]
        if mine:
            found[row.id] = mine
    return found


def destroy_keys(
    vault: LocalVault,
    rows: Sequence[RecordingRow],
    work: FileWork,
    known: Mapping[str, Key] | None = None,
) -> list[Key]:
    """Steps 1 and 2 for ``rows`` (their paths already checked to be the vault's): per
    row, in order, its file's data key id (destroyed now, durably), ``b""`` for a
    plaintext file, None for no file, or why its file must stay (a sealed file whose key
    could not be destroyed). ``known``: recording id -> what :func:`read_key` gave for
    its file in this run already (the header is not read again)."""
    known = known or {}
    unread = [row for row in rows if row.id not in known]
    headers = work.map(read_key, [row.path for row in unread])
    read = {row.id: key for row, key in zip(unread, headers, strict=True)}
    keys = [known[row.id] if row.id in known else read[row.id] for row in rows]
    sealed = [k for k in keys if isinstance(k, bytes) and k]
    if not sealed:
        return keys
    try:
        if vault.keyring is None:
            raise SiteKeyMissing(
                "the file is sealed and no keyring is configured: its data key cannot be "
                "destroyed; not removed"
            )
        vault.keyring.destroy_many(sealed, work.map)
    except (OSError, VaultError) as exc:
        return [exc if isinstance(k, bytes) and k else k for k in keys]
    return keys


def remove_files(
    vault: LocalVault,
    rows: Sequence[RecordingRow],
    keys: Sequence[Key],
    work: FileWork,
) -> list[Outcome]:
    """Step 3 for ``rows``, once :func:`destroy_keys` gave their ``keys``: in the rows'
    order, what went, or why a file stays."""
    doomed = [
        row.path
        for row, key in zip(rows, keys, strict=True)
        if row.path is not None and isinstance(key, bytes)
    ]
    unlinked = iter(work.map(unlink, doomed))
    left = leftovers(vault, rows)
    outcomes: list[Outcome] = []
    for row, key in zip(rows, keys, strict=True):
        if isinstance(key, Exception):
            outcomes.append(key)
            continue
        removed = row.path is not None and key is not None and next(unlinked)
        for path in left.get(row.id, ()):
            removed = unlink(path) or removed
        outcomes.append(Removal(removed, bool(key)))
    return outcomes
