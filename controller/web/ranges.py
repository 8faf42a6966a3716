"""HTTP byte ranges (RFC 9110, section 14) and the media type of each recording format:
pure functions, for :mod:`controller.web.audio`.

Only one range per request is served. A browser's audio player asks for one range at a
time (``bytes=0-``, then ``bytes=N-`` to seek); a multipart answer to several ranges
would only add a parser. RFC 9110 lets a server ignore a Range header it does not
serve, so several ranges, another unit or a malformed header get the whole file (200).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RANGE_NOT_SATISFIABLE = "range-not-satisfiable"

# One range: "a-b", "a-" or "-n". Digits are ASCII only (str.isdigit accepts others).
_ONE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# Beyond any file's size: a longer number is read as this, so int() never meets
# thousands of digits (a ValueError, from Python 3.11's limit on int conversion).
_HUGE = 10**18

# Asterisk's format names (the recording's ``format``) -> the media type of its file.
MEDIA_TYPES = {
    "wav": "audio/wav",
    "wav16": "audio/wav",
    "wav49": "audio/wav",
    "WAV": "audio/wav",
    "gsm": "audio/x-gsm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
    "sln": "audio/L16;rate=8000",
    "sln16": "audio/L16;rate=16000",
    "g722": "audio/G722",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
}
UNKNOWN_MEDIA = "application/octet-stream"


class RangeNotSatisfiable(ValueError):
    """The range starts past the end of the file (416)."""

    error_id = RANGE_NOT_SATISFIABLE

    def __init__(self, size: int) -> None:
        super().__init__(f"the range asked for lies outside the file ({size} bytes)")
        self.size = size


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """Inclusive, as in ``Content-Range``."""

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def _number(digits: str) -> int:
    return _HUGE if len(digits) > 18 else int(digits)


def requested_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve of a file of ``size`` bytes, or None for the whole file.
    Raises :class:`RangeNotSatisfiable` for a range that starts at or past the end (or
    a suffix of zero bytes, or any range of an empty file)."""
    if not header:
        return None
    match = _ONE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = _number(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = _number(first)
    if last and _number(last) < start:
        # Invalid (RFC 9110, 14.1.1): ignored, like any range this server does not serve.
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, min(_number(last), size - 1) if last else size - 1)


def media_type(fmt: str) -> str:
    return MEDIA_TYPES.get(fmt, UNKNOWN_MEDIA)


def extension(fmt: str) -> str:
    """The file name extension a download gets: the format's name, if it is a plain one."""
    return fmt if re.fullmatch(r"[A-Za-z0-9]{1,8}", fmt) else "bin"
