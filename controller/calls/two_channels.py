"""Two-channel recordings (R5) on the ARI path: the commands, pure (the requests they
become are :mod:`~controller.calls.two_channel_requests`'s).

A bridge recording mixes everyone into one channel. A stereo recording is instead two
ARI recordings, each of a snoop channel that hears only what one party sends (``spy=in``):
the caller's (the customer's, outbound) on the left, the agent's on the right. The call
machines see one recording, named by :func:`~controller.calls.ids.stereo_name`; here each
of its commands becomes the same request on both halves, sent at once so both sides
pause, resume or stop within one round trip of each other. The vault joins the two files
into one stereo WAV when it takes the recording in
(:mod:`controller.recordings.stereo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.calls import commands as c
from controller.calls.ids import (
    RECORDING_SIDE_ARG,
    SIDES,
    is_stereo,
    recording_snoop,
    whole_recording,
)


@dataclass(frozen=True)
class StartStereoRecording(c.StartRecording):
    """Starts a two-channel recording: ``left`` and ``right`` are the channels whose
    voices go on each side. A :class:`~controller.calls.commands.StartRecording`, so
    whatever handles a recording's start (its failure) handles this one too."""

    left: str = ""
    right: str = ""


HalfCommand = c.PauseRecording | c.ResumeRecording | c.CancelRecording | c.StopRecording


def on_both_halves(command: c.Rest) -> HalfCommand | None:
    """The command, if it acts on a stereo recording's halves (else None: sent as is)."""
    match command:
        case c.PauseRecording() | c.ResumeRecording() | c.CancelRecording() | c.StopRecording():
            return command if is_stereo(command.name) else None
    return None


def is_recording_snoop(app_args: tuple[str, ...]) -> bool:
    """A channel entering the application as a two-channel recording's snoop."""
    return bool(app_args) and app_args[0] == RECORDING_SIDE_ARG


def owner_of(recordings: Mapping[str, str], name: str) -> str | None:
    """The call owning an ARI recording (``recordings``: name -> call id); a half's is
    its stereo recording's."""
    return recordings.get(whole_recording(name))


def snoop_owners(recordings: Mapping[str, str]) -> dict[str, str]:
    """The snoop channels of the stereo recordings among ``recordings`` (name -> call
    id), each with its call: channels a call owns, never strangers to release."""
    return {
        recording_snoop(name, side): call_id
        for name, call_id in recordings.items()
        if is_stereo(name)
        for side in SIDES
    }
