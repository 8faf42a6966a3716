"""A10 through the router and the executor, against the fake ARI: the whisper of the
agent's tones is a snoop that hears nothing and speaks towards the agent's phone, is
never taken for a call, carries the tones once up, and goes with the call."""

from __future__ import annotations

import time

from controller.calls.ids import whisper_snoop
from tests.component.fake_ari import channel
from tests.component.test_call_router import (
    Rig,
    connected_and_recording,
    idle,
    rig,
    send,
    until,
)
from tests.component.test_unheard_span import reconnected

__all__ = ["rig"]


async def test_a10_a_whisper_of_a_call_that_is_over_is_hung_up_not_continued(rig: Rig) -> None:
    whisper = whisper_snoop("0123456789abcdef", "1")
    snoop = channel(whisper, name="Snoop/rc-0123456789abcdef-agent-0001")
    await send(rig, "StasisStart", channel=snoop, args=["whisper", "0123456789abcdef"])
    assert rig.fake.paths() == [("DELETE", f"/ari/channels/{whisper}")]
    assert rig.router.calls == {}


async def test_a10_the_agents_tones_play_on_the_whisper_and_it_goes_with_the_call(
    rig: Rig,
) -> None:
    call_id, ctx, _ = await connected_and_recording(rig)
    whisper = whisper_snoop(call_id, "1")
    made = await rig.fake.seen("POST", f"/ari/channels/rc-{call_id}-agent/snoop/{whisper}")
    assert (made.query["spy"], made.query["whisper"]) == ("none", "out")
    assert made.query["appArgs"] == f"whisper,{call_id}"
    await send(rig, "StasisStart", channel=channel(whisper), args=["whisper", call_id])
    await idle(ctx)
    assert rig.router.refused == 0
    assert ("DELETE", f"/ari/channels/{whisper}") not in rig.fake.paths()
    agent = channel(f"rc-{call_id}-agent", name="PJSIP/alice-00000001")
    for key in "*3":
        await send(rig, "ChannelDtmfReceived", channel=agent, digit=key, duration_ms=90)
    play = await rig.fake.seen("POST", f"/ari/channels/{whisper}/play/rc-{call_id}-f1")
    assert play.query["media"].startswith("sound:")
    await send(rig, "StasisEnd", channel=channel("caller-1"))
    await until(lambda: ("DELETE", f"/ari/channels/{whisper}") in rig.fake.paths())


async def test_r1_a10_a_whisper_that_entered_during_an_ari_cut_carries_the_refused_sound(
    rig: Rig,
) -> None:
    """R1, A10: the whisper snoop entered the application while the events websocket was
    down (its StasisStart lost). The link comes back with the snoop among the
    application's channels: the refused sound the gap brings (the recording discarded,
    C2) is whispered on it, not played to the agent's channel, which would hold the
    agent's voice back from the caller."""
    call_id, ctx, name = await connected_and_recording(rig)
    whisper = whisper_snoop(call_id, "1")
    await rig.fake.seen("POST", f"/ari/channels/rc-{call_id}-agent/snoop/{whisper}")
    agent = f"rc-{call_id}-agent"
    rig.fake.answers[("GET", "/ari/channels")] = (
        200,
        [channel("caller-1"), channel(agent), channel(whisper)],
    )
    blind_since = time.monotonic() - 3.0
    await rig.router.handle(reconnected(["caller-1", agent, whisper], blind_since))
    await rig.fake.seen("DELETE", f"/ari/recordings/live/{name}")
    play = await rig.fake.seen("POST", f"/ari/channels/{whisper}/play/rc-{call_id}-f1")
    assert play.query["media"].startswith("sound:")
    assert ("POST", f"/ari/channels/{agent}/play/rc-{call_id}-f1") not in rig.fake.paths()
    await idle(ctx)
