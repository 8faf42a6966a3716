"""The snoop channels of two-channel recordings (R5) against the fake ARI server: never
taken for a call, kept while their recording is in hand, hung up when left over by an
earlier run (R1)."""

from __future__ import annotations

import pytest

from controller.calls import gap, ids
from tests.component.fake_ari import channel
from tests.component.test_call_router import Rig, rig, send

__all__ = ["rig"]

OURS = ids.stereo_name("ab" * 20)
LEFT_OVER = ids.stereo_name("cd" * 20)


async def test_r5_a_recording_snoop_entering_the_application_is_no_call(rig: Rig) -> None:
    snoop = ids.recording_snoop(OURS, ids.LEFT)
    await send(rig, "StasisStart", channel=channel(snoop), args=["recording-side", "left"])
    assert rig.router.calls == {} and rig.router.refused == 0
    assert not any(snoop in r.path for r in rig.fake.requests)


async def test_r5_r1_left_over_snoops_are_hung_up_those_of_a_live_recording_kept(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gap, "GRACE", 0.0)
    rig.router.track_recording("0123456789abcdef", OURS)
    kept = [ids.recording_snoop(OURS, side) for side in ids.SIDES]
    stray = [ids.recording_snoop(LEFT_OVER, side) for side in ids.SIDES]
    rig.fake.registered = True
    rig.fake.channel_ids = kept + stray
    rig.fake.answers[("GET", "/ari/channels")] = (200, [channel(i) for i in kept + stray])
    task = rig.router.release_strangers(kept + stray)
    assert task is not None
    await task
    hung_up = sorted(r.path for r in rig.fake.requests if r.method == "DELETE")
    assert hung_up == sorted(f"/ari/channels/{i}" for i in stray)
