"""Each REST command of the call machines as its request to Asterisk's REST interface.

Pure translation, no error handling: the :class:`~controller.calls.executor.CommandExecutor`
decides what a failure means for the call. Every REST command kind is matched
exhaustively: a new one that is not translated here fails type checking.
"""

from __future__ import annotations

from typing import assert_never

from controller.ari.client import AriClient
from controller.calls import commands as c
from controller.calls import two_channel_requests, two_channels
from controller.calls.asterisk_view import AsteriskQueries
from controller.calls.ids import far_side_id, snoop_mode


async def send_request(client: AriClient, asterisk: AsteriskQueries, command: c.Rest) -> None:
    """Sends ``command`` to Asterisk; raises :class:`~controller.ari.errors.AriError`."""
    halves = two_channels.on_both_halves(command)
    if halves is not None:
        await two_channel_requests.send(client, halves)
        return
    match command:
        case c.CancelRecording(name=name):
            await client.cancel_recording(name)
        case c.PauseRecording(name=name, mute=mute):
            if mute:
                await client.mute_recording(name)
            else:
                await client.pause_recording(name)
        case c.ResumeRecording(name=name, mute=mute):
            if mute:
                await client.unmute_recording(name)
            else:
                await client.unpause_recording(name)
        case c.Answer(channel_id=channel_id):
            await client.answer(channel_id)
        case c.Play(channel_id=channel_id, media=media, playback_id=playback_id, lang=lang):
            await client.play(channel_id, media, playback_id=playback_id, lang=lang)
        case c.StopPlayback(playback_id=playback_id):
            await client.stop_playback(playback_id)
        case c.Ring(channel_id=channel_id):
            await client.ring(channel_id)
        case c.Originate():
            local = command.endpoint.startswith("Local/")
            await client.originate(
                command.endpoint,
                app_args=command.app_args,
                channel_id=command.channel_id,
                other_channel_id=far_side_id(command.channel_id) if local else None,
                ring_timeout=command.ring_timeout,
                # A supervisor's phone has no originator: it is not one of the call's legs.
                originator=command.originator or None,
                caller_id=command.caller_id,
            )
        case c.Snoop(channel_id=channel_id, snoop_id=snoop_id):
            await client.snoop(channel_id, snoop_id, *snoop_mode(snoop_id))
        case c.CutSnoop(snoop_id=snoop_id):
            await client.hangup(snoop_id)
        case c.CreateBridge(bridge_id=bridge_id):
            await client.create_bridge("mixing", bridge_id=bridge_id)
        case c.AddToBridge(bridge_id=bridge_id, channel_id=channel_id):
            await client.add_channel(bridge_id, channel_id, absorb_dtmf=True)
        case c.RemoveFromBridge(bridge_id=bridge_id, channel_id=channel_id):
            await client.remove_channel(bridge_id, channel_id)
        case c.StartHoldMusic(channel_id=str() as channel_id, moh_class=moh_class):
            await client.start_channel_moh(channel_id, moh_class)
        case c.StopHoldMusic(channel_id=str() as channel_id):
            await client.stop_channel_moh(channel_id)
        case c.StartHoldMusic(bridge_id=bridge_id, moh_class=moh_class):
            await client.start_bridge_moh(bridge_id, moh_class)
        case c.StopHoldMusic(bridge_id=bridge_id):
            await client.stop_bridge_moh(bridge_id)
        case two_channels.StartStereoRecording():
            await two_channel_requests.start(client, command)
        case c.StartRecording(bridge_id=bridge_id, name=name, fmt=fmt):
            await client.record_bridge(bridge_id, name, fmt=fmt)
        case c.StopRecording(name=name):
            await client.stop_recording(name)
        case c.Hangup(channel_id=channel_id, reason=reason):
            await client.hangup(channel_id, reason)
        case c.DestroyBridge(bridge_id=bridge_id):
            await client.destroy_bridge(bridge_id)
        case c.ContinueInDialplan(channel_id=channel_id):
            await asterisk.return_to_dialplan(channel_id)
        case c.MuteCaller(channel_id=channel_id):
            await client.mute_channel(channel_id, "in")
        case c.UnmuteCaller(channel_id=channel_id):
            await client.unmute_channel(channel_id, "in")
        case _:
            assert_never(command)
