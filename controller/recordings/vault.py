"""The local vault: recordings moved out of Asterisk's reach into a private folder.

Asterisk's recording folder can be read back through ARI (``/recordings/stored``), so a
finished file is moved at once into a folder only reccontrol can read (S4). Hashing,
serving and purging go through this one class, so another backend (object storage)
can replace it without touching the call flow. Every method blocks: call them from a
worker thread, never from the event loop.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


@dataclass(frozen=True)
class AdoptedFile:
    path: Path
    sha256: str
    duration_seconds: float
    size: int


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnframes() / rate if rate else 0.0


def _refusal(info: os.stat_result, owner: int) -> str:
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid != owner:
        return f"owned by uid {info.st_uid}, not by Asterisk's user (uid {owner})"
    return ""


def _duration_or_zero(path: Path) -> float:
    try:
        return wav_duration(path)
    except (OSError, wave.Error, EOFError):
        return 0.0


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
        """
        source = self.incoming_path(name, fmt)
        target = self.vault_dir / source.name
        stop_point("vaulting")
        try:
            owner = source.stat().st_uid
            me = os.geteuid()
            if owner == me or me == 0:
                self._move(source, target)
                if owner != me:
                    os.chown(target, me, os.getegid())
                target.chmod(0o600)
            else:
                # Not ours and we cannot chown it: copy into a file we own, then drop
                # the original (the controller runs in Asterisk's group to do so).
                self._copy(source, target)
                source.unlink()
            return AdoptedFile(
                path=target,
                sha256=sha256_of(target),
                duration_seconds=wav_duration(target),
                size=target.stat().st_size,
            )
        except FileNotFoundError:
            raise VaultError(f"recording file {source.name} is missing") from None
        except OSError as exc:
            kept = os.path.lexists(source)
            raise VaultError(
                f"cannot adopt recording {source.name}: {exc.strerror or exc}", kept=kept
            ) from None
        except (wave.Error, EOFError) as exc:
            raise VaultError(f"cannot adopt recording {source.name}: {exc}") from None

    def _move(self, source: Path, target: Path) -> None:
        try:
            os.rename(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another file system: copy, flush, then drop the original.
            self._copy(source, target)
            source.unlink()

    def _copy(self, source: Path, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.rename(partial, target)
        except BaseException:
            # A full vault must not keep half a copy.
            partial.unlink(missing_ok=True)
            raise

    # -- orphans in Asterisk's folder --------------------------------------------------
    def incoming_files(self) -> list[IncomingFile]:
        """Every entry of Asterisk's recording folder, without following any link. Only
        regular files owned by the folder's owner (Asterisk's user) may be taken."""
        try:
            owner = os.lstat(self.asterisk_dir).st_uid
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
            refused = _refusal(info, owner)
            found.append(IncomingFile(entry.name, stem, suffix, refused))
        return found

    def take_incoming(self, file: str, *, keep: bool) -> AdoptedFile:
        """Moves one file of Asterisk's folder into the vault (``keep``) or deletes it,
        after checking what was opened (not a path that could be swapped meanwhile) is a
        regular file owned by Asterisk's user. The hash and length are of what was read.
        Returned ``path`` is the vault file, or the deleted file's old path."""
        source = self.asterisk_dir / file
        if "/" in file or file in ("", ".", ".."):
            raise VaultError(f"{file!r} is not a file name")
        try:
            owner = os.lstat(self.asterisk_dir).st_uid
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            raise VaultError(f"recording file {file} is missing") from None
        except OSError as exc:
            raise VaultError(f"refused {file}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as opened:
            refused = _refusal(os.fstat(fd), owner)
            if refused:
                raise VaultError(f"refused {file}: {refused}")
            target = self.vault_dir / file
            digest = hashlib.sha256()
            if keep:
                self._copy_verified(opened, target, digest)
            else:
                while block := opened.read(CHUNK):
                    digest.update(block)
        # unlink never follows a link: at worst it removes a link swapped in meanwhile.
        source.unlink(missing_ok=True)
        path = target if keep else source
        duration = _duration_or_zero(target) if keep else 0.0
        size = target.stat().st_size if keep else 0
        return AdoptedFile(path, digest.hexdigest(), duration, size)

    @staticmethod
    def _copy_verified(opened: IO[bytes], target: Path, digest: Any) -> None:
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            out_fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(out_fd, "wb") as out:
                while block := opened.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.rename(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise VaultError(
                f"cannot vault {target.name}: {exc.strerror or exc}", kept=True
            ) from None

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

    def copy_to(self, path: Path, out: IO[bytes]) -> str:
        """Copies a vault file to ``out`` and returns its SHA-256, for the caller to check
        against the hash the store recorded. Raises VaultError when it cannot be read."""
        if not self.owns(path):
            raise VaultError(f"{path.name} is not a file of the vault")
        digest = hashlib.sha256()
        try:
            with path.open("rb") as source:
                while block := source.read(CHUNK):
                    digest.update(block)
                    out.write(block)
        except FileNotFoundError:
            raise VaultError(f"recording file {path.name} is missing") from None
        except OSError as exc:
            raise VaultError(f"cannot read {path.name}: {exc.strerror or exc}") from None
        return digest.hexdigest()
