"""Hostile frames in the real events websocket between the real daemon and the real
Asterisk, during a recorded call (R2, R1): unknown events, known events with missing or
wrongly typed fields, undecodable and deeply nested frames, a 10 MB frame, invalid UTF-8.
The daemon stays up, the call goes on, the agent's keys still reach Asterisk afterwards,
what it dropped shows in /healthz, and nothing of the call is left behind."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest

from controller.ari.errors import AriNotFound
from controller.ari.events import Event, PlaybackStarted, RecordingStarted, StreamConnected
from controller.ari.watchdog import EventHandler
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from controller.web.keys import PUMP
from tests.faults.proxy import BINARY, TcpProxy, server_frame
from tests.faults.site import asterisk_address, direct_client, fault_config, invariants
from tests.sites import write_site
from tests.waiting import eventually

CALLER_NUMBER = "+33611115555"
PERSON = "cdubois"


def event(kind: str, **fields: Any) -> bytes:
    body = {"type": kind, "application": "reccontrol", "timestamp": "2026-11-30T01:00:00"}
    return json.dumps({**body, **fields}).encode()


# Of the frames below, those the daemon must drop and count (the others are read and
# do nothing: an unknown type, a name it never made, a digit it cannot read).
DROPPED = 12


def hostile_frames(caller_id: str, agent_id: str) -> dict[str, bytes]:
    """Frames each a well-formed websocket frame whose content is wrong; none of them
    breaks the connection. By what each is, for the failure message."""
    nested = b"[" * 5000 + b"]" * 5000
    return {
        "unknown event type": server_frame(event("ChannelTeleported", channel={"id": agent_id})),
        "DTMF without a channel": server_frame(event("ChannelDtmfReceived", digit="*")),
        "DTMF with a numeric channel id": server_frame(
            event("ChannelDtmfReceived", channel={"id": 7}, digit="*", duration_ms=100)
        ),
        "DTMF on the agent's leg with a digit that is a list": server_frame(
            event("ChannelDtmfReceived", channel={"id": agent_id}, digit=["*"], duration_ms="x")
        ),
        "StasisStart whose channel id is a number": server_frame(
            event("StasisStart", channel={"id": 12345, "name": 6}, args=["inbound", "sales"])
        ),
        "StasisStart whose channel is a string": server_frame(
            event("StasisStart", channel="caller", args=["agent", "nope"])
        ),
        "hang-up with no channel": server_frame(event("ChannelHangupRequest", cause="16")),
        "RecordingFinished for a name never made": server_frame(
            event("RecordingFinished", recording={"name": "0" * 40, "state": "done"})
        ),
        "RecordingFailed whose recording is a number": server_frame(
            event("RecordingFailed", recording=42)
        ),
        "PlaybackFinished with no playback": server_frame(event("PlaybackFinished")),
        "a StasisEnd of the caller's with the type misspelt": server_frame(
            event("stasisend", channel={"id": caller_id})
        ),
        "5,000 nested arrays": server_frame(nested),
        "an event nested 5,000 deep": server_frame(
            b'{"type":"StasisStart","args":' + nested + b"}"
        ),
        "not JSON": server_frame(b"{this is not json"),
        "JSON that is not an object": server_frame(b'["StasisEnd"]'),
        "an empty frame": server_frame(b""),
        "a binary frame": server_frame(b"\x00\xff\x00", BINARY),
    }


# Frames the websocket library itself refuses: it closes the connection, and the daemon
# must reconnect and resync rather than lose the call.
TEN_MB = server_frame(event("ChannelVarset", variable="X", value="A" * 10_000_000))
BAD_UTF8 = server_frame(b'{"type":"StasisStart","args":["\xff\xfe"]}')


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r2_hostile_frames_in_the_event_stream_lose_no_call_and_no_key(
    site: SandboxSite, tmp_path: Path
) -> None:
    proxy = TcpProxy(*asterisk_address(site.instance))
    await proxy.start()
    tag = secrets.token_hex(6)
    # The persons of the test site, for a signed-in /healthz.
    people = tmp_path / "people"
    write_site(people)
    persons = {
        PERSON: {
            "name": "Claire Dubois",
            "role": "dpo",
            "services": ["*"],
            "token_hash_file": str(people / "access" / f"{PERSON}.token-hash"),
        }
    }
    token = (people / "access" / f"{PERSON}.token").read_text().strip()
    path = fault_config(
        site,
        target=f"Local/alice-waitkeys-{tag}@sim-agent",
        ari_url=proxy.url,
        access={"persons": persons},
    )
    config = load_config(path)
    daemon = RunningDaemon(config)
    await daemon.start()
    seen: asyncio.Queue[Event] = asyncio.Queue()
    pump = daemon.app[PUMP]
    calls = pump.handler

    async def spy(event: Event) -> None:
        await calls.handle(event)
        seen.put_nowait(event)

    pump.handler = cast(EventHandler, SimpleNamespace(handle=spy))

    async def next_of(kind: type[Event], name: str = "") -> Event:
        async with asyncio.timeout(30):
            while True:
                got = await seen.get()
                raw = getattr(got, "raw", {})
                if isinstance(got, kind) and (not name or raw.get("eventname") == name):
                    return got

    web = f"http://{config.web.host}:{config.web.port}/healthz"

    async def health(session: aiohttp.ClientSession) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(web, params={"person": PERSON}, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
            return cast(dict[str, Any], await answer.json())

    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(site.instance, session)
            checks = invariants(site, client)
            before = await health(session)
            caller = await Switchboard(site.instance, session).call(
                "sales", "c-talk-120", CALLER_NUMBER
            )
            started = await next_of(RecordingStarted)
            assert isinstance(started, RecordingStarted)
            name = started.recording.name
            (call_id,) = daemon.calls.router.calls
            machine = daemon.calls.router.calls[call_id].machine
            loop = asyncio.get_running_loop()
            began = loop.time()

            # The frames the daemon must shrug off, then a real event from Asterisk
            # behind them on the same socket: once it is handled, so were they.
            frames = hostile_frames(caller.id, machine.agent_channel_id)
            await proxy.inject(*frames.values())
            await client.request(
                "POST", f"/events/user/after-{tag}", params={"application": "reccontrol"}
            )
            await next_of(Event, f"after-{tag}")
            shrugged = loop.time() - began

            # The agent's pause key still reaches Asterisk.
            async def recording_is(state: str) -> None:
                async def probe() -> bool | None:
                    return True if (await client.get_live_recording(name)).state == state else None

                await eventually(probe, f"the recording is {state}", within=10)

            async def press(keys: str) -> None:
                await client.request(
                    "POST",
                    "/asterisk/variable",
                    params={"variable": f"SIM_KEYS_{tag}", "value": keys},
                )

            await press("*2")
            await recording_is("paused")

            # Frames that make the websocket library drop the connection: reconnected.
            # Events were lost meanwhile, the caller's opt-out key among them perhaps:
            # the recording, paused all along, is discarded (C2), the refused sound
            # whispered to the agent.
            for frame in (TEN_MB, BAD_UTF8):
                sockets = len(proxy.sockets)
                await proxy.inject(frame, after=sockets - 1)
                again = await next_of(StreamConnected)
                assert isinstance(again, StreamConnected) and again.reconnect
                assert len(proxy.sockets) == sockets + 1
            reconnected = loop.time() - began

            async def discarded() -> bool | None:
                try:
                    await client.get_live_recording(name)
                except AriNotFound:
                    return True
                return None

            await eventually(discarded, "the recording discarded", within=10)

            # The call went on, and the agent's resume key still reaches the daemon: its
            # sound answers it (the keys' third: the pause's, the gap's, this one).
            assert list(daemon.calls.router.calls) == [call_id]
            await press("*3")
            while True:
                played = await next_of(PlaybackStarted)
                assert isinstance(played, PlaybackStarted)
                if played.playback.id == f"rc-{call_id}-f3":
                    break
            after = await health(session)
            await client.hangup(caller.id)
            (call,) = await daemon.wait_for_calls(1)
            settled = await checks.hold_within(5.0)
    finally:
        await daemon.stop()
        await proxy.close()
    print(
        f"measured bad_ari_input frames={len(frames)} handled_seconds={shrugged:.2f} "
        f"two_reconnects_seconds={reconnected:.2f} invariants_seconds={settled:.2f}"
    )
    # Connected now, after two reconnections (/healthz says "ok" whenever it answers).
    assert after["ari_connected"] is True
    assert after["ari_connections"] == before["ari_connections"] + 2
    # Each undecodable or unroutable frame is counted, the two that broke the websocket
    # too; none made a handler fail.
    assert after["events_dropped"] - before["events_dropped"] == DROPPED + 2
    assert after["event_handler_errors"] == before["event_handler_errors"] == 0
    assert after["event_consumer_restarts"] == 0 and after["forced_reconnects"] == 0
    assert call["agent_id"] == "alice" and call["outcome"] == "caller_hung_up"
    (recording,) = call["recordings"]
    assert recording["state"] == "discarded"
    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["reason"], pause["resumed_by"]) == (
        "alice",
        "agent_key",
        "discarded",
    )
