"""Audio evidence: read WAV files and find marker tones and DTMF in them.

A Goertzel filter per 10 ms frame (20 ms for DTMF, whose tones lie closer together)
measures the energy at one frequency relative to the frame's total energy. A tone is
"present" in a frame when that ratio is high; DTMF is present when one row and one
column frequency are both strong, as in ITU-T Q.24.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")

Samples = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Audio:
    samples: Samples
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def slice(self, start: float, end: float) -> Audio:
        return Audio(self.samples[int(start * self.rate) : int(end * self.rate)], self.rate)


def plaintext(path: Path) -> bytes:
    """A recording file's bytes as a player gets them. A vault file sealed at rest (S10)
    is decrypted with the keyring and the site key its site keeps beside the vault (the
    defaults of ``recordings.encryption``), as the audited download does."""
    from controller.config.encryption import default_keyring, default_site_key
    from controller.recordings.keyring import FileSiteKeys, Keyring
    from controller.recordings.sealing import is_sealed, open_sealed

    raw = Path(path).read_bytes()
    if not is_sealed(raw):
        return raw
    vault = Path(path).parent
    keyring = Keyring(default_keyring(vault), FileSiteKeys(default_site_key(vault)))
    with open_sealed(io.BytesIO(raw), keyring.unwrap) as plain:
        return plain.read()


def open_wav(path: Path | str) -> wave.Wave_read:
    """A WAV file opened for reading, through :func:`plaintext`."""
    return wave.open(io.BytesIO(plaintext(Path(path))), "rb")


def raw_pcm(path: Path, rate: int = 8000) -> Audio:
    """A file's bytes as stored, read as 16-bit PCM whatever they are: what someone who
    copied the vault's files would hear."""
    raw = Path(path).read_bytes()
    data = np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2").astype(np.float64)
    return Audio(data / 32768.0, rate)


def read_wav(path: Path) -> Audio:
    with open_wav(path) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit samples")
        frames = wav.readframes(wav.getnframes())
        data = np.frombuffer(frames, dtype="<i2").astype(np.float64)
        if wav.getnchannels() > 1:
            data = data.reshape(-1, wav.getnchannels()).mean(axis=1)
        return Audio(data / 32768.0, wav.getframerate())


def write_wav(path: Path, audio: Audio) -> None:
    clipped = np.clip(audio.samples, -1.0, 1.0)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(audio.rate)
        wav.writeframes((clipped * 32767).astype("<i2").tobytes())


def tone(freq: float, seconds: float, rate: int = 8000, level: float = 0.3) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio(level * np.sin(2 * math.pi * freq * t), rate)


def silence(seconds: float, rate: int = 8000) -> Audio:
    return Audio(np.zeros(int(seconds * rate)), rate)


def dtmf(key: str, seconds: float = 0.1, rate: int = 8000) -> Audio:
    for row, keys in enumerate(DTMF_KEYS):
        if key in keys:
            col = keys.index(key)
            low, high = (
                tone(DTMF_ROWS[row], seconds, rate, 0.2),
                tone(DTMF_COLS[col], seconds, rate, 0.2),
            )
            return Audio(low.samples + high.samples, rate)
    raise ValueError(f"not a DTMF key: {key!r}")


def concat(*parts: Audio) -> Audio:
    return Audio(np.concatenate([p.samples for p in parts]), parts[0].rate)


def _frames(audio: Audio, frame_seconds: float) -> npt.NDArray[np.float64]:
    size = int(audio.rate * frame_seconds)
    count = len(audio.samples) // size
    return audio.samples[: count * size].reshape(count, size)


def goertzel_ratio(frames: npt.NDArray[np.float64], freq: float, rate: int) -> Samples:
    """Per frame: power at ``freq`` over the frame's total power (0..1)."""
    n = frames.shape[1]
    t = np.arange(n) / rate
    window = np.hanning(n)
    ref = np.exp(-2j * math.pi * freq * t) * window
    # For a pure sine of energy E, |X|^2 = E * sum(w)^2 / (2n): normalise to that, so a
    # pure tone scores 1 and each half of a DTMF pair about 0.5.
    power = np.abs(frames @ ref) ** 2
    total = np.sum(frames**2, axis=1) + 1e-12
    return np.asarray(power * 2 * n / (total * np.sum(window) ** 2), dtype=np.float64)


def tone_frames(
    audio: Audio,
    freq: float,
    frame_seconds: float = 0.01,
    threshold: float = 0.2,
    min_level: float = 1e-4,
) -> npt.NDArray[np.bool_]:
    """Which frames carry ``freq`` as a fifth or more of their energy.

    A fifth, not a half: in a mixed recording the caller, the agent and a leaked marker
    all share the frame.
    """
    frames = _frames(audio, frame_seconds)
    loud = np.mean(frames**2, axis=1) > min_level**2
    return np.asarray((goertzel_ratio(frames, freq, audio.rate) > threshold) & loud)


def tone_seconds(audio: Audio, freq: float, frame_seconds: float = 0.01) -> float:
    """Total time, in seconds, during which ``freq`` is present."""
    return float(np.sum(tone_frames(audio, freq, frame_seconds))) * frame_seconds


def tone_spans(audio: Audio, freq: float, frame_seconds: float = 0.01) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of frames carrying ``freq``."""
    present = tone_frames(audio, freq, frame_seconds)
    spans: list[tuple[float, float]] = []
    start: int | None = None
    for index, on in enumerate([*present.tolist(), False]):
        if on and start is None:
            start = index
        elif not on and start is not None:
            spans.append((start * frame_seconds, index * frame_seconds))
            start = None
    return spans


def dtmf_keys(audio: Audio, frame_seconds: float = 0.02, threshold: float = 0.25) -> list[str]:
    """The DTMF keys heard, one entry per press (runs of frames merged)."""
    frames = _frames(audio, frame_seconds)
    loud = np.mean(frames**2, axis=1) > 1e-8
    rows = np.array([goertzel_ratio(frames, f, audio.rate) for f in DTMF_ROWS])
    cols = np.array([goertzel_ratio(frames, f, audio.rate) for f in DTMF_COLS])
    keys: list[str] = []
    previous = ""
    for i in range(frames.shape[0]):
        r, col = int(np.argmax(rows[:, i])), int(np.argmax(cols[:, i]))
        # Both tones strong, and together they make up most of the frame.
        if (
            loud[i]
            and rows[r, i] > threshold
            and cols[col, i] > threshold
            and rows[r, i] + cols[col, i] > 0.7
        ):
            key = DTMF_KEYS[r][col]
            if key != previous:
                keys.append(key)
            previous = key
        else:
            previous = ""
    return keys


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio.samples**2))) if len(audio.samples) else 0.0
