"""The local vault: recordings moved out of Asterisk's reach into a private folder.

Asterisk's recording folder can be read back through ARI (``/recordings/stored``), so a
finished file is moved at once into a folder only reccontrol can read (S4). Hashing,
serving and purging go through this one class, so another backend (object storage)
can replace it without touching the call flow. Every method blocks: call them from a
worker thread, never from the event loop.

Encryption at rest (S10). Given a :class:`~controller.recordings.keyring.Keyring`, the
vault seals every file it writes (:mod:`controller.recordings.sealing`: AES-256-GCM in
64 KiB chunks, a data key of its own per file) and :meth:`LocalVault.reader` decrypts on
the fly, seekable, so listening, Range requests, exports and the CLI read plaintext
through the one audited door. Threat model: whoever gets the vault's files alone (a
backup, a disk, a misplaced copy) reads nothing; whoever also gets the keyring and the
site key reads everything the keyring still holds a key for. Purge, erasure and
redaction destroy the data key *before* the file (:meth:`LocalVault.shred`), and backups
copy the sealed bytes without the keyring, so no copy taken before can be decrypted
afterwards. The hash the store keeps is of the plaintext, so receipts and the access log
compare across sealed and plaintext files. Plaintext files (a vault from before, or one
not yet migrated) are still read as they are; a sealed file with no keyring is refused
with :class:`~controller.recordings.keyring.SiteKeyMissing`, never read as noise.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from controller.recordings.keyring import Keyring, SiteKeyMissing
from controller.recordings.sealing import HEADER_SIZE, is_sealed, open_sealed
from controller.recordings.vault_errors import (
    VaultError,
    VaultFileRefused,
    VaultRefused,
    VaultUnusable,
)
from controller.recordings.vault_files import (
    CHUNK,
    AdoptedFile,
    Shredded,
    Sink,
    copy_fd,
    copy_hashed,
    incoming_problem,
    rename_checked,
    repaired_blocks,
    sealed_key_id,
    sha256_of,
    usable_layout,
    vault_file_problem,
    version_name,
    write_copy,
    write_whole,
)
from controller.recordings.wavfile import WavLayout, repair_header
from controller.stoppoints import stop_point

__all__ = [
    "CHUNK",
    "AdoptedFile",
    "IncomingFile",
    "LocalVault",
    "Sink",
    "VaultError",
    "VaultFileRefused",
    "VaultRefused",
    "VaultUnusable",
    "copy_hashed",
    "sha256_of",
]

# ARI format name -> file extension Asterisk writes.
EXTENSIONS = {"wav": "wav", "wav16": "wav16"}


@dataclass(frozen=True)
class IncomingFile:
    """A file in Asterisk's recording folder."""

    file: str
    stem: str
    suffix: str
    refused: str = ""
    """Why it must not be touched (a symlink, not a regular file, not Asterisk's), or ""."""


