"""The vault's file work: checks on what it takes in and copies out, hashes, and files
written whole or not at all (sealed when the vault seals)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from controller.recordings.keyring import Keyring, own_like_folder, sync_folder
from controller.recordings.sealing import HEADER_SIZE, is_sealed, read_header, seal
from controller.recordings.vault_errors import VaultError, VaultRefused, VaultUnusable
from controller.recordings.wavfile import (
    UnusableWav,
    WavLayout,
    layout_of,
    read_layout,
    repaired_head,
)

CHUNK = 1 << 16
PARTIAL = ".partial"


@dataclass(frozen=True)
class AdoptedFile:
    path: Path
    sha256: str
    duration_seconds: float
    size: int


def incoming_problem(info: os.stat_result, asterisk_uid: int) -> str:
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


def vault_file_problem(info: os.stat_result, vault_uid: int) -> str:
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


def rename_checked(source: Path, target: Path, checked: os.stat_result) -> bool:
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

def copy_fd(fd: int, target: Path) -> None:
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


def write_copy(target: Path, source: BinaryIO, keyring: Keyring | None) -> AdoptedFile:
    """:func:`write_whole` of what ``source`` holds, measured as a WAV when it is one."""
    first: list[bytes] = []

    def blocks() -> Iterator[bytes]:
        while block := source.read(CHUNK):
            if not first:
                first.append(block)
            yield block

    digest, size = write_whole(target, blocks(), keyring)
    try:
        duration = layout_of(first[0] if first else b"", size).duration_seconds
    except UnusableWav:
        duration = 0.0
    return AdoptedFile(target, digest, duration, size)


def write_whole(
    target: Path, blocks: Iterable[bytes], keyring: Keyring | None
) -> tuple[str, int]:
    """Writes vault file ``target`` whole or not at all (beside its name, synced,
    renamed over it, the folder synced), sealed with a new data key when the vault
    has a keyring; returns the plaintext's SHA-256 and length. A failure (a full
    vault) leaves neither a half file nor an unused data key."""
    partial = target.with_name(target.name + PARTIAL)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    key_id = b""
    try:
        with os.fdopen(os.open(partial, flags, 0o600), "wb") as out:
            own_like_folder(out.fileno(), target.parent)
            if keyring is None:
                digest, size = copy_plain(blocks, out)
            else:
                key_id, key = keyring.create()
                digest, size = seal(out, key, key_id, blocks)
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, target)
        sync_folder(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        if key_id and keyring is not None:
            keyring.destroy(key_id)
        raise
    return digest, size


@dataclass(frozen=True)
class Shredded:
    removed: bool
    """The file was there and is gone."""
    key_destroyed: bool
    """It was sealed and its data key is destroyed: no copy of it can be decrypted."""


def usable_layout(fd: int, name: str) -> WavLayout:
    try:
        return read_layout(fd)
    except UnusableWav as exc:
        raise VaultUnusable(
            f"cannot adopt recording {name}: not a usable WAV file ({exc})", str(exc)
        ) from None


def repaired_blocks(fd: int, layout: WavLayout, size: int) -> Iterator[bytes]:
    """The file open at ``fd`` in blocks, the true sizes in its header (see
    :func:`~controller.recordings.wavfile.repair_header`)."""
    position = 0
    while block := os.pread(fd, CHUNK, position):
        if position == 0 and layout.header_wrong:
            block = repaired_head(block, layout, size)
        yield block
        position += len(block)


def copy_plain(blocks: Iterable[bytes], out: Sink) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for block in blocks:
        digest.update(block)
        size += len(block)
        out.write(block)
    return digest.hexdigest(), size


def sealed_key_id(path: Path) -> bytes | None:
    """The data key id of a sealed vault file; None for a plaintext or missing file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = os.pread(fd, HEADER_SIZE, 0)
    finally:
        os.close(fd)
    return read_header(head).key_id if is_sealed(head) else None


def version_name(name: str) -> str:
    """A new file name for another version of recording file ``name``: its recording's
    name, a random version mark, its extension (``abc.wav`` -> ``abc.v1f2e3d4c.wav``)."""
    stem = name.partition(".")[0]
    extension = name.rpartition(".")[2] if "." in name else ""
    mark = f"v{secrets.token_hex(4)}"
    return f"{stem}.{mark}.{extension}" if extension else f"{stem}.{mark}"
