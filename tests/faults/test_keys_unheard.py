"""Keys the daemon could not hear, on the real sandbox Asterisk (R1, A2, A5, C2): its link
to ARI is cut by a TCP proxy, and Asterisk does not keep events for a disconnected
application, so the keys pressed meanwhile are lost for good. On the safe side, once
the link is back the call keeps no audio (the agent may have paused for a card number
or declared the call private, the caller may have objected): its recording, running or
paused throughout, is discarded (DELETE, not stop), the agent hears the refused sound,
and the call goes on, unrecorded, the agent's start key refused. A caller who entered
the application while the link was deaf is handed back to the dialplan's fallback, and
a stray leg of ours is hung up."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from controller.ari.errors import AriNotFound
from controller.ari.events import PlaybackStarted, RecordingStarted, StasisStart
from controller.calls.ids import far_side_id, whisper_of
from controller.calls.recording import KEYS_UNHEARD
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.cut_rig import CutRig, cut_rig
from tests.waiting import DEFAULT_WITHIN, eventually

CALLER_NUMBER = "+33611117777"
RESYNC_LIMIT = 5.0


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def cut_for(rig: CutRig, seconds: float, during: float) -> float:
    """Keeps the link cut until ``seconds`` after ``during``; returns when it is back."""
    await asyncio.sleep(max(0.0, during + seconds - rig.now()))
    await rig.proxy.restore()
    return rig.now()


def states(summary: dict[str, object]) -> list[str]:
    recordings = summary["recordings"]
    assert isinstance(recordings, list)
    return [r["state"] for r in recordings]


@pytest.mark.parametrize("cut_seconds", [3.0, 30.0], ids=["cut3s", "cut30s"])
async def test_r1_a2_keys_pressed_during_an_ari_cut_discard_the_recording(
    site: SandboxSite, cut_seconds: float
) -> None:
    """R1, A2, A5, C2: the agent presses *2 (pause) while the daemon cannot hear; within
    5 s of the link's return the live recording is discarded, its file gone, an alert on
    the call, the refused sound to the agent; the call goes on, and the agent's start key
    after the gap is refused (A4: the caller may have objected unheard)."""
    # The long cut runs with the production backoff: it must cope on its own.
    async with cut_rig(site, default_backoff=cut_seconds > 10) as rig:
        await rig.board.call("sales", "c-talk-120", CALLER_NUMBER)
        await rig.next_of(RecordingStarted)
        call_id, ctx = rig.only_call()
        caller, agent = ctx.machine.channel_ids
        await rig.idle(ctx)
        await rig.proxy.cut()
        cut_at = rig.now()
        await rig.press("*2")
        restored = await cut_for(rig, cut_seconds, cut_at)
        await rig.reconnected()
        reconnected = rig.now() - restored
        summary = await rig.row_until(
            call_id,
            lambda s: states(s) == ["discarded"] and not rig.checks.new_files(),
            within=30,
        )
        discarded = rig.now() - restored
        (alert,) = summary["alerts"]
        assert alert["kind"] == KEYS_UNHEARD and "went unheard" in alert["message"]
        # The *2 never reached the daemon: no pause, the recording simply went.
        assert summary["pauses"] == []
        refused = await rig.next_of(PlaybackStarted, lambda e: e.playback.id == f"rc-{call_id}-f1")
        # To the agent alone: whispered on the snoop of the agent's channel (A10).
        target = refused.playback.target_uri.removeprefix("channel:")
        assert whisper_of(target) == call_id
        # The call is still up, both sides, and goes on.
        await rig.client.get_channel(caller)
        await rig.client.get_channel(agent)
        assert call_id in rig.daemon.calls.router.calls
        # Keys pressed after the link is back are heard: *1 (record for mediation) is
        # answered with the refused sound, and nothing is recorded.
        await rig.press("*1")
        again = await rig.next_of(PlaybackStarted, lambda e: e.playback.id == f"rc-{call_id}-f2")
        assert again.playback.media_uri.endswith("agent-refused")
        await rig.client.hangup(caller)
        (call,) = await rig.daemon.wait_for_calls(1)
        await rig.checks.hold_within(5.0)
    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    assert states(call) == ["discarded"]
    assert discarded <= RESYNC_LIMIT
    label = f"cut{cut_seconds:.0f}s"
    print(f"measured {label} reconnect_seconds={reconnected:.2f}")
    print(f"measured {label} discard_after_restore_seconds={discarded:.2f}")


async def test_r1_c2_a5_call_paused_before_an_ari_cut_is_discarded_nothing_vaulted(
    site: SandboxSite,
) -> None:
    """R1, C2, A5: a recording the agent paused before the cut, paused through it, is
    discarded all the same once the link is back: the caller may have pressed the
    opt-out key unheard, and an objection keeps no audio of the call, the part before
    the pause included. Cancelled (DELETE: Asterisk removes its file, where a stop
    would have kept it for the vault), its row and its pause closed as discarded, an
    alert on the call; nothing is vaulted, nothing resumes."""
    async with cut_rig(site) as rig:
        await rig.board.call("sales", "c-talk-120", CALLER_NUMBER)
        await rig.next_of(RecordingStarted)
        call_id, ctx = rig.only_call()
        caller, _ = ctx.machine.channel_ids
        await rig.press("*2")
        await rig.row_until(call_id, lambda s: len(s["pauses"]) == 1, within=10)
        await rig.idle(ctx)
        await rig.proxy.cut()
        restored = await cut_for(rig, 3.0, rig.now())
        await rig.reconnected()
        reconnected = rig.now() - restored
        summary = await rig.row_until(
            call_id,
            lambda s: states(s) == ["discarded"] and not rig.checks.new_files(),
            within=30,
        )
        discarded = rig.now() - restored
        (pause,) = summary["pauses"]
        assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "discarded")
        (alert,) = summary["alerts"]
        assert alert["kind"] == KEYS_UNHEARD
        # The agent's resume key after the gap resumes nothing (it only lets live
        # listeners in again, S8): heard, answered, and the call stays unrecorded.
        await rig.press("*3")
        await rig.next_of(PlaybackStarted, lambda e: e.playback.id == f"rc-{call_id}-f3")
        await rig.client.hangup(caller)
        (call,) = await rig.daemon.wait_for_calls(1)
        await rig.checks.hold_within(5.0)
    assert states(call) == ["discarded"] and call["recordings"][0]["path"] is None
    vault = site.workdir / "vault"
    assert not vault.exists() or not [p for p in vault.rglob("*") if p.is_file()]
    print(f"measured paused_call reconnect_seconds={reconnected:.2f}")
    print(f"measured paused_call discard_after_restore_seconds={discarded:.2f}")


async def test_r1_caller_entering_while_the_link_is_deaf_goes_to_the_fallback(
    site: SandboxSite,
) -> None:
    """R1: the link goes deaf (nothing reset, events swallowed): a caller enters the
    application and a leg of ours answers, both StasisStarts lost. Once the link is back
    the caller goes back to the dialplan (RECCONTROL_RESULT=unhandled), whose fallback
    carries the call on unrecorded, and the stray leg is hung up: nobody is stranded."""
    async with cut_rig(site) as rig:
        rig.proxy.silence()
        silenced = rig.now()
        await rig.board.call("sales", "c-talk-120", CALLER_NUMBER)
        stray_call = secrets.token_hex(8)
        stray = f"rc-{stray_call}-agent"
        await rig.client.originate(
            "Local/alice-talk@sim-agent",
            app="reccontrol",
            app_args=f"agent,{stray_call}",
            channel_id=stray,
            other_channel_id=far_side_id(stray),
        )

        async def caller_in_the_application() -> str | None:
            in_app = set((await rig.client.get_application("reccontrol")).channel_ids)
            callers = [
                channel.id
                for channel in await rig.client.list_channels()
                if channel.id in in_app and channel.dialplan_context == "reccontrol-inbound"
            ]
            return callers[0] if callers and stray in in_app else None

        entered = await eventually(caller_in_the_application, "caller and stray leg in Stasis", 20)
        assert (await rig.client.get_channel(entered)).dialplan_app == "Stasis"
        restored = await cut_for(rig, 3.0, silenced)
        await rig.reconnected()
        reconnected = rig.now() - restored

        async def in_the_fallback() -> bool | None:
            channel = await rig.client.get_channel(entered)
            return True if channel.dialplan_context == "reccontrol-fallback" else None

        await eventually(in_the_fallback, "the caller in reccontrol-fallback", 20)
        released = rig.now() - restored
        assert await rig.client.get_variable(entered, "RECCONTROL_RESULT") == "unhandled"

        async def stray_gone() -> bool | None:
            try:
                await rig.client.get_channel(stray)
            except AriNotFound:
                return True
            return None

        await eventually(stray_gone, "the stray leg hung up", DEFAULT_WITHIN)
        assert rig.daemon.calls.router.calls == {}
        assert await rig.daemon.query(lambda s: s.call_ids()) == []
        # The caller talks on in the fallback, outside the application; then hangs up.
        await rig.client.hangup(entered)
        await rig.checks.hold_within(5.0)
    assert released <= RESYNC_LIMIT
    print(f"measured deaf_link reconnect_seconds={reconnected:.2f}")
    print(f"measured deaf_link release_after_restore_seconds={released:.2f}")


async def test_r1_c2_call_in_the_announcement_during_a_cut_goes_on_unrecorded(
    site: SandboxSite,
) -> None:
    """R1, C2: the link is cut while the caller hears the announcement, where an opt-out
    key would go unheard. The announcement's end is lost too; once the link is back the
    call goes on to the agent, and is not recorded (decision ``keys_unheard``)."""
    async with cut_rig(site) as rig:
        await rig.board.call("sales", "c-talk-120", CALLER_NUMBER)
        await rig.next_of(StasisStart)
        call_id, ctx = rig.only_call()
        caller, agent = ctx.machine.channel_ids
        await rig.next_of(PlaybackStarted, lambda e: e.playback.id == f"rc-{call_id}-p1")
        # Cut in the announcement itself, once the play request has been answered.
        await rig.idle(ctx)
        await rig.proxy.cut()
        cut_at = rig.now()

        async def announcement_over() -> bool | None:
            try:
                await rig.client.request("GET", f"/playbacks/rc-{call_id}-p1")
            except AriNotFound:
                return True
            return None

        # Its PlaybackFinished is lost in the cut: Asterisk itself (asked straight, not
        # through the proxy) says the announcement is over before the link comes back,
        # however slowly a loaded Asterisk plays it; and the cut lasts 4 s at least.
        await eventually(announcement_over, "the announcement over in Asterisk", 30)
        restored = await cut_for(rig, 4.0, cut_at)
        await rig.reconnected()
        connected = await rig.next_of(StasisStart, lambda e: e.channel.id == agent)
        assert connected is not None
        reached = rig.now() - restored
        summary = await rig.row_until(call_id, lambda s: s["decision"] is not None, within=10)
        await rig.client.hangup(caller)
        (call,) = await rig.daemon.wait_for_calls(1)
        await rig.checks.hold_within(5.0)
    assert summary["decision"]["reason"] == "keys_unheard"
    assert call["recordings"] == [] and call["agent_id"] == "alice"
    print(f"measured announcement_cut agent_reached_after_restore_seconds={reached:.2f}")


@pytest.mark.parametrize("deaf", [True, False], ids=["deaf", "cut"])
async def test_r1_agent_answering_while_the_link_is_down_is_not_lost(
    site: SandboxSite, deaf: bool
) -> None:
    """R1: the agent's phone answers while the link is down. A deaf link (Asterisk still
    believes the application connected): the leg enters the application, its StasisStart
    lost; once the link is back the daemon finds it there and bridges it with the
    caller. A cut link (no websocket): Asterisk itself hangs up a leg answering into the
    application; once the link is back the daemon hands the caller back to the
    dialplan, whose fallback carries the call on. Either way the call goes on,
    unrecorded (the caller's keys went unheard before the decision)."""
    async with cut_rig(site, agent_script="late-3") as rig:
        await rig.board.call("sales", "c-talk-120", CALLER_NUMBER)
        await rig.next_of(StasisStart)
        call_id, ctx = rig.only_call()
        caller, agent = ctx.machine.channel_ids

        async def ringing() -> bool | None:
            try:
                await rig.client.get_channel(agent)
            except AriNotFound:
                return None
            return True

        await eventually(ringing, "the agent's phone ringing", 20)
        await rig.idle(ctx)
        if deaf:
            rig.proxy.silence()
        else:
            await rig.proxy.cut()
        # The agent answers 3 s after the dial, inside this gap.
        restored = await cut_for(rig, 5.0, rig.now())
        await rig.reconnected()

        async def bridged() -> bool | None:
            try:
                bridge = await rig.client.get_bridge(f"rc-{call_id}")
            except AriNotFound:
                return None
            return True if set(bridge.channels) == {caller, agent} else None

        async def in_the_fallback() -> bool | None:
            channel = await rig.client.get_channel(caller)
            return True if channel.dialplan_context == "reccontrol-fallback" else None

        if deaf:
            await eventually(bridged, "caller and agent bridged", 10)
        else:
            await eventually(in_the_fallback, "the caller in reccontrol-fallback", 10)
        went_on = rig.now() - restored
        await rig.client.hangup(caller)
        (call,) = await rig.daemon.wait_for_calls(1)
        await rig.checks.hold_within(5.0)
    assert call["recordings"] == []
    if deaf:
        assert call["decision"]["reason"] == "keys_unheard"
        assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    else:
        assert call["outcome"] == "handed_back" and call["decision"] is None
    assert went_on <= RESYNC_LIMIT
    label = "deaf" if deaf else "cut"
    print(f"measured late_answer_{label} call_went_on_after_restore_seconds={went_on:.2f}")
