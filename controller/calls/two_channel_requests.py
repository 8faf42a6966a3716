"""Two-channel recordings (R5) on the ARI path: the requests Asterisk is sent for the
commands of :mod:`~controller.calls.two_channels`. Each command on a stereo recording
becomes the same request on both halves, sent at once so both sides pause, resume or
stop within one round trip of each other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.calls import commands as c
from controller.calls.ids import SIDES, recording_halves, recording_side_args, recording_snoop
from controller.calls.two_channels import HalfCommand, StartStereoRecording
from controller.recordings.live import live_state as live_state


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
