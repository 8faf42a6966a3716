"""The ARI connection cut (REST and events) by a TCP proxy the test controls (R1): the
call goes on in Asterisk; the caller hangs up during the cut, so its events are lost;
once the link is back the daemon reconnects, finds the caller gone and ends the call.
Its recording ran while the agent's keys could not be heard (a pause for a card number,
say), so it is discarded with an alert rather than vaulted; nothing of ours stays in
Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import aiohttp
import pytest

from controller.ari.errors import AriNotFound
from controller.ari.events import Event, RecordingStarted, StreamConnected
from controller.ari.watchdog import EventHandler
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from controller.web.keys import PUMP
from tests.faults.proxy import TcpProxy
from tests.faults.site import asterisk_address, direct_client, fault_config, invariants
from tests.waiting import eventually

CALLER_NUMBER = "+33611116666"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r1_caller_hangs_up_during_an_ari_cut(site: SandboxSite) -> None:
    proxy = TcpProxy(*asterisk_address(site.instance))
    await proxy.start()
    config = load_config(fault_config(site, target="Local/alice-talk@sim-agent", ari_url=proxy.url))
    daemon = RunningDaemon(config)
    await daemon.start()
    seen: asyncio.Queue[Event] = asyncio.Queue()
    pump = daemon.app[PUMP]
    calls = pump.handler

    async def spy(event: Event) -> None:
        await calls.handle(event)
        seen.put_nowait(event)

    pump.handler = cast(EventHandler, SimpleNamespace(handle=spy))

    async def next_of(kind: type[Event]) -> Event:
        async with asyncio.timeout(30):
            while not isinstance(event := await seen.get(), kind):
                pass
            return event

    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(site.instance, session)
            checks = invariants(site, client)
            caller = await Switchboard(site.instance, session).call(
                "sales", "c-talk-8", CALLER_NUMBER
            )
            await next_of(RecordingStarted)
            await proxy.cut()
            # The caller's script hangs up while the daemon cannot hear it.

            async def caller_gone() -> bool | None:
                try:
                    await client.get_channel(caller.id)
                except AriNotFound:
                    return True
                return None

            await eventually(caller_gone, "the caller's channel gone")
            loop = asyncio.get_running_loop()
            await proxy.restore()
            restored = loop.time()
            again = await next_of(StreamConnected)
            assert isinstance(again, StreamConnected) and again.reconnect
            reconnected = loop.time() - restored
            (call,) = await daemon.wait_for_calls(1)
            await checks.hold_within(5.0)
            resynced = loop.time() - restored
    finally:
        await daemon.stop()
        await proxy.close()
    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    assert [r["state"] for r in call["recordings"]] == ["discarded"]
    assert [a["kind"] for a in call["alerts"]] == ["keys_unheard"]
    assert resynced <= 5.0
    print(f"measured reconnect_seconds={reconnected:.2f}")
    print(f"measured resync_seconds={resynced:.2f}")
