"""Two-channel recordings (R5) into the vault: the two halves Asterisk wrote, one mono
file per side, joined into one stereo WAV (the caller on the left, the agent on the
right) as the recording is taken in.

Each half goes through the vault's own checks (opened without following links, a
regular file of Asterisk's with one link). The stereo file is written beside its final
name and renamed into place once complete; only then are the halves deleted, so a
process killed at any point leaves either both halves in Asterisk's folder (the orphan
sweep joins them) or the stereo file in the vault. A half that is missing or holds no
audio (a daemon killed between the two starts, a side whose file Asterisk never wrote)
is a silent side: the voice that was recorded is kept, never left alone outside the
vault. Both missing is a missing recording, as for a one-channel file.

On the FastAGI path MixMonitor's ``D`` option writes one file, interleaved, with the
header of a one-channel file (measured on Asterisk 22.10.1: 1 channel declared, twice
the samples) and the agent's voice first (what the agent's channel receives). The vault
writes it with a two-channel header, the caller's samples first: the same file as the
ARI path's.

Every function here blocks: call them from a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.recordings.names import is_interleaved, is_stereo, recording_halves, whole_recording
from controller.recordings.vault import (
    EXTENSIONS,
    AdoptedFile,
    LocalVault,
    VaultError,
    VaultUnusable,
    copy_hashed,
)
from controller.recordings.wavfile import (
    HEADER_LIMIT,
    UnusableWav,
    WavLayout,
    layout_of,
    read_layout,
)
from controller.stoppoints import stop_point

SAMPLE_BYTES = 2
"""Asterisk's ``wav`` and ``wav16`` are 16-bit signed linear, one channel."""
CHUNK_FRAMES = 1 << 15


class StereoMismatch(VaultUnusable):
    """The two halves cannot be one file: not the same rate, or not 16-bit mono."""

    error_id = "vault-stereo-mismatch"


@dataclass
class _Half:
    path: Path
    fd: int
    checked: os.stat_result
    layout: WavLayout | None
    """None: the half holds no audio (a silent side)."""

    @property
    def frames(self) -> int:
        return self.layout.data_bytes // SAMPLE_BYTES if self.layout else 0


