"""Two-channel recordings (R5) on the ARI path: what Asterisk is asked for.

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

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.calls import commands as c
from controller.calls.ids import (
    RECORDING_SIDE_ARG,
    SIDES,
    is_stereo,
    recording_halves,
    recording_side_args,
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


async def live_state(client: AriClient, name: str) -> str | None:
    """A live recording's state, None when it is not live. A stereo recording is live
    while either half is, and paused if either is: on the safe side, a restarted
    controller keeps it paused rather than let a side record what a pause keeps out."""
    states = []
    for ari_name in recording_halves(name) or (name,):
        try:
            states.append((await client.get_live_recording(ari_name)).state)
        except AriNotFound:
            continue
    if not states:
        return None
    return "paused" if "paused" in states else states[0]


async def start(client: AriClient, command: StartStereoRecording) -> None:
    """Both snoops, then both recordings at once. Anything refused undoes what was made
    (no half runs alone) and raises the refusal, so the call sees one failed start."""
    name, fmt = command.name, command.fmt
    try:
        for side, channel in zip(SIDES, (command.left, command.right), strict=True):
            # ``spy=in``: only what the party sends, their voice, nothing played to them.
            snoop = recording_snoop(name, side)
            await client.snoop(channel, snoop, recording_side_args(side), spy="in")
        await _both(
            [
                partial(_record, client, recording_snoop(name, side), half, fmt)
                for side, half in zip(SIDES, recording_halves(name), strict=True)
            ]
        )
    except AriError:
        # A side that did start is cancelled (its file deleted), then both snoops go.
        for half in recording_halves(name):
            with contextlib.suppress(AriError):
                await client.cancel_recording(half)
        await _hang_up_snoops(client, name)
        raise


async def send(client: AriClient, command: HalfCommand) -> None:
    """The command on both halves at once. Raises the first refusal other than "not
    found", or "not found" when neither half is there any more."""
    action: Callable[[str], Awaitable[None]] = getattr(
        client, _ACTIONS[type(command), getattr(command, "mute", False)]
    )
    await _both(
        [partial(action, half) for half in recording_halves(command.name)],
        one_may_be_gone=True,
    )
    if isinstance(command, c.StopRecording | c.CancelRecording):
        # The recordings are over: their snoops hear nothing for anyone any more.
        await _hang_up_snoops(client, command.name)


# The client's method for each command on one half, by command and mute.
_ACTIONS: dict[tuple[type, bool], str] = {
    (c.PauseRecording, False): "pause_recording",
    (c.PauseRecording, True): "mute_recording",
    (c.ResumeRecording, False): "unpause_recording",
    (c.ResumeRecording, True): "unmute_recording",
    (c.CancelRecording, False): "cancel_recording",
    (c.StopRecording, False): "stop_recording",
}

# Asterisk puts a snoop into the application from a thread of the snoop's own, so a
# recording asked for right after the creation's answer could find it not there yet and
# be refused (409: not in Stasis). Not seen on 22.10.1 (the snoop was always in by
# then), but the window exists: the recording's request is tried again, briefly.
RECORD_TRIES = 50
RECORD_RETRY_SECONDS = 0.01


async def _record(client: AriClient, snoop_id: str, half: str, fmt: str) -> None:
    for attempt in range(RECORD_TRIES):
        try:
            await client.record_channel(snoop_id, half, fmt=fmt)
            return
        except AriError as exc:
            if exc.status != 409 or attempt == RECORD_TRIES - 1:
                raise
        await asyncio.sleep(RECORD_RETRY_SECONDS)


async def _both(
    requests: list[Callable[[], Awaitable[None]]], *, one_may_be_gone: bool = False
) -> None:
    """Sends the requests at once and waits for every answer. Raises the first refusal;
    "not found" too, unless ``one_may_be_gone`` and another side was found (a side
    already ended with its party, the other still there)."""
    results = await asyncio.gather(*(request() for request in requests), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, AriError):
            raise error
    refusals = [e for e in errors if not isinstance(e, AriNotFound)]
    if refusals:
        raise refusals[0]
    if errors and (len(errors) == len(results) or not one_may_be_gone):
        raise errors[0]


async def _hang_up_snoops(client: AriClient, name: str) -> None:
    for side in SIDES:
        with contextlib.suppress(AriError):  # gone already, with its party
            await client.hangup(recording_snoop(name, side))