class LocalVault:
    def __init__(self, asterisk_dir: Path, vault_dir: Path, keyring: Keyring | None = None) -> None:
        self.asterisk_dir = asterisk_dir
        self.vault_dir = vault_dir
        self.keyring = keyring
        """Seals what the vault writes and opens sealed files; None: a plaintext vault."""
        self._home: Path | None = None
        """The vault folder resolved, once it exists: resolving it again for each file
        doubled the cost of the purge's checks, and a folder swapped for a link later
        cannot move the vault elsewhere."""

    def prepare(self) -> None:
        self.vault_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.vault_dir.chmod(0o700)
        self._home = self.vault_dir.resolve()
        if self.keyring is not None:
            self.keyring.prepare()

    def incoming_path(self, name: str, fmt: str) -> Path:
        return self.asterisk_dir / f"{name}.{EXTENSIONS.get(fmt, fmt)}"

    def adopt(self, name: str, fmt: str) -> AdoptedFile:
        """Moves Asterisk's finished file into the vault; returns its hash and length.

        The vault copy belongs to reccontrol with mode 0600, whoever wrote the original.
        Whoever can write Asterisk's folder could plant a symlink or a hard link there to
        have a file elsewhere moved, chowned or chmodded as root: the file is opened
        without following links and adopted only if it is a regular file, with one link,
        owned by Asterisk (the owner of the recording folder). Anything else raises
        :class:`VaultRefused` and is left where it is.
        """
        source = self.incoming_path(name, fmt)
        target = self.vault_dir / source.name
        stop_point("vaulting")
        try:
            return self._take_in(source, target)
        except FileNotFoundError:
            raise VaultError(f"recording file {source.name} is missing") from None
        except OSError as exc:
            raise VaultError(
                f"cannot adopt recording {source.name}: {exc.strerror or exc}",
                kept=os.path.lexists(source),
            ) from None

    def _take_in(self, source: Path, target: Path) -> AdoptedFile:
        if self.keyring is not None:
            return self._seal_in(source, target)
        return self._finish(target, self._move_in(source, target))

    def _seal_in(self, source: Path, target: Path) -> AdoptedFile:
        """Seals a checked file of Asterisk's folder into ``target``, its header's sizes
        made true on the way (as :meth:`_finish` does in place), then drops the original.
        Never renamed in: the plaintext must not reach the vault's folder."""
        fd = self._open_incoming(source)
        try:
            layout = usable_layout(fd, source.name)
            checked = os.fstat(fd)
            digest, size = self.write_blocks(target, repaired_blocks(fd, layout, checked.st_size))
            self._unlink_if_same(source, checked)
        finally:
            os.close(fd)
        return AdoptedFile(target, digest, layout.duration_seconds, size)

    @staticmethod
    def _finish(target: Path, layout: WavLayout) -> AdoptedFile:
        """Hashes and measures a file that arrived in the vault. The header of a file
        Asterisk never closed (it was killed) declares no audio: its true sizes are
        written in first, so the stored hash is of a file every player reads."""
        if layout.header_wrong:
            fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                repair_header(fd, layout)
            finally:
                os.close(fd)
        return AdoptedFile(
            path=target,
            sha256=sha256_of(target),
            duration_seconds=layout.duration_seconds,
            size=target.stat().st_size,
        )

    def _move_in(self, source: Path, target: Path) -> WavLayout:
        """Moves a checked file of Asterisk's folder to ``target`` in the vault, owned by
        reccontrol, mode 0600, and returns its layout. Raises :class:`VaultRefused` or
        :class:`VaultUnusable` (the file stays) or OSError (the file stays unless it was
        already moved)."""
        fd = self._open_incoming(source)
        try:
            layout = usable_layout(fd, source.name)
            checked = os.fstat(fd)
            me = os.geteuid()
            moved = False
            if checked.st_uid == me or me == 0:
                moved = rename_checked(source, target, checked)
            if not moved:
                # Another file system, or not ours and we cannot chown it: copy what
                # we opened into a file we own, then drop the original (the
                # controller runs in Asterisk's group to do so).
                copy_fd(fd, target)
                self._unlink_if_same(source, checked)
        finally:
            os.close(fd)
        return layout

    def _open_incoming(self, source: Path) -> int:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(source, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise VaultRefused(
                    f"recording file {source.name} is a symbolic link; not adopted"
                ) from None
            raise
        problem = incoming_problem(os.fstat(fd), self._asterisk_uid())
        if problem:
            os.close(fd)
            raise VaultRefused(f"recording file {source.name} {problem}; not adopted")
        return fd

    def _asterisk_uid(self) -> int:
        return os.stat(self.asterisk_dir).st_uid

    # -- orphans in Asterisk's folder --------------------------------------------------
    def incoming_files(self) -> list[IncomingFile]:
        """Every entry of Asterisk's recording folder, listed without following any link,
        each with what the vault's check says of it (``refused``)."""
        try:
            owner = self._asterisk_uid()
            entries = sorted(os.scandir(self.asterisk_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            stem, _, suffix = entry.name.partition(".")
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.append(IncomingFile(entry.name, stem, suffix, incoming_problem(info, owner)))
        return found

    def take_incoming(self, file: str, *, keep: bool) -> AdoptedFile:
        """Moves one file of Asterisk's folder into the vault (``keep``) or deletes it,
        through the same checks as :meth:`adopt` (on what was opened, never through a
        link: :class:`VaultRefused` leaves it in place). Returned ``path`` is the vault
        file, or the deleted file's old path; a deleted file's hash is of what was read."""
        if "/" in file or file in ("", ".", ".."):
            raise VaultError(f"{file!r} is not a file name")
        source = self.asterisk_dir / file
        target = self.vault_dir / file
        try:
            if keep:
                return self._take_in(source, target)
            fd = self._open_incoming(source)
            try:
                checked = os.fstat(fd)
                digest = hashlib.sha256()
                while block := os.read(fd, CHUNK):
                    digest.update(block)
                self._unlink_if_same(source, checked)
            finally:
                os.close(fd)
            return AdoptedFile(source, digest.hexdigest(), 0.0, 0)
        except FileNotFoundError:
            raise VaultError(f"recording file {file} is missing") from None
        except OSError as exc:
            raise VaultError(
                f"cannot take recording file {file}: {exc.strerror or exc}",
                kept=os.path.lexists(source),
            ) from None

    @staticmethod
    def _unlink_if_same(source: Path, checked: os.stat_result) -> None:
        info = os.lstat(source)
        if (info.st_dev, info.st_ino) == (checked.st_dev, checked.st_ino):
            source.unlink()

    def discard_incoming(self, name: str, fmt: str) -> bool:
        """Deletes a file Asterisk left behind for a discarded recording, if any."""
        try:
            self.incoming_path(name, fmt).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    # -- retention and access (T4, S4, C5) ---------------------------------------------
    def owns(self, path: Path) -> bool:
        """True when ``path`` names a file directly inside the vault folder. The store's
        paths are checked before any file is read or removed."""
        if path.name in ("", ".", ".."):
            return False
        try:
            return path.parent.resolve() == self._resolved_home()
        except OSError:
            return False

    def _resolved_home(self) -> Path:
        if self._home is not None:
            return self._home
        home = self.vault_dir.resolve()
        if self.vault_dir.is_dir():
            self._home = home
        return home

    def exists(self, path: Path) -> bool:
        return self.owns(path) and path.is_file()

    def shred(self, path: Path) -> bool:
        """Destroys the data key of a vault file (durably) and then removes the file; its
        copies (backups) can no longer be decrypted. True when a data key was destroyed;
        False for a plaintext file (removed all the same) or a file already gone."""
        return self.shred_file(path).key_destroyed

    def shred_file(self, path: Path) -> Shredded:
        """:meth:`shred`, saying also whether the file was there. The key goes first: a
        crash in between leaves a file nobody can read, which the next shred removes."""
        if not self.owns(path):
            raise VaultError(f"{path.name} is not a file of the vault; not removed")
        key_id = sealed_key_id(path)
        destroyed = False
        if key_id is not None:
            if self.keyring is None:
                raise SiteKeyMissing(
                    f"recording file {path.name} is sealed and no keyring is configured: "
                    "its data key cannot be destroyed; not removed"
                )
            destroyed = self.keyring.destroy(key_id)
        # The key's destruction is durable already; the removal is made durable by the
        # caller's :meth:`sync`, once for a batch (as a purge does).
        removed = self.delete(path)
        return Shredded(removed, destroyed or key_id is not None)

    def destroy_keys(self, paths: Iterable[Path]) -> int:
        """Destroys the data keys of these vault files at once, durably (one sync for
        all), before a batch removes them: :meth:`shred_file` then finds their keys gone.
        Returns how many were destroyed; plaintext and missing files count for none."""
        ids = [k for k in (sealed_key_id(p) for p in paths if self.owns(p)) if k is not None]
        if not ids:
            return 0
        if self.keyring is None:
            raise SiteKeyMissing("sealed recording files and no keyring: their keys stay")
        return self.keyring.destroy_many(ids)

    def write_version(self, path: Path, source: BinaryIO) -> AdoptedFile:
        """A new vault file beside ``path`` (never over it) holding ``source``'s
        plaintext, sealed with a data key of its own when the vault seals, written whole
        or not at all. ``path`` is left as it is: shred it once the store names the new
        file."""
        if not self.owns(path):
            raise VaultError(f"{path.name} is not a file of the vault; no version written")
        target = self.vault_dir / version_name(path.name)
        try:
            return write_copy(target, source, self.keyring)
        except OSError as exc:
            raise VaultError(f"cannot write a new version of {path.name}: {exc.strerror}") from None

    def write_blocks(self, target: Path, blocks: Iterable[bytes]) -> tuple[str, int]:
        """Writes vault file ``target`` whole or not at all, sealed with a new data key
        when the vault has a keyring; returns the plaintext's SHA-256 and length (see
        :func:`~controller.recordings.vault_files.write_whole`)."""
        return write_whole(target, blocks, self.keyring)

    def is_sealed(self, path: Path) -> bool:
        return sealed_key_id(path) is not None

    def remove(self, path: Path) -> bool:
        """Removes a vault file. Returns False when it was already gone. Refuses paths
        outside the vault."""
        if not self.owns(path):
            raise VaultError(f"{path.name} is not a file of the vault; not removed")
        return self.delete(path)

    def sync(self) -> None:
        """Makes removals durable: after a power cut, a removed file stays removed."""
        for folder in (self.vault_dir, self.asterisk_dir):
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)

    def files(self) -> list[Path]:
        """Every file in the vault folder, sorted by name."""
        try:
            return sorted(p for p in self.vault_dir.iterdir() if not p.is_dir())
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def reader(self, path: Path) -> Iterator[BinaryIO]:
        """A vault file's plaintext, seekable, after the checks of :meth:`raw_reader`: a
        sealed file is decrypted on the fly, one chunk at a time (a seek costs one chunk).
        A sealed file whose key is gone raises
        :class:`~controller.recordings.keyring.DataKeyDestroyed`, one without a usable
        site key :class:`~controller.recordings.keyring.SiteKeyMissing`, a changed one
        :class:`~controller.recordings.sealing.SealTampered` (when the changed chunk is
        read): all :class:`VaultError`. Everything that copies audio out opens it here."""
        with self.raw_reader(path) as raw:
            sealed = is_sealed(raw.read(HEADER_SIZE))
            raw.seek(0)
            if not sealed:
                yield raw
                return
            if self.keyring is None:
                raise SiteKeyMissing(
                    f"recording file {path.name} is sealed and no keyring is configured"
                )
            with open_sealed(raw, self.keyring.unwrap) as plain:
                yield plain

    @contextlib.contextmanager
    def raw_reader(self, path: Path) -> Iterator[BinaryIO]:
        """A vault file's bytes as stored (sealed or not), after the vault's checks on
        what was opened (never through a link): directly inside the vault, a regular file
        with one link, owned by the vault's owner. Anything else raises
        :class:`VaultFileRefused` before a byte is read, so the caller copies nothing; a
        missing or unreadable file raises :class:`VaultError`. Backups copy these bytes."""
        if not self.owns(path):
            raise VaultFileRefused(path.name, f"is not directly inside the vault ({path.parent})")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise VaultError(f"recording file {path.name} is missing") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise VaultFileRefused(path.name, "is a symbolic link") from None
            raise VaultError(f"cannot read {path.name}: {exc.strerror or exc}") from None
        try:
            problem = vault_file_problem(os.fstat(fd), os.stat(self.vault_dir).st_uid)
        except OSError as exc:
            os.close(fd)
            raise VaultError(f"cannot read {path.name}: {exc.strerror or exc}") from None
        if problem:
            os.close(fd)
            raise VaultFileRefused(path.name, problem)
        with os.fdopen(fd, "rb") as source:
            yield source

    def copy_to(self, path: Path, out: IO[bytes]) -> str:
        """Copies a vault file to ``out`` and returns its SHA-256, for the caller to check
        against the hash the store recorded. Raises VaultError when it cannot be read,
        :class:`VaultFileRefused` (nothing written) when the vault's checks refuse it."""
        with self.reader(path) as source:
            return copy_hashed(source, out, path.name)