def stereo_header(rate: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM stereo WAV of ``frames`` sample pairs."""
    data = frames * 2 * SAMPLE_BYTES
    fmt = struct.pack("<HHIIHH", 1, 2, rate, rate * 2 * SAMPLE_BYTES, 2 * SAMPLE_BYTES, 16)
    return b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + (
        b"data" + struct.pack("<I", data)
    )


def interleave(left: bytes, right: bytes) -> bytes:
    """Two runs of 16-bit samples as stereo frames; the shorter is padded with silence."""
    frames = max(len(left), len(right)) // SAMPLE_BYTES
    sides = [array("h", side.ljust(frames * SAMPLE_BYTES, b"\0")) for side in (left, right)]
    out = array("h", bytes(frames * 2 * SAMPLE_BYTES))
    out[0::2], out[1::2] = sides
    return out.tobytes()


# -- the vault's entry points: a one-channel recording goes straight to the vault ---------
def adopt(vault: LocalVault, name: str, fmt: str) -> AdoptedFile:
    """:meth:`LocalVault.adopt`, a stereo recording's halves joined, an interleaved
    file's sides put the right way round."""
    if is_interleaved(name):
        stop_point("vaulting")
        return _turn_around(vault, name, fmt)
    if not is_stereo(name):
        return vault.adopt(name, fmt)
    stop_point("vaulting")
    return _join(vault, name, fmt, keep=True)


def take_incoming(vault: LocalVault, file: str, *, keep: bool) -> AdoptedFile:
    """:meth:`LocalVault.take_incoming`; ``file`` names a stereo recording
    (``<name>.<ext>``, see :func:`pair_file`) for its two halves, joined or deleted."""
    stem, _, suffix = file.partition(".")
    if keep and is_interleaved(stem):
        return _turn_around(vault, stem, suffix)
    if not is_stereo(stem):
        return vault.take_incoming(file, keep=keep)
    return _join(vault, stem, suffix, keep=keep)


def discard_incoming(vault: LocalVault, name: str, fmt: str) -> bool:
    """:meth:`LocalVault.discard_incoming`, both halves of a stereo recording too."""
    found = [vault.discard_incoming(n, fmt) for n in (name, *recording_halves(name))]
    return any(found)


def nothing_written(vault: LocalVault, name: str, fmt: str) -> bool:
    """Whether no file of the recording exists anywhere: not in Asterisk's folder (nor
    a stereo recording's halves), not in the vault."""
    incoming = [vault.incoming_path(n, fmt) for n in (name, *recording_halves(name))]
    vaulted = vault.vault_dir / incoming[0].name
    return not any(os.path.lexists(path) for path in (*incoming, vaulted))


def pair_file(half_stem: str, suffix: str) -> str:
    """The file name the sweep gives the two halves of a stereo recording together."""
    return f"{whole_recording(half_stem)}.{suffix}"


# -- joining ------------------------------------------------------------------------------
def _join(vault: LocalVault, name: str, fmt: str, *, keep: bool) -> AdoptedFile:
    """Joins the halves into the vault (``keep``) or deletes them; either way both go
    from Asterisk's folder. A deleted pair's hash is of the left then the right file."""
    target = vault.vault_dir / f"{name}.{EXTENSIONS.get(fmt, fmt)}"
    with _opened_halves(vault, name, fmt) as halves:
        try:
            if keep:
                adopted = _existing(vault, target) or _write_joined(vault, halves, target)
            else:
                adopted = AdoptedFile(target, _hash_of(halves), 0.0, 0)
            for half in halves:
                if half is not None:
                    _unlink_if_same(half)
        except OSError as exc:
            kept = any(h is not None and os.path.lexists(h.path) for h in halves)
            why = f"cannot take recording {name}: {exc.strerror or exc}"
            raise VaultError(why, kept=kept) from None
    return adopted


@contextlib.contextmanager
def _opened_halves(vault: LocalVault, name: str, fmt: str) -> Iterator[list[_Half | None]]:
    halves: list[_Half | None] = []
    try:
        for half_name in recording_halves(name):
            path = vault.incoming_path(half_name, fmt)
            try:
                fd = vault._open_incoming(path)
            except FileNotFoundError:
                halves.append(None)
                continue
            except OSError as exc:
                raise VaultError(
                    f"cannot take recording {name}: {exc.strerror or exc}", kept=True
                ) from None
            halves.append(_Half(path, fd, os.fstat(fd), _layout(fd)))
        if all(h is None for h in halves):
            raise VaultError(f"recording files of {name} are missing")
        yield halves
    finally:
        for half in halves:
            if half is not None:
                os.close(half.fd)


def _layout(fd: int) -> WavLayout | None:
    try:
        return read_layout(fd)
    except UnusableWav:
        return None


def _write_joined(vault: LocalVault, halves: list[_Half | None], target: Path) -> AdoptedFile:
    layouts = [h.layout for h in halves if h is not None and h.layout is not None]
    if not layouts:
        raise VaultUnusable(f"cannot adopt recording {target.stem}: no audio", "it holds no audio")
    if any(lay.block_align != SAMPLE_BYTES or lay.rate != layouts[0].rate for lay in layouts):
        raise StereoMismatch(
            f"cannot adopt recording {target.stem}: its two sides are not 16-bit mono "
            "at one rate",
            "its two sides differ",
        )
    rate = layouts[0].rate
    frames = max(h.frames if h is not None else 0 for h in halves)
    return _write(vault, target, _stereo_blocks(halves, rate, frames), rate, frames)


def _existing(vault: LocalVault, target: Path) -> AdoptedFile | None:
    """The join already in the vault, if any. Only a whole join is ever renamed into
    place: its run was killed before it deleted both halves. It is kept as it is, never
    joined again from what is left (a side already deleted would come back silent)."""
    if not os.path.lexists(target):
        return None
    try:
        with vault.reader(target) as source:
            head = source.read(HEADER_LIMIT)
            size = source.seek(0, os.SEEK_END)
            layout = layout_of(head, size)
            source.seek(0)
            digest = copy_hashed(source, _Discard(), target.name)
    except (UnusableWav, VaultError):
        return None  # not a join of ours: written again from the halves
    return AdoptedFile(target, digest, layout.duration_seconds, size)


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def _write(
    vault: LocalVault, target: Path, blocks: Iterator[bytes], rate: int, frames: int
) -> AdoptedFile:
    """A vault file, reccontrol's, mode 0600, sealed when the vault seals, written beside
    its name then renamed; a full vault keeps no half file, what Asterisk wrote stays."""
    digest, size = vault.write_blocks(target, blocks)
    return AdoptedFile(target, digest, frames / rate, size)


def _turn_around(vault: LocalVault, name: str, fmt: str) -> AdoptedFile:
    """MixMonitor's interleaved file into the vault as a two-channel WAV, the caller's
    voice (what the agent's channel sends) on the left."""
    source = vault.incoming_path(name, fmt)
    try:
        fd = vault._open_incoming(source)
    except FileNotFoundError:
        raise VaultError(f"recording file {source.name} is missing") from None
    try:
        try:
            layout = read_layout(fd)
        except UnusableWav as exc:
            why = f"cannot adopt recording {source.name}: not a usable WAV file ({exc})"
            raise VaultUnusable(why, str(exc)) from None
        if layout.block_align != SAMPLE_BYTES:
            raise StereoMismatch(f"{source.name} is not 16-bit MixMonitor audio", "not 16-bit")
        checked = os.fstat(fd)
        frames = layout.data_bytes // (2 * SAMPLE_BYTES)
        target = vault.vault_dir / source.name
        blocks = _swapped_blocks(fd, layout, frames)
        adopted = _write(vault, target, blocks, layout.rate, frames)
        _unlink_if_same(_Half(source, fd, checked, layout))
    except OSError as exc:
        why = f"cannot take recording {source.name}: {exc.strerror or exc}"
        raise VaultError(why, kept=os.path.lexists(source)) from None
    finally:
        os.close(fd)
    return adopted


def _swapped_blocks(fd: int, layout: WavLayout, frames: int) -> Iterator[bytes]:
    yield stereo_header(layout.rate, frames)
    for done in range(0, frames, CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, frames - done)
        offset = layout.audio_start + done * 2 * SAMPLE_BYTES
        data = os.pread(fd, count * 2 * SAMPLE_BYTES, offset)
        samples = array("h", data.ljust(count * 2 * SAMPLE_BYTES, b"\0"))
        samples[0::2], samples[1::2] = samples[1::2], samples[0::2]
        yield samples.tobytes()


def _stereo_blocks(halves: list[_Half | None], rate: int, frames: int) -> Iterator[bytes]:
    yield stereo_header(rate, frames)
    done = 0
    while done < frames:
        count = min(CHUNK_FRAMES, frames - done)
        sides = [_samples(h, done, count) for h in halves]
        yield interleave(sides[0], sides[1]).ljust(count * 2 * SAMPLE_BYTES, b"\0")
        done += count


def _samples(half: _Half | None, start: int, count: int) -> bytes:
    if half is None or half.layout is None or start >= half.frames:
        return b""
    count = min(count, half.frames - start)
    offset = half.layout.audio_start + start * SAMPLE_BYTES
    return os.pread(half.fd, count * SAMPLE_BYTES, offset)


def _hash_of(halves: list[_Half | None]) -> str:
    digest = hashlib.sha256()
    for half in halves:
        if half is None:
            continue
        position = 0
        while block := os.pread(half.fd, 1 << 16, position):
            digest.update(block)
            position += len(block)
    return digest.hexdigest()


def _unlink_if_same(half: _Half) -> None:
    info = os.lstat(half.path)
    if (info.st_dev, info.st_ino) == (half.checked.st_dev, half.checked.st_ino):
        half.path.unlink()
