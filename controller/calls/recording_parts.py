"""What a recording is, as the recording controller
(:class:`~controller.calls.recording.RecordingControl`) and the restart's adoption hold
it: its state, the recording itself, an open pause, and a snapshot of both."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class RecState(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    STOPPING = "stopping"
    DISCARDED = "discarded"
    FAILED = "failed"
    DONE = "done"


@dataclass
class Recording:
    recording_id: str
    name: str
    state: RecState
    purposes: tuple[str, ...]

    @property
    def live(self) -> bool:
        return self.state in (RecState.STARTING, RecState.ACTIVE)


@dataclass(frozen=True)
class Pause:
    pause_id: str
    reason: str
    """A :class:`~controller.calls.commands.PauseReason`, or what a stored row says."""
    mute: bool
    opened_at: dt.datetime | None = None
    """When the pause began; None when not known (then it proves nothing about when
    the recording was running)."""


@dataclass(frozen=True)
class RecordingSnapshot:
    """What a recording controller needs to carry on: the recording (from the store,
    its state checked against Asterisk's live recordings) and the open pause, if any."""

    recording: Recording | None
    pause: Pause | None
