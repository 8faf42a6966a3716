"""Prompt files for the sandbox: tones written directly, speech from espeak-ng."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

RATE = 8000


def write_tones(path: Path, parts: list[tuple[float, float]], level: float = 0.3) -> None:
    """Writes a 8 kHz 16-bit WAV made of (frequency, seconds) parts; 0 Hz is silence."""
    frames = bytearray()
    for freq, seconds in parts:
        for n in range(int(seconds * RATE)):
            value = level * math.sin(2 * math.pi * freq * n / RATE) if freq else 0.0
            frames += struct.pack("<h", int(value * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))


def write_speech(path: Path, text: str, voice: str, marker: float | None = None) -> bool:
    """Speaks ``text`` into an 8 kHz WAV, after a 0.3 s marker tone if given.

    Returns False, writing nothing, when espeak-ng or sox is missing.
    """
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        speech = Path(tmp) / "speech8k.wav"
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(speech)],
            check=True,
            capture_output=True,
        )
        if marker is None:
            shutil.copyfile(speech, path)
            return True
        beep = Path(tmp) / "beep.wav"
        write_tones(beep, [(marker, 0.3), (0, 0.2)])
        subprocess.run(["sox", str(beep), str(speech), str(path)], check=True, capture_output=True)
    return True
