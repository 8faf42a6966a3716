"""Which agent answered, read from the channel names a real Asterisk gives (A3, A7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.integration.flow import running_flow, service

CALLER_NUMBER = "+33612345678"
OFFICE = [{"days": "mon-fri", "from": "09:00", "to": "18:00"}]


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_a3_a7_a_phone_named_like_alice_and_a_dash_is_not_alice(site: SandboxSite) -> None:
    """A3, A7: Alice's phone is the extension ``alice``; the phone ``alice-talk``, which
    no agent lists (think of a protected ``alice-rep``), answers a sampled call: it is an
    unknown agent and nothing is recorded, never Alice by the look of its name. Exact
    names still find their agents in Asterisk's real channel names (``…-0000001a;1``):
    the protected Bruno is not recorded, Chloé is."""
    agents = {
        "alice": {"name": "Alice Martin", "endpoints": ["Local/alice"], "windows": OFFICE},
        "bruno": {
            "name": "Bruno Petit",
            "endpoints": ["Local/bruno-talk@sim-agent"],
            "windows": OFFICE,
            "protected": True,
            "protection_reason": "staff representative",
        },
        "chloe": {
            "name": "Chloé Roux",
            "endpoints": ["Local/chloe-talk@sim-agent"],
            "windows": OFFICE,
        },
    }
    services = {
        "lookalike": service(site, target="Local/alice-talk@sim-agent"),
        "union": service(site, target="Local/bruno-talk@sim-agent"),
        "support": service(site, target="Local/chloe-talk@sim-agent"),
    }
    async with running_flow(
        site, services=services, agents=agents, draws=[0.0, 0.0, 0.0]
    ) as flow:
        for name in services:
            await flow.board.call(name, "c-talk-6", CALLER_NUMBER)
        calls = await flow.daemon.wait_for_calls(3, within=60)
        files = [path.name for path in flow.vault_files()]
    by_service = {call["service"]: call for call in calls}
    lookalike, union, support = (by_service[s] for s in ("lookalike", "union", "support"))
    assert (lookalike["agent_id"], lookalike["decision"]["reason"]) == (None, "unknown_agent")
    assert lookalike["recordings"] == []
    assert (union["agent_id"], union["decision"]["reason"]) == ("bruno", "protected_agent")
    assert union["recordings"] == []
    assert (support["agent_id"], support["decision"]["reason"]) == ("chloe", "sampled")
    (recording,) = support["recordings"]
    assert recording["state"] == "stored" and files == [Path(recording["path"]).name]
