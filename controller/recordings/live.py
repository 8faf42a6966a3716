"""Whether a recording is still live in Asterisk (R1, R5): asked by a restarted
controller about the calls it carries on, and by the orphan sweep before it touches a
file."""

from __future__ import annotations

from controller.ari.client import AriClient
from controller.ari.errors import AriNotFound
from controller.recordings.names import recording_halves


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
