"""Reading a WAV's layout from its data, not from the sizes its header declares (R1: the
file of an Asterisk killed mid-call declares no audio)."""

from __future__ import annotations

import io
import os
import struct
import wave
from pathlib import Path

import pytest

from controller.recordings.wavfile import UnusableWav, read_layout, repair_header


def wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * int(rate * seconds)))
    return out.getvalue()


def layout_of(tmp_path: Path, data: bytes) -> tuple[int, float, bool]:
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        layout = read_layout(fd)
    finally:
        os.close(fd)
    return layout.data_bytes, layout.duration_seconds, layout.header_wrong


def test_a_closed_file_is_read_as_its_header_says(tmp_path: Path) -> None:
    assert layout_of(tmp_path, wav(1.0)) == (16000, 1.0, False)


def test_r1_sizes_of_zero_are_read_from_the_data_in_whole_frames(tmp_path: Path) -> None:
    data = bytearray(wav(0.5, rate=16000))
    data[4:8] = data[40:44] = bytes(4)
    data += b"\x07"  # half a frame: Asterisk died in the middle of a write
    assert layout_of(tmp_path, bytes(data)) == (16000, 0.5, True)


def test_a_declared_size_beyond_the_file_is_cut_to_the_file(tmp_path: Path) -> None:
    data = wav(1.0)[:-4000]
    assert layout_of(tmp_path, data) == (12000, 0.75, True)


def test_a_chunk_before_the_audio_is_skipped(tmp_path: Path) -> None:
    data = wav(0.25)
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd length, padded
    data = data[:36] + extra + data[36:]
    assert layout_of(tmp_path, data) == (4000, 0.25, False)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "not a WAV file"),
        (b"RIFF" + bytes(40), "not a WAV file"),
        (wav(0.0), "it holds no audio"),
        (wav(0.1)[:12] + b"data" + struct.pack("<I", 8) + bytes(40), "before any usable format"),
        (wav(0.1)[:12] + b"JUNK" + struct.pack("<I", 1 << 30) + bytes(40), "no audio chunk"),
    ],
)
def test_files_with_no_readable_audio_are_unusable(tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(UnusableWav, match=why):
        layout_of(tmp_path, data)


def test_repair_writes_the_true_sizes(tmp_path: Path) -> None:
    data = bytearray(wav(0.5))
    data[4:8] = data[40:44] = bytes(4)
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    try:
        repair_header(fd, read_layout(fd))
    finally:
        os.close(fd)
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 4000
    assert path.read_bytes()[44:] == bytes(data[44:])
