"""Bridges do not outlive their deletion (R1), on the real Asterisk, with one DELETE.

Asterisk 22 answers 204 to DELETE /bridges and lists the bridge until its departing
members (a recorder being stopped, a channel being hung up) have left: tens of
milliseconds, after which it goes by itself. The daemon sends one DELETE and never a
second one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from controller.ari.errors import AriNotFound
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.web.keys import ARI
from tests.integration.flow import running_flow, service

CALLER_NUMBER = "+33611114444"
# Far below the 2 s after which the daemon used to delete "outliving" bridges again.
LINGER_LIMIT = 0.5


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.mark.parametrize("ends", ["c-talk-6", "agent-hangs-up"])
async def test_r1_bridge_is_gone_as_soon_as_its_deletion_is_answered(
    site: SandboxSite, ends: str
) -> None:
    target = "Local/alice-hangup-7@sim-agent" if ends == "agent-hangs-up" else None
    services = {"sales": service(site, **({"target": target} if target else {}))}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        client = flow.daemon.app[ARI]
        destroy = client.destroy_bridge
        lingered: list[float] = []

        async def destroy_then_watch(bridge_id: str) -> None:
            await destroy(bridge_id)
            answered = time.monotonic()
            async with asyncio.timeout(LINGER_LIMIT):
                while True:
                    try:
                        await client.get_bridge(bridge_id)
                    except AriNotFound:
                        break
                    await asyncio.sleep(0.005)
            lingered.append(time.monotonic() - answered)

        client.destroy_bridge = destroy_then_watch  # type: ignore[method-assign]
        script = "c-talk-30" if target else ends
        await flow.board.call("sales", script, CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        bridges, channels = await flow.asterisk_leftovers()
    assert call["recordings"][0]["state"] == "stored"
    # One DELETE, and the bridge went by itself shortly after.
    assert len(lingered) == 1 and lingered[0] < LINGER_LIMIT
    assert (bridges, channels) == ([], [])
