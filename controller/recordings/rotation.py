"""Site key rotation and the migration of a plaintext vault (S10). Both blocking.

Rotation re-wraps every data key of the keyring under a new site key; no audio is read
or written. The new key is written first, durably, to ``<site_key_file>.new``; from
then on the keyring accepts entries wrapped by either key (see
:class:`~controller.recordings.keyring.FileSiteKeys`), so a rotation killed at any point
leaves everything readable by the daemon, and running it again carries on with the same
new key. Each entry is replaced whole (written beside, synced, renamed). Last, under the
keyring's exclusive lock (no new entry is being wrapped meanwhile), the stragglers are
re-wrapped and the new key file is renamed over the old one.

Migration seals, in place, each plaintext file of a vault that was kept unsealed: the
sealed copy is written beside the file, synced, read back and compared with the
plaintext's hash, then renamed over it. Killed at any step, every recording is readable,
sealed or not (a sealed copy not yet renamed is left as ``<name>.partial`` and written
again by the next run). It runs with the daemon stopped, so no purge removes a file it
is sealing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controller.recordings.keyring import (
    FileSiteKeys,
    Keyring,
    SiteKeyMissing,
    new_site_key_text,
    own_like_folder,
    parse_site_key,
    site_key_id,
    sync_folder,
    wrapped_by,
    write_private,
)
from controller.recordings.sealing import open_sealed, seal
from controller.recordings.vault import LocalVault
from controller.recordings.vault_errors import VaultError
from controller.recordings.vault_files import CHUNK, PARTIAL, copy_hashed
from controller.stoppoints import stop_point


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    """Entries re-wrapped by this run (an interrupted run's are not counted again)."""
    entries: int
    """Entries in the keyring when it finished, all wrapped by the new key but
    ``unknown``."""
    unknown: int
    """Entries wrapped by neither key: they were unreadable before and still are."""
    new_key_id: str


def _read_key(path: Path) -> bytes:
    try:
        return parse_site_key(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        raise SiteKeyMissing(f"the site key file {path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteKeyMissing(f"cannot read the site key file {path}: {exc}") from None
    except ValueError as exc:
        raise SiteKeyMissing(f"the site key file {path} {exc}") from None


def rotate(keyring: Keyring, key_file: Path) -> Rotation:
    """Re-wraps every data key under a new site key, then makes it the site key."""
    next_file = FileSiteKeys(key_file).next_path
    old = _read_key(key_file)
    if not next_file.exists():
        write_private(next_file, new_site_key_text().encode("ascii"))
    stop_point("rotation-new-key")
    new = _read_key(next_file)
    rewrapped = 0
    for key_id in keyring.ids():
        with keyring.locked(exclusive=True):
            done = keyring.rewrap(key_id, old, new)
        if done:
            rewrapped += 1
            stop_point("rotation-rewrapped")
    with keyring.locked(exclusive=True):
        # Entries wrapped by the old key since the pass above (the daemon took the
        # old key before the new file existed) are caught here.
        for key_id in keyring.ids():
            if keyring.rewrap(key_id, old, new):
                rewrapped += 1
        stop_point("rotation-finishing")
        os.rename(next_file, key_file)
        sync_folder(key_file.parent)
    ids = keyring.ids()
    return Rotation(rewrapped, len(ids), _foreign(keyring, ids, new), site_key_id(new).hex())


def _foreign(keyring: Keyring, ids: list[bytes], new: bytes) -> int:
    count = 0
    for key_id in ids:
        try:
            if wrapped_by(keyring.path_of(key_id).read_bytes()) != site_key_id(new):
                count += 1
        except (OSError, VaultError):
            count += 1
    return count


@dataclass(frozen=True)
class Migration:
    sealed: int
    already_sealed: int
    problems: tuple[str, ...]


def migrate(vault: LocalVault) -> Migration:
    """Seals every plaintext file of the vault in place; idempotent."""
    keyring = vault.keyring
    if keyring is None:
        raise SiteKeyMissing("the vault has no keyring: recordings.encryption is off")
    keyring.prepare()
    sealed = already = 0
    problems: list[str] = []
    for path in vault.files():
        if path.name.endswith(PARTIAL):
            continue
        if vault.is_sealed(path):
            already += 1
            continue
        try:
            _seal_in_place(vault, keyring, path)
        except (OSError, VaultError) as exc:
            problems.append(f"{path.name}: {getattr(exc, 'error_id', 'os-error')}: {exc}")
            continue
        sealed += 1
    return Migration(sealed, already, tuple(problems))


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def _blocks(source: BinaryIO) -> Iterator[bytes]:
    while block := source.read(CHUNK):
        yield block


def _seal_in_place(vault: LocalVault, keyring: Keyring, path: Path) -> None:
    partial = path.with_name(path.name + PARTIAL)
    partial.unlink(missing_ok=True)  # a run killed before its rename
    key_id, key = keyring.create()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with vault.raw_reader(path) as source:
            with os.fdopen(os.open(partial, flags, 0o600), "wb") as out:
                own_like_folder(out.fileno(), path.parent)
                digest, _ = seal(out, key, key_id, _blocks(source))
                out.flush()
                os.fsync(out.fileno())
        stop_point("migration-sealed")
        with partial.open("rb") as raw, open_sealed(raw, keyring.unwrap) as plain:
            if copy_hashed(plain, _Discard(), partial.name) != digest:
                raise VaultError(f"its sealed copy does not read back; {path.name} left as it was")
    except BaseException:
        partial.unlink(missing_ok=True)
        keyring.destroy(key_id)
        raise
    # The one step that changes the vault: the sealed copy replaces the plaintext whole.
    os.rename(partial, path)
    sync_folder(path.parent)
    stop_point("migration-renamed")
