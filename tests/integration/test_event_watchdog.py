"""The event path on the real Asterisk (R1, R2): a dead consumer is
replaced and the agent's keys work again; the end-to-end probe goes through Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from controller.ari.events import Event, StasisStart, StreamConnected
from controller.ari.watchdog import EventHandler, EventPump, Verdict
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.web.keys import PUMP, STREAM
from tests.audio import read_wav, tone_seconds
from tests.integration.flow import running_flow, service
from tests.integration.test_agent_controls import CALLER_NUMBER, MARKER, keyed_sections
from tests.waiting import DEFAULT_WITHIN


def spy_on(pump: EventPump) -> asyncio.Queue[Event]:
    """Every event the calls were given, once they have handled it."""
    calls = pump.handler
    seen: asyncio.Queue[Event] = asyncio.Queue()

    async def handle(event: Event) -> None:
        await calls.handle(event)
        seen.put_nowait(event)

    pump.handler = cast(EventHandler, SimpleNamespace(handle=handle))
    return seen


async def next_of(
    seen: asyncio.Queue[Event], kind: type[Event], within: float = DEFAULT_WITHIN
) -> Event:
    async with asyncio.timeout(within):
        while True:
            event = await seen.get()
            if isinstance(event, kind):
                return event


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r1_agent_keys_work_after_the_event_consumer_is_killed(site: SandboxSite) -> None:
    services = {"sales": service(site, target="Local/alice-pause@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0], **keyed_sections(site)) as flow:
        pump = flow.daemon.app[PUMP]
        assert await pump.watchdog.probe() is Verdict.ALIVE
        seen = spy_on(pump)
        # The consumer dies between calls (a call in progress would have its keys
        # unheard during the gap, and go unrecorded: see tests/faults/test_keys_unheard.py);
        # it is replaced, and the agent's keys work on the next call.
        assert pump.consumer is not None
        pump.consumer.cancel()
        await asyncio.wait_for(pump.restarted.wait(), DEFAULT_WITHIN)
        again = await next_of(seen, StreamConnected)
        assert isinstance(again, StreamConnected) and again.reconnect
        await flow.board.call("sales", "c-talk-14", CALLER_NUMBER)
        await next_of(seen, StasisStart)
        (call,) = await flow.daemon.wait_for_calls(1)
        alerts = await flow.daemon.query(
            lambda s: [r["kind"] for r in s.db.query("SELECT kind FROM alerts")]
        )
        assert await pump.watchdog.probe() is Verdict.ALIVE
        bridges, channels = await flow.asterisk_leftovers()

    assert pump.counters.consumer_restarts == 1
    assert alerts == ["ari_consumer_stopped"]
    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["resumed_by"]) == ("alice", "agent")
    audio = read_wav(Path(call["recordings"][0]["path"]))
    assert tone_seconds(audio, MARKER) == 0.0
    assert (bridges, channels) == ([], [])


async def test_r1_displaced_application_is_taken_back_with_an_alert(site: SandboxSite) -> None:
    """Another client registers the application, then goes away: Asterisk forgets the
    application, and calls would go to the fallback unrecorded. The watchdog notices
    (GET /applications/{app} no longer lists it), reconnects and alerts."""
    services = {"sales": service(site, target="Local/alice-talk@sim-agent")}
    ari = {
        "url": site.instance.ari_url,
        "username": site.instance.ari_username,
        "password_file": str(site.workdir / "ari-password"),
        "app": "reccontrol",
        "reconnect": {"initial_delay": 0.1, "max_delay": 1},
        # Probes often; each waits for its echo as long as a loaded Asterisk needs: the
        # displacement shows in the application's listing, and a slow echo taken for a
        # silent socket would add a reconnect and an alert of its own.
        "watchdog": {"interval": 0.2, "timeout": DEFAULT_WITHIN},
    }
    async with running_flow(site, services=services, draws=[0.0], ari=ari) as flow:
        pump = flow.daemon.app[PUMP]
        stream = flow.daemon.app[STREAM]
        seen = spy_on(pump)
        intruder = await flow.board.client.connect_events()
        await intruder.close()
        again = await next_of(seen, StreamConnected)
        assert isinstance(again, StreamConnected) and again.reconnect
        assert stream.connections == 2
        app = await flow.board.client.get_application("reccontrol")
        assert app.name == "reccontrol"
        await flow.board.call("sales", "c-talk-6", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        alerts = await flow.daemon.query(
            lambda s: [r["kind"] for r in s.db.query("SELECT kind FROM alerts")]
        )
    assert alerts == ["ari_displaced"]
    assert call["recordings"][0]["state"] == "stored"
