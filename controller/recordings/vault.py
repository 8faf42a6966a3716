"""The local vault: recordings moved out of Asterisk's reach into a private folder.

Asterisk's recording folder can be read back through ARI (``/recordings/stored``), so a
finished file is moved at once into a folder only reccontrol can read (S4). Hashing,
serving and purging go through this one class, so another backend (object storage)
can replace it without touching the call flow. Every method blocks: call them from a
worker thread, never from the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from controller.recordings.wavfile import UnusableWav, WavLayout, read_layout, repair_header
from controller.stoppoints import stop_point

# ARI format name -> file extension Asterisk writes.
EXTENSIONS = {"wav": "wav", "wav16": "wav16"}
CHUNK = 1 << 16


class VaultError(Exception):
    error_id = "vault-error"

    def __init__(self, message: str, *, kept: bool = False) -> None:
        super().__init__(message)
        self.kept = kept
        """The file is still in Asterisk's folder (the vault could not take it: full,
        unwritable), so a later attempt can still vault it."""


@dataclass(frozen=True)
class IncomingFile:
    """A file in Asterisk's recording folder."""

    file: str
    stem: str
    suffix: str
    refused: str = ""
    """Why it must not be touched (a symlink, not a regular file, not Asterisk's), or ""."""


class VaultUnusable(VaultError):
    """A file of Asterisk's folder that holds no readable audio (not a WAV, or nothing
    recorded in it): there is nothing to keep. It is left in place for the caller to
    delete with a receipt."""

    error_id = "vault-unusable"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """What is wrong with the file, in a few words."""


class VaultRefused(VaultError):
    """A file in Asterisk's folder that must not be adopted (a link, not a regular file,
    not Asterisk's): someone may be trying to reach a file elsewhere. Raise an alert."""

    error_id = "vault-refused"


class VaultFileRefused(VaultError):
    """A vault file that must not be read for a copy (a backup, an export, a download):
    a link, not a regular file, not reccontrol's, or not directly inside the vault.
    Whoever could plant it may be trying to have a file elsewhere copied out."""

    error_id = "vault-file-refused"

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"recording file {name} {problem}; not read")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class AdoptedFile:
    path: Path
    sha256: str
    duration_seconds: float
    size: int


def _problem(info: os.stat_result, asterisk_uid: int) -> str:
    """Why a file of Asterisk's folder must not be taken, or "": the one check for the
    call's own file and for the sweep, on what was opened (or listed) without following
    links. A link (soft or hard) or a file not Asterisk's may reach a file elsewhere."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    if info.st_uid != asterisk_uid:
        return (
            f"belongs to uid {info.st_uid}, not to Asterisk (uid {asterisk_uid}, "
            "the owner of the recording folder)"
        )
    return ""


def _vault_file_problem(info: os.stat_result, vault_uid: int) -> str:
    """Why a file opened in the vault must not be read for a copy, or "". Every vault
    file was made by :meth:`LocalVault.adopt`: a regular file with one link, owned by the
    vault's owner. Anything else was put there by someone else."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    if info.st_uid != vault_uid:
        return f"belongs to uid {info.st_uid}, not to the vault's owner (uid {vault_uid})"
    return ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class LocalVault:
    def __init__(self, asterisk_dir: Path, vault_dir: Path) -> None:
        self.asterisk_dir = asterisk_dir
        self.vault_dir = vault_dir

    def prepare(self) -> None:
        self.vault_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.vault_dir.chmod(0o700)

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
            layout = self._move_in(source, target)
            return self._finish(target, layout)
        except FileNotFoundError:
            raise VaultError(f"recording file {source.name} is missing") from None
        except OSError as exc:
            raise VaultError(
                f"cannot adopt recording {source.name}: {exc.strerror or exc}",
                kept=os.path.lexists(source),
            ) from None

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
            try:
                layout = read_layout(fd)
            except UnusableWav as exc:
                raise VaultUnusable(
                    f"cannot adopt recording {source.name}: not a usable WAV file ({exc})",
                    str(exc),
                ) from None
            checked = os.fstat(fd)
            me = os.geteuid()
            moved = False
            if checked.st_uid == me or me == 0:
                moved = self._rename_checked(source, target, checked)
            if not moved:
                # Another file system, or not ours and we cannot chown it: copy what
                # we opened into a file we own, then drop the original (the
                # controller runs in Asterisk's group to do so).
                self._copy_fd(fd, target)
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
        problem = _problem(os.fstat(fd), self._asterisk_uid())
        if problem:
            os.close(fd)
            raise VaultRefused(f"recording file {source.name} {problem}; not adopted")
        return fd

    def _asterisk_uid(self) -> int:
        return os.stat(self.asterisk_dir).st_uid

    def _rename_checked(self, source: Path, target: Path, checked: os.stat_result) -> bool:
        """Renames into the vault, then makes sure what arrived is the file checked (not
        something swapped in meanwhile) before changing its owner and mode through the
        open file. False when the vault is on another file system."""
        try:
            os.rename(source, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return False
            raise
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            target.unlink()
            raise VaultRefused(f"recording file {source.name} was replaced by a link") from None
        try:
            arrived = os.fstat(fd)
            if (arrived.st_dev, arrived.st_ino) != (checked.st_dev, checked.st_ino):
                target.unlink()
                raise VaultRefused(f"recording file {source.name} was replaced while adopted")
            me = os.geteuid()
            if arrived.st_uid != me:
                os.fchown(fd, me, os.getegid())
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        return True

    def _copy_fd(self, fd: int, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out_fd = os.open(partial, flags, 0o600)
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            with os.fdopen(out_fd, "wb") as out:
                while block := os.read(fd, CHUNK):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.rename(partial, target)
        except BaseException:
            # A full vault must not keep half a copy; the original stays for a retry.
            partial.unlink(missing_ok=True)
            raise

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
            found.append(IncomingFile(entry.name, stem, suffix, _problem(info, owner)))
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
                return self._finish(target, self._move_in(source, target))
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
        try:
            return path.parent.resolve() == self.vault_dir.resolve() and path.name not in (
                "",
                ".",
                "..",
            )
        except OSError:
            return False

    def exists(self, path: Path) -> bool:
        return self.owns(path) and path.is_file()

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
        """A vault file opened for reading, after the vault's checks on what was opened
        (never through a link): directly inside the vault, a regular file with one link,
        owned by the vault's owner. Anything else raises :class:`VaultFileRefused` before
        a byte is read, so the caller copies nothing; a missing or unreadable file raises
        :class:`VaultError`. Everything that copies audio out opens it here."""
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
            problem = _vault_file_problem(os.fstat(fd), os.stat(self.vault_dir).st_uid)
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


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def copy_hashed(source: BinaryIO, out: Sink, name: str) -> str:
    """Copies ``source`` to ``out``; returns the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    while True:
        try:
            block = source.read(CHUNK)
        except OSError as exc:
            raise VaultError(f"cannot read {name}: {exc.strerror or exc}") from None
        if not block:
            return digest.hexdigest()
        digest.update(block)
        out.write(block)
