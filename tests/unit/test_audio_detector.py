"""The tone and DTMF detectors used as evidence must themselves be right: positive
controls (files that contain the markers) and negative controls (files that do not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.audio import (
    Audio,
    concat,
    dtmf,
    dtmf_keys,
    read_wav,
    silence,
    tone,
    tone_seconds,
    tone_spans,
    write_wav,
)

MARKER = 2600.0


def noisy(audio: Audio, level: float = 0.02, seed: int = 1) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio(audio.samples + rng.normal(0, level, len(audio.samples)), audio.rate)


def test_marker_tone_found_with_its_duration_and_position(tmp_path: Path) -> None:
    audio = concat(tone(500, 1.0), tone(MARKER, 0.5), tone(1100, 1.0))
    write_wav(tmp_path / "m.wav", noisy(audio))
    read = read_wav(tmp_path / "m.wav")
    assert read.duration == pytest.approx(2.5, abs=0.001)
    assert tone_seconds(read, MARKER) == pytest.approx(0.5, abs=0.04)
    (span,) = tone_spans(read, MARKER)
    assert span[0] == pytest.approx(1.0, abs=0.04) and span[1] == pytest.approx(1.5, abs=0.04)
    assert tone_seconds(read, 500) == pytest.approx(1.0, abs=0.04)


@pytest.mark.parametrize("offset", [0.0, 0.003, 0.005, 0.0087])
def test_one_leaked_mixing_frame_of_marker_is_caught(offset: float) -> None:
    # Asterisk leaks audio in whole 20 ms mixing frames, not aligned with ours.
    audio = concat(tone(500, 1.0 + offset), tone(MARKER, 0.02), tone(500, 1.0))
    assert tone_seconds(audio, MARKER) >= 0.01


def test_marker_found_under_two_voices() -> None:
    voices = Audio(tone(500, 1.0).samples + tone(1100, 1.0).samples, 8000)
    leak = Audio(
        tone(500, 0.02).samples + tone(1100, 0.02).samples + tone(MARKER, 0.02).samples, 8000
    )
    assert tone_seconds(concat(voices, leak, voices), MARKER) >= 0.01
    assert tone_seconds(voices, 500) == pytest.approx(1.0, abs=0.02)


def test_marker_absent_from_other_audio() -> None:
    audio = noisy(
        concat(
            tone(500, 1.0),
            tone(1100, 1.0),
            silence(0.5),
            tone(2200, 1.0),
            tone(1800, 1.0),
            tone(2000, 1.0),
        )
    )
    assert tone_seconds(audio, MARKER) == 0.0
    assert tone_seconds(tone(2000, 1.0), 1800) == 0.0


def test_dtmf_positive_control() -> None:
    card = "4970101010101010"
    parts = []
    for key in card:
        parts += [dtmf(key, 0.1), silence(0.1)]
    audio = noisy(concat(tone(500, 0.5), *parts, tone(1100, 0.5)), level=0.01)
    assert "".join(dtmf_keys(audio)) == card


def test_dtmf_negative_control() -> None:
    audio = noisy(concat(tone(500, 1.0), tone(1100, 1.0), tone(MARKER, 1.0), tone(2200, 1.0)))
    assert dtmf_keys(audio) == []


def test_dtmf_all_keys() -> None:
    keys = "0123456789*#ABCD"
    audio = concat(*[concat(dtmf(k, 0.08), silence(0.06)) for k in keys])
    assert "".join(dtmf_keys(audio)) == keys
