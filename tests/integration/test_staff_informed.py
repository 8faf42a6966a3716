"""A8 against the real Asterisk: before the day the staff representatives were informed,
a call that the draw would sample is not recorded, and the agent's start key (A4) records
nothing either; the decision stored with the call says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.integration.flow import running_flow, service

CALLER_NUMBER = "+33612345678"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_a8_a4_call_before_the_staff_representatives_are_informed_leaves_no_file(
    site: SandboxSite,
) -> None:
    """A sampled draw (0.0) and the agent's start key, on a day before
    ``legal.staff_representatives_informed``: no recording, no file, and the decision
    reads ``staff_not_informed`` (A8, A4)."""
    services = {"sales": service(site, target="Local/alice-keys-*1@sim-agent")}
    legal = {"staff_representatives_informed": "2999-01-04"}
    async with running_flow(site, services=services, draws=[0.0], legal=legal) as flow:
        await flow.board.call("sales", "c-talk-10", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        assert flow.vault_files() == []
    assert call["agent_id"] == "alice" and call["announcement_completed"] == 1
    assert call["recorded"] == 0 and call["recordings"] == []
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["draw"]) == (
        0,
        "staff_not_informed",
        None,
    )
