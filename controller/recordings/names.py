"""The names of recordings and of the files Asterisk writes for them (R5): a recording
is 160 random bits in hex (S4); a two-channel one adds ``-stereo`` (two ARI recordings,
``-left`` and ``-right``, joined in the vault) or ``-interleaved`` (MixMonitor's ``D`` on
the FastAGI path). Everything about a recording is read back from its name, so a
restarted controller, the orphan sweep and the vault know a two-channel recording and
its halves without a stored flag."""

from __future__ import annotations

import re

_STEREO = re.compile(r"[0-9a-f]{40}-stereo")
_HALF = re.compile(r"([0-9a-f]{40}-stereo)-(left|right)")
_INTERLEAVED = re.compile(r"[0-9a-f]{40}-interleaved")
_RECORDING_FILE = re.compile(r"[0-9a-f]{40}(?:-stereo-(?:left|right)|-interleaved)?")

LEFT, RIGHT = "left", "right"
"""The caller (the customer of an outbound call) on the left, the agent on the right."""
SIDES = (LEFT, RIGHT)


def stereo_name(name: str) -> str:
    """The name of a two-channel recording, from a recording name (160 random bits)."""
    return f"{name}-stereo"


def is_stereo(name: str) -> bool:
    return _STEREO.fullmatch(name) is not None


def recording_halves(name: str) -> tuple[str, ...]:
    """The ARI recordings (and files) of a stereo recording, left then right; () for a
    one-channel recording."""
    return tuple(f"{name}-{side}" for side in SIDES) if is_stereo(name) else ()


def whole_recording(name: str) -> str:
    """The recording an ARI recording name belongs to: a half's stereo recording, or
    the name itself."""
    found = _HALF.fullmatch(name)
    return found.group(1) if found else name


def half_side(name: str) -> str:
    """``left`` or ``right`` for a half of a stereo recording, else ""."""
    found = _HALF.fullmatch(name)
    return found.group(2) if found else ""


def interleaved_name(name: str) -> str:
    """The name of a two-channel recording made by MixMonitor's ``D`` option (the
    FastAGI path): one file, the agent's channel's two directions interleaved."""
    return f"{name}-interleaved"


def is_interleaved(name: str) -> bool:
    return _INTERLEAVED.fullmatch(name) is not None


def is_two_channel(name: str) -> bool:
    """A recording with the caller and the agent on channels of their own (R5)."""
    return is_stereo(name) or is_interleaved(name)


def is_recording_file(stem: str) -> bool:
    """A file Asterisk writes for a recording of ours: 160 random bits in hex, or a
    two-channel recording's half or interleaved file (R5)."""
    return _RECORDING_FILE.fullmatch(stem) is not None

