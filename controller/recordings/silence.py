"""Silencing a span of a stored recording (S11): which bytes, and a stream that yields the
recording with those bytes zeroed.

A redaction replaces the audio of ``[from, to)`` with digital silence (zero samples) on
every channel and leaves everything else as it was: the header, the length, every sample
before and after the span, byte for byte. So a timestamp noted before the redaction
(a dispute, a sheet) still points at the same moment afterwards.

The span is in seconds from the start of the audio. Every sample frame that overlaps
``[from, to)`` is silenced, so nothing of the span survives at its edges: the first
frame is ``floor(from * rate)``, the end ``ceil(to * rate)`` (exclusive). The seconds
are read as exact decimals (no binary rounding moves a frame).

Only linear 16-bit PCM is silenced, what Asterisk's ``wav`` and ``wav16`` hold; there,
zero is silence. Pure functions and a stream wrapper: no file is opened here.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import BinaryIO

from controller.recordings.wavfile import PCM, WavLayout

SPAN_ERROR = "bad-span"
FORMAT_ERROR = "redact-format"
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
MAX_DECIMALS = 6


class SpanError(ValueError):
    """The span cannot be silenced as given; ``option`` names the option (``--from``,
    ``--to``) or the form field it came from."""

    error_id = SPAN_ERROR

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


class FormatError(ValueError):
    """The recording's audio is not linear 16-bit PCM: zero bytes would not be silence."""

    error_id = FORMAT_ERROR


@dataclass(frozen=True)
class Silence:
    """The frames and the bytes of the file a redaction zeroes."""

    first_frame: int
    end_frame: int
    """Exclusive."""
    start_byte: int
    end_byte: int
    """Exclusive: offsets in the whole file, header included."""
    rate: int

    @property
    def seconds(self) -> tuple[float, float]:
        """Where the silence really starts and ends (whole frames), in seconds."""
        return self.first_frame / self.rate, self.end_frame / self.rate


def parse_seconds(text: str, option: str) -> Fraction:
    """A moment in the recording: seconds (``75``, ``75.25``) or a clock reading
    (``1:15.25``, ``0:01:15``), exact. Raises :class:`SpanError` naming ``option``."""
    cleaned = text.strip()
    clock = _CLOCK.fullmatch(cleaned)
    try:
        if clock is not None:
            hours, minutes, seconds = clock.groups()
            if (hours is not None and int(minutes) >= 60) or Decimal(seconds) >= 60:
                raise SpanError(option, f"{cleaned[:40]!r} is not a clock reading (M:SS)")
            value = Decimal(int(hours or 0) * 3600 + int(minutes) * 60) + Decimal(seconds)
        else:
            value = Decimal(cleaned)
    except InvalidOperation:
        raise SpanError(
            option, f"{cleaned[:40]!r} is not a number of seconds (75.5) or M:SS (1:15.5)"
        ) from None
    if not value.is_finite():
        raise SpanError(option, f"{cleaned[:40]!r} is not a number of seconds")
    if value < 0:
        raise SpanError(option, f"{cleaned[:40]} is before the start of the recording")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise SpanError(option, f"at most {MAX_DECIMALS} decimals (a microsecond)")
    return Fraction(value)


def silence_of(layout: WavLayout, start: Fraction, end: Fraction) -> Silence:
    """The frames and bytes to zero for ``[start, end)`` seconds of a recording of this
    layout. Raises :class:`SpanError` (naming ``--from`` or ``--to``) for a span that is
    empty, reversed or outside the audio, :class:`FormatError` for audio that is not
    16-bit linear PCM."""
    if layout.audio_format != PCM or layout.bits_per_sample != 16:
        raise FormatError(
            f"the recording is not 16-bit linear PCM (format {layout.audio_format}, "
            f"{layout.bits_per_sample} bits): it cannot be silenced sample by sample"
        )
    frames = layout.data_bytes // layout.block_align
    length = Fraction(frames, layout.rate)
    if end <= start:
        raise SpanError("--to", f"{_s(end)} s is not after --from ({_s(start)} s)")
    if start >= length:
        raise SpanError(
            "--from", f"{_s(start)} s is at or past the end of the recording ({_s(length)} s)"
        )
    if end > length:
        raise SpanError("--to", f"{_s(end)} s is past the end of the recording ({_s(length)} s)")
    first = math.floor(start * layout.rate)
    stop = min(math.ceil(end * layout.rate), frames)
    return Silence(
        first_frame=first,
        end_frame=stop,
        start_byte=layout.audio_start + first * layout.block_align,
        end_byte=layout.audio_start + stop * layout.block_align,
        rate=layout.rate,
    )


def _s(value: Fraction) -> str:
    """Seconds for a message: as typed when exact to the millisecond, else rounded."""
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def zero_overlap(block: bytearray | memoryview, offset: int, silence: Silence) -> None:
    """Zeroes, in ``block`` (the file's bytes from ``offset``), those inside the span."""
    begin = max(silence.start_byte, offset) - offset
    end = min(silence.end_byte, offset + len(block)) - offset
    if begin < end:
        block[begin:end] = bytes(end - begin)


class SilencedReader(io.RawIOBase):
    """The file read from ``source``, with the span's bytes read as zeros. Seekable when
    ``source`` is, so a writer may read it in any order; nothing is buffered here."""

    def __init__(self, source: BinaryIO, silence: Silence) -> None:
        super().__init__()
        self._source = source
        self._silence = silence
        self._position = source.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._source.seekable()

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        count = len(data)
        view[:count] = data
        zero_overlap(view[:count], self._position, self._silence)
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = self._source.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._position
