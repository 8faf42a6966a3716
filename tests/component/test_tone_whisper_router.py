"""A10 through the router and the executor, against the fake ARI: the whisper of the
agent's tones is a snoop that hears nothing and speaks towards the agent's phone, is
never taken for a call, carries the tones once up, and goes with the call."""

from __future__ import annotations

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
