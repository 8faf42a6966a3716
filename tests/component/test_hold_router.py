"""The agent's hold through the router and the executor (A9), against the fake ARI: the
pause leaves from ``ChannelHold``'s own event handler, the music goes to the caller's
channel alone, and ``ChannelUnhold`` stops it and resumes."""

from __future__ import annotations

from tests.component.test_call_router import (  # noqa: F401
    Rig,
    connected_and_recording,
    idle,
    rig,
    send,
    stored_call,
)


async def test_a9_the_holds_pause_leaves_inline_then_music_to_the_caller_alone(
    rig: Rig,  # noqa: F811
) -> None:
    """A9: the pause's REST call is done when ChannelHold's handler returns, first, and
    its reaction time measured; then music on hold on the caller's channel, never the
    bridge; ChannelUnhold stops the music and resumes; the pause row says hold."""
    call_id, ctx, name = await connected_and_recording(rig)
    agent = {"id": f"rc-{call_id}-agent", "name": "PJSIP/alice-00000001", "state": "Up"}
    before = len(rig.fake.requests)
    await send(rig, "ChannelHold", channel=agent, musicclass="default")
    first = rig.fake.requests[before]
    assert (first.method, first.path) == ("POST", f"/ari/recordings/live/{name}/pause")
    assert rig.executor.reaction_times_ms.count == 1
    await idle(ctx)
    held = [(r.method, r.path) for r in rig.fake.requests[before:]]
    assert ("POST", "/ari/channels/caller-1/moh") in held
    assert not any(path.endswith(f"/bridges/rc-{call_id}/moh") for _, path in held)

    middle = len(rig.fake.requests)
    await send(rig, "ChannelUnhold", channel=agent)
    await idle(ctx)
    back = [(r.method, r.path) for r in rig.fake.requests[middle:]]
    assert back == [
        ("DELETE", "/ari/channels/caller-1/moh"),
        ("DELETE", f"/ari/recordings/live/{name}/pause"),
    ]
    (pause,) = (await stored_call(rig, call_id))["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("hold", "agent")
