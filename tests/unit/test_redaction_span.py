"""S11: the span arithmetic of a redaction (which frames and bytes are silenced) and the
stream that zeroes them, on mono and stereo files at 8 and 16 kHz."""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import pytest

from controller.recordings.silence import (
    FormatError,
    SilencedReader,
    SpanError,
    parse_seconds,
    silence_of,
)
from controller.recordings.wavfile import WavLayout, layout_of


def wav_bytes(seconds: float, rate: int, channels: int) -> bytes:
    """A WAV whose every sample is non-zero (so any zero is the redaction's)."""
    frames = int(rate * seconds)
    sample = (1234).to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(sample * frames * channels)
    return out.getvalue()


def layout(data: bytes) -> WavLayout:
    return layout_of(data, len(data))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12", Fraction(12)),
        ("12.5", Fraction(25, 2)),
        (" 0.001 ", Fraction(1, 1000)),
        ("1:15.25", Fraction(301, 4)),
        ("0:01:15", Fraction(75)),
        ("0", Fraction(0)),
    ],
)
def test_s11_seconds_are_read_exactly(text: str, seconds: Fraction) -> None:
    assert parse_seconds(text, "--from") == seconds


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "not a number of seconds"),
        ("abc", "not a number of seconds"),
        ("-1", "before the start"),
        ("nan", "not a number of seconds"),
        ("inf", "not a number of seconds"),
        ("1:75", "not a clock reading"),
        ("1.1234567", "at most 6 decimals"),
    ],
)
def test_s11_a_moment_that_cannot_be_read_names_the_option(text: str, words: str) -> None:
    with pytest.raises(SpanError) as caught:
        parse_seconds(text, "--to")
    assert caught.value.option == "--to"
    assert str(caught.value).startswith("--to: ")
    assert words in str(caught.value)
    assert caught.value.error_id == "bad-span"


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (8000, 2), (16000, 2)])
def test_s11_whole_frames_overlapping_the_span_are_silenced_on_every_channel(
    rate: int, channels: int
) -> None:
    data = wav_bytes(2.0, rate, channels)
    wav = layout(data)
    start, end = Fraction(1, 2), Fraction(3, 4)
    silence = silence_of(wav, start, end)
    frame = 2 * channels
    assert silence.first_frame == rate // 2
    assert silence.end_frame == rate * 3 // 4
    assert silence.start_byte == wav.audio_start + silence.first_frame * frame
    assert silence.end_byte == wav.audio_start + silence.end_frame * frame
    assert silence.seconds == (0.5, 0.75)
    out = SilencedReader(io.BytesIO(data), silence).read()
    assert len(out) == len(data)
    assert out[: silence.start_byte] == data[: silence.start_byte]
    silenced = silence.end_byte - silence.start_byte
    assert out[silence.start_byte : silence.end_byte] == bytes(silenced)
    assert out[silence.end_byte :] == data[silence.end_byte :]


def test_s11_a_span_between_samples_covers_both_edge_frames() -> None:
    wav = layout(wav_bytes(1.0, 8000, 1))
    # 0.10005 s is inside frame 800; 0.20001 s inside frame 1600: both go.
    silence = silence_of(wav, Fraction("0.10005"), Fraction("0.20001"))
    assert (silence.first_frame, silence.end_frame) == (800, 1601)


def test_s11_the_span_may_end_at_the_end_of_the_recording() -> None:
    wav = layout(wav_bytes(1.0, 8000, 2))
    silence = silence_of(wav, Fraction(0), Fraction(1))
    assert (silence.first_frame, silence.end_frame) == (0, 8000)
    assert silence.end_byte == wav.audio_start + wav.data_bytes


@pytest.mark.parametrize(
    ("start", "end", "option", "words"),
    [
        ("2", "1", "--to", "is not after --from"),
        ("1", "1", "--to", "is not after --from"),
        ("3", "4", "--from", "at or past the end of the recording (2 s)"),
        ("2", "2.5", "--from", "at or past the end"),
        ("1", "2.001", "--to", "past the end of the recording (2 s)"),
    ],
)
def test_s11_a_span_outside_the_audio_is_refused_naming_the_option(
    start: str, end: str, option: str, words: str
) -> None:
    wav = layout(wav_bytes(2.0, 8000, 1))
    with pytest.raises(SpanError) as caught:
        silence_of(wav, parse_seconds(start, "--from"), parse_seconds(end, "--to"))
    assert caught.value.option == option
    assert words in str(caught.value)


def test_s11_audio_other_than_16_bit_pcm_is_refused() -> None:
    wav = layout(wav_bytes(1.0, 8000, 1))
    mulaw = WavLayout(
        wav.rate, 1, wav.riff_size, wav.data_offset, wav.declared_data, wav.data_bytes, 7, 8
    )
    with pytest.raises(FormatError, match="not 16-bit linear PCM"):
        silence_of(mulaw, Fraction(0), Fraction(1, 2))


def test_s11_the_silenced_stream_reads_alike_in_any_blocks_and_after_a_seek() -> None:
    data = wav_bytes(1.0, 16000, 2)
    silence = silence_of(layout(data), Fraction(1, 4), Fraction(1, 2))
    whole = SilencedReader(io.BytesIO(data), silence).read()
    reader = SilencedReader(io.BytesIO(data), silence)
    pieces = []
    while block := reader.read(997):
        pieces.append(block)
    assert b"".join(pieces) == whole
    reader.seek(silence.start_byte - 3)
    assert reader.tell() == silence.start_byte - 3
    assert reader.read(6) == whole[silence.start_byte - 3 : silence.start_byte + 3]
