"""Draws of the daemon as ``reccontrol run`` builds it, on a real call (P4)."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest

from controller.clock import ShiftedClock
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.demo.site import paris_weekday_10h as office_hours
from controller.sandbox import SandboxInstance
from controller.web.keys import RNG
from tests.integration.flow import service, standard_agents


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_p4_the_decision_of_a_real_call_is_a_draw_of_the_os_csprng(
    site: SandboxSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P4: the daemon built without an injected source (its own wiring) takes a call;
    the draw stored with the decision is one that ``SystemRandom`` produced for the
    daemon's own source, so the policy draws through the source the daemon wired and
    that source is the OS CSPRNG."""
    drawn: list[tuple[random.Random, float]] = []
    library_random = random.SystemRandom.random

    def watched(self: random.SystemRandom) -> float:
        value = library_random(self)
        drawn.append((self, value))
        return value

    monkeypatch.setattr(random.SystemRandom, "random", watched)
    site.prepare()
    path = site.write_config(
        site.config_data(services={"sales": service(site)}, agents=standard_agents())
    )
    daemon = RunningDaemon(load_config(path), clock=ShiftedClock(office_hours()))
    await daemon.start(within=30.0)
    try:
        source = daemon.app[RNG]
        async with aiohttp.ClientSession() as session:
            await Switchboard(site.instance, session).call("sales", "c-talk-6", "+33612345678")
            (call,) = await daemon.wait_for_calls(1)
    finally:
        await daemon.stop()
    assert type(source) is random.SystemRandom
    decision = call["decision"]
    assert decision["reason"] in ("sampled", "not_sampled")
    assert decision["draw"] in [value for by, value in drawn if by is source]
