"""The event path on the real Asterisk (R1, security review finding 4): a dead consumer is
replaced and the agent's keys work again; the end-to-end probe goes through Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from controller.ari.events import Event, StasisStart
from controller.ari.watchdog import EventHandler, Verdict
from controller.daemon import PUMP
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import read_wav, tone_seconds
from tests.integration.flow import running_flow, service
from tests.integration.test_agent_controls import CALLER_NUMBER, MARKER, keyed_sections


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r1_agent_keys_work_after_the_event_consumer_is_killed(site: SandboxSite) -> None:
    services = {"sales": service(site, target="Local/alice-pause@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0], **keyed_sections(site)) as flow:
        pump = flow.daemon.app[PUMP]
        assert await pump.watchdog.probe() is Verdict.ALIVE
        calls = pump.handler
        started = asyncio.Event()

        async def spy(event: Event) -> None:
            await calls.handle(event)
            if isinstance(event, StasisStart):
                started.set()

        pump.handler = cast(EventHandler, SimpleNamespace(handle=spy))
        await flow.board.call("sales", "c-talk-14", CALLER_NUMBER)
        # The call is in the announcement (3 s); the agent keys *2 two seconds after
        # answering, so the consumer is replaced well before any key is pressed.
        await asyncio.wait_for(started.wait(), 5)
        assert pump.consumer is not None
        pump.consumer.cancel()
        await asyncio.wait_for(pump.restarted.wait(), 5)
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
