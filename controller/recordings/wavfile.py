"""Reading a WAV file's layout without trusting the sizes its header declares.

Asterisk writes a WAV header with empty sizes when it opens the file and fills them in
when it closes it. An Asterisk killed mid-call never closes its files: the header then
says "no audio" while the file holds everything written up to the crash. The audio is
the recording all the same, so its length is read from the data, and the header can be
repaired so every player reads the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

# RIFF header (12 bytes) + fmt chunk (8 + 16) + data chunk header (8).
SMALLEST = 44
# How far into the file the audio may start: Asterisk's starts at 44.
HEADER_LIMIT = 1 << 16
PCM = 1


class UnusableWav(ValueError):
    """The file holds no readable audio: not a WAV, no format, or nothing recorded."""


@dataclass(frozen=True)
class WavLayout:
    rate: int
    block_align: int
    """Bytes per sample frame (all channels)."""
    riff_size: int
    """The RIFF chunk size the header declares."""
    data_offset: int
    """Where the data chunk's size field is; the audio starts 4 bytes after it."""
    declared_data: int
    """The data chunk size the header declares."""
    data_bytes: int
    """Audio bytes the file really holds, in whole frames."""
    audio_format: int = PCM
    """The format tag of the fmt chunk: 1 is linear PCM, what Asterisk's wav and wav16
    are."""
    bits_per_sample: int = 16

    @property
    def duration_seconds(self) -> float:
        return self.data_bytes / (self.rate * self.block_align)

    @property
    def header_wrong(self) -> bool:
        """The sizes in the header are not those of the file (a file never closed)."""
        return self.declared_data != self.data_bytes

    @property
    def audio_start(self) -> int:
        return self.data_offset + 4


def read_layout(fd: int) -> WavLayout:
    """The layout of the WAV open at ``fd`` (read with ``pread``: the offset is left
    alone). Raises :class:`UnusableWav` when it holds no readable audio."""
    return layout_of(os.pread(fd, HEADER_LIMIT, 0), os.fstat(fd).st_size)


def layout_of(head: bytes, size: int) -> WavLayout:
    """The layout of a WAV of ``size`` bytes from its first bytes (up to
    :data:`HEADER_LIMIT`). Raises :class:`UnusableWav` when it holds no readable audio."""
    if len(head) < SMALLEST or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise UnusableWav("not a WAV file")
    riff_size = struct.unpack_from("<I", head, 4)[0]
    rate = block_align = 0
    audio_format = bits = 0
    position = 12
    while position + 8 <= len(head):
        chunk, length = (
            head[position : position + 4],
            struct.unpack_from("<I", head, position + 4)[0],
        )
        if chunk == b"fmt ":
            if length < 16 or position + 24 > len(head):
                raise UnusableWav("its format chunk is cut short")
            audio_format, _, rate, _, block_align, bits = struct.unpack_from(
                "<HHIIHH", head, position + 8
            )
        elif chunk == b"data":
            if rate <= 0 or block_align <= 0:
                raise UnusableWav("its audio comes before any usable format")
            start = position + 8
            available = size - start
            # A declared size that fits the file is true (more chunks may follow); zero
            # or more than the file holds is the header of a file never closed.
            trusted = length if 0 < length <= available else available
            data_bytes = trusted - trusted % block_align
            if data_bytes <= 0:
                raise UnusableWav("it holds no audio")
            return WavLayout(
                rate, block_align, riff_size, position + 4, length, data_bytes, audio_format, bits
            )
        # Chunks are padded to an even length.
        position += 8 + length + (length & 1)
    raise UnusableWav("no audio chunk in its first bytes")


def repaired_head(head: bytes, layout: WavLayout, size: int) -> bytes:
    """``head`` (the file's first bytes, past the data size field) with the true sizes
    written in, as :func:`repair_header` writes them into a file."""
    fixed = bytearray(head)
    struct.pack_into("<I", fixed, 4, size - 8)
    struct.pack_into("<I", fixed, layout.data_offset, layout.data_bytes)
    return bytes(fixed)


def repair_header(fd: int, layout: WavLayout) -> None:
    """Writes the true sizes into the header of the file open for writing at ``fd``."""
    size = os.fstat(fd).st_size
    os.pwrite(fd, struct.pack("<I", size - 8), 4)
    os.pwrite(fd, struct.pack("<I", layout.data_bytes), layout.data_offset)
    os.fsync(fd)
