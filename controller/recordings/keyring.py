"""The keyring: one data key per sealed vault file, each wrapped by the site key (S10).

Threat model. The vault's files are sealed (:mod:`controller.recordings.sealing`) so that
a copy of them -- a backup, a stolen disk, a folder read by mistake -- is noise without
the keyring *and* the site key. The keyring is a folder of small files, one per data
key (``<key id>.key``), each holding the data key encrypted with AES-256-GCM under the
site key (bound to the key id and to the site key's id). It lives outside the vault and
outside the store, so **backups never carry a data key**: when a recording is purged or
erased, its data key is destroyed (overwritten, unlinked, the folder synced) *before* its
file is removed, and every copy of the file taken earlier -- in any backup -- can no
longer be decrypted by anyone. The price: the keyring is as precious as the vault; lose
it (or the site key) and every sealed recording is lost, so it is kept on redundant
storage, never archived with the backups.

The site key (32 random bytes, written as 64 hexadecimal digits) comes from the
configuration: a file (``site_key_file``, a systemd credential) or an environment
variable. During a rotation (:mod:`controller.recordings.rotation`) a second file,
``<site_key_file>.new``, holds the next key: entries are wrapped by either, and both are
tried, so a rotation killed at any point leaves every recording readable.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.recordings.vault_errors import VaultError

SITE_KEY_BYTES = 32
SUFFIX = ".key"
NEXT_SUFFIX = ".new"
_ENTRY = struct.Struct(">4sB8s12s")
_MAGIC = b"RCDK"
_VERSION = 1
_LOCK = ".lock"


class KeyringError(VaultError):
    error_id = "vault-keyring-error"


class SiteKeyMissing(KeyringError):
    """No usable site key: sealed recordings cannot be opened (nothing is lost: configure
    the key that sealed them)."""

    error_id = "vault-site-key-missing"


class DataKeyDestroyed(KeyringError):
    """The file's data key is gone: the recording was purged, erased or redacted, and
    this copy of it can no longer be decrypted."""

    error_id = "vault-key-destroyed"


def site_key_id(key: bytes) -> bytes:
    """A short public name for a site key: which key wrapped an entry, safe to print."""
    return hashlib.sha256(b"reccontrol site key\0" + key).digest()[:8]


def parse_site_key(text: str) -> bytes:
    """The site key from its text form. Raises ValueError saying what is wrong."""
    value = text.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != SITE_KEY_BYTES:
        raise ValueError(
            f"must be {2 * SITE_KEY_BYTES} hexadecimal digits (a 256-bit key), "
            "e.g. from `openssl rand -hex 32`"
        )
    return key


def new_site_key_text() -> str:
    return secrets.token_hex(SITE_KEY_BYTES) + "\n"


def write_private(path: Path, data: bytes) -> None:
    """Writes ``path`` (mode 0600) whole or not at all: a temporary file beside it,
    synced, renamed over it, the folder synced."""
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        own_like_folder(fd, path.parent)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, path)
    sync_folder(path.parent)


def own_like_folder(fd: int, folder: Path) -> None:
    """Gives a new file the owner of its folder when root writes it (an admin's rotation
    or migration): the daemon, which owns the folder, must still read it."""
    if os.geteuid() != 0:
        return
    info = os.stat(folder)
    if info.st_uid != 0:
        os.fchown(fd, info.st_uid, info.st_gid)


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SiteKeys(Protocol):
    """Where the site keys come from; ``load`` is read again whenever an entry names a
    key not yet known (a rotation ran meanwhile). The first key wraps new entries."""

    def load(self) -> list[bytes]: ...


@dataclass(frozen=True)
class FixedSiteKeys:
    """Site keys given once (an environment variable, a test)."""

    keys: tuple[bytes, ...] = field(repr=False)  # never printed, as any secret
    source: str = "the configuration"

    def load(self) -> list[bytes]:
        if not self.keys:
            raise SiteKeyMissing(f"no site key in {self.source}")
        return list(self.keys)


@dataclass(frozen=True)
class FileSiteKeys:
    """The site key in a file, and the next one while a rotation runs."""

    path: Path

    @property
    def next_path(self) -> Path:
        return self.path.with_name(self.path.name + NEXT_SUFFIX)

    def load(self) -> list[bytes]:
        keys = []
        for path in (self.next_path, self.path):
            try:
                text = path.read_text(encoding="ascii")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise SiteKeyMissing(f"cannot read the site key file {path}: {exc}") from None
            try:
                keys.append(parse_site_key(text))
            except ValueError as exc:
                raise SiteKeyMissing(f"the site key file {path} {exc}") from None
        if not keys:
            raise SiteKeyMissing(f"the site key file {self.path} is missing")
        return keys


class Keyring:
    """The folder of wrapped data keys. Blocking: call from a worker thread."""

    def __init__(self, folder: Path, site_keys: SiteKeys) -> None:
        self.folder = folder
        self.site_keys = site_keys
        self._known: dict[bytes, bytes] = {}

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.chmod(0o700)

    def path_of(self, key_id: bytes) -> Path:
        return self.folder / f"{key_id.hex()}{SUFFIX}"

    def ids(self) -> list[bytes]:
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(SUFFIX) and not name.startswith("."):
                with contextlib.suppress(ValueError):
                    found.append(bytes.fromhex(name[: -len(SUFFIX)]))
        return found

    def first_id(self) -> bytes | None:
        """One entry's key id, or None for an empty keyring: read without listing the
        whole folder (a year of a large centre is a million entries)."""
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(SUFFIX) and not name.startswith("."):
                        with contextlib.suppress(ValueError):
                            return bytes.fromhex(name[: -len(SUFFIX)])
        except FileNotFoundError:
            pass
        return None

    def has_entries(self) -> bool:
        return self.first_id() is not None

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        """Entries are written and destroyed under a shared lock, re-wrapped under an
        exclusive one: no entry is wrapped by a key a rotation just retired, and none
        destroyed comes back rewritten."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Read-only and readable: flock needs no more, and whoever made the file first
        # (the daemon, or root running a rotation) does not lock the other out.
        fd = os.open(self.folder / _LOCK, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # -- entries -----------------------------------------------------------------------
    def create(self) -> tuple[bytes, bytes]:
        """A new data key, durably in the keyring before any byte is sealed with it.
        Returns ``(key id, key)``."""
        key_id = os.urandom(16)
        key = AESGCM.generate_key(bit_length=256)
        with self.locked(exclusive=False):
            # Read again: a rotation may have started since the last entry.
            current = self.site_keys.load()[0]
            write_private(self.path_of(key_id), wrap(current, key_id, key))
        return key_id, key

    def unwrap(self, key_id: bytes) -> bytes:
        """The data key ``key_id``. Raises :class:`DataKeyDestroyed` when it is gone,
        :class:`SiteKeyMissing` when no configured site key wrapped it."""
        try:
            entry = self.path_of(key_id).read_bytes()
        except FileNotFoundError:
            raise DataKeyDestroyed(
                f"data key {key_id.hex()} is not in the keyring {self.folder}: the "
                "recording was purged, erased or redacted, or the keyring is not this vault's"
            ) from None
        except OSError as exc:
            raise KeyringError(f"cannot read data key {key_id.hex()}: {exc.strerror}") from None
        wrapper = wrapped_by(entry)
        if wrapper not in self._known:
            self._known = {site_key_id(k): k for k in self.site_keys.load()}
        site_key = self._known.get(wrapper)
        if site_key is None:
            raise SiteKeyMissing(
                f"data key {key_id.hex()} is wrapped by site key {wrapper.hex()}, which is "
                "not configured (a lost or replaced site key)"
            )
        return unwrap(site_key, key_id, entry)

    def rewrap(self, key_id: bytes, old: bytes, new: bytes) -> bool:
        """Wraps entry ``key_id`` under ``new`` if ``old`` wraps it; returns whether it did.
        Call it under the exclusive lock: a destruction meanwhile would otherwise be
        undone by the rewritten entry."""
        path = self.path_of(key_id)
        try:
            entry = path.read_bytes()
        except FileNotFoundError:
            return False  # destroyed meanwhile
        if wrapped_by(entry) != site_key_id(old):
            return False
        write_private(path, wrap(new, key_id, unwrap(old, key_id, entry)))
        return True

    def destroy(self, key_id: bytes) -> bool:
        """Destroys a data key for good: overwritten, unlinked, the folder synced.
        Returns False when it was already gone."""
        return self.destroy_many([key_id]) == 1

    def destroy_many(self, key_ids: Iterable[bytes], spread: Spread | None = None) -> int:
        """Destroys data keys, the folder synced once for all: when this returns, none
        of them can come back after a power cut. Returns how many were there. Each is
        overwritten before it is unlinked; whether a disk keeps the old blocks (an SSD
        remaps them) is beyond any file system call: the unlink is what counts.
        ``spread``: runs the destruction of each over a few threads (the purge's)."""
        ids = list(key_ids)
        folder = os.fspath(self.folder)
        names = [f"{folder}/{key_id.hex()}{SUFFIX}" for key_id in ids]
        with self.locked(exclusive=False):
            done = spread(_destroy_entry, names) if spread else [_destroy_entry(n) for n in names]
            destroyed = sum(done)
            if destroyed:
                sync_folder(self.folder)
        return destroyed


Spread = Callable[[Callable[[str], bool], Sequence[str]], list[bool]]
"""Runs a function over items, maybe on several threads, results in the items' order."""


def _destroy_entry(path: str) -> bool:
    """Overwrites and unlinks one keyring entry; False when it was already gone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        os.pwrite(fd, bytes(os.fstat(fd).st_size), 0)
    finally:
        os.close(fd)
    os.unlink(path)
    return True


def wrapped_by(entry: bytes) -> bytes:
    if len(entry) < _ENTRY.size:
        raise KeyringError("a keyring entry is cut short")
    magic, version, wrapper, _ = _ENTRY.unpack_from(entry)
    if magic != _MAGIC or version != _VERSION:
        raise KeyringError("a keyring entry is not in a format this reccontrol reads")
    return bytes(wrapper)


def wrap(site_key: bytes, key_id: bytes, key: bytes) -> bytes:
    nonce = os.urandom(12)
    head = _ENTRY.pack(_MAGIC, _VERSION, site_key_id(site_key), nonce)
    return head + AESGCM(site_key).encrypt(nonce, key, head + key_id)


def unwrap(site_key: bytes, key_id: bytes, entry: bytes) -> bytes:
    head = entry[: _ENTRY.size]
    nonce = _ENTRY.unpack_from(entry)[3]
    try:
        return AESGCM(site_key).decrypt(nonce, entry[_ENTRY.size :], head + key_id)
    except InvalidTag:
        raise KeyringError(
            f"data key {key_id.hex()} fails its authentication (the entry was changed)"
        ) from None
