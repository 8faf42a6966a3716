"""reccontrol's own ARI client against the real Asterisk: typed events, typed errors,
and a resync after the websocket is cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from controller.ari import AriClient, AriNotFound, EventStream
from controller.ari.events import (
    ChannelDtmfReceived,
    Event,
    StasisEnd,
    StasisStart,
    StreamConnected,
)
from controller.config.model import AriSettings, ReconnectSettings
from controller.sandbox import Sandbox, SandboxInstance
from controller.secrets import Secret
from tests.waiting import eventually


def settings(instance: SandboxInstance, app: str = "reccontrol") -> AriSettings:
    return AriSettings(
        url=instance.ari_url,
        username=instance.ari_username,
        password=Secret(instance.ari_password, "sandbox"),
        app=app,
        reconnect=ReconnectSettings(initial_delay=0.1, max_delay=0.5),
    )


async def next_of(events: AsyncIterator[Event], kind: type[Event], within: float = 10) -> Event:
    async with asyncio.timeout(within):
        async for event in events:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"stream ended before {kind.__name__}")


async def test_originate_stasis_start_answer_hangup_stasis_end(
    asterisk: SandboxInstance,
) -> None:
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings(asterisk), session)
        stream = EventStream(client)
        events = aiter(stream)
        connected = await next_of(events, StreamConnected)
        assert isinstance(connected, StreamConnected) and not connected.reconnect

        channel = await client.originate(
            "Local/dtmf-4@sim-caller", app_args="inbound,probe", caller_id="0612345678"
        )
        start = await next_of(events, StasisStart)
        assert isinstance(start, StasisStart)
        assert start.channel.id == channel.id and start.args == ("inbound", "probe")
        assert start.channel.caller.number == "0612345678"

        await client.answer(channel.id)
        assert (await client.get_channel(channel.id)).state == "Up"
        dtmf = await next_of(events, ChannelDtmfReceived)
        assert isinstance(dtmf, ChannelDtmfReceived) and dtmf.digit == "4"

        await client.hangup(channel.id)
        end = await next_of(events, StasisEnd)
        assert isinstance(end, StasisEnd) and end.channel.id == channel.id

        # Asterisk destroys the channel just after StasisEnd: a moment later, it is gone.
        async def gone() -> bool | None:
            try:
                await client.get_channel(channel.id)
            except AriNotFound:
                return True
            return None

        await eventually(gone, "the hung-up channel destroyed")
        await stream.close()


async def test_real_errors_are_typed(asterisk: SandboxInstance) -> None:
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings(asterisk), session)
        with pytest.raises(AriNotFound) as info:
            await client.pause_recording("no-such-recording")
        assert info.value.status == 404


async def test_resync_after_the_websocket_is_cut(
    sandbox: Sandbox, asterisk: SandboxInstance
) -> None:
    app = "reccontrol-resync"
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings(asterisk, app), session)
        stream = EventStream(client)
        events = aiter(stream)
        await next_of(events, StreamConnected)
        channel = await client.originate("Local/talk@sim-caller", app=app)
        await next_of(events, StasisStart)

        assert app in sandbox.cli(asterisk.name, "ari show apps")
        # Drop the socket under the stream, as a network cut would. Stasis keeps the
        # channel; the stream reconnects and reads the application's state back.
        for ws in stream_sockets(stream):
            await ws.close()
        again = await next_of(events, StreamConnected, within=15)
        assert isinstance(again, StreamConnected) and again.reconnect
        assert channel.id in again.state.channel_ids
        await client.hangup(channel.id)
        await next_of(events, StasisEnd)
        await stream.close()


def stream_sockets(stream: EventStream) -> list[aiohttp.ClientWebSocketResponse]:
    ws = stream._ws
    return [ws] if ws is not None else []
