"""The daemon killed with SIGKILL in the middle of a blind transfer (R1, R3): after the
agent's phone sent its REFER and the daemon stopped the agent's segment, before the
target answered; restarted 1 s later, as systemd would.

Nothing may be stranded: the transfer's Local channel and the caller are carried on
(the target rings, answers and talks with the caller), the transferring agent's channel
goes, and once the caller hangs up every invariant of ``tests/faults/invariants.py``
holds (nothing of ours in Stasis, no bridge, no file left in Asterisk's folder, every
recording row final with its vault file and hash).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.site import ANYTIME
from tests.faults.test_daemon_killed_calls import killing
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE
from tests.sip.media import tone
from tests.sip.sipp import Switchboard, sip_phones

CALLER_NUMBER = "+33611117777"
CHLOE_VOICE = 1300.0
CHLOE_RINGS_MS = 8000  # longer than the kill and the restart (1 s) with its adoption


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.fixture
async def phones(asterisk: SandboxInstance, tmp_path: Path) -> AsyncIterator[Switchboard]:
    async with sip_phones(asterisk.sip_port, asterisk.phone_ports, tmp_path / "sipp") as board:
        yield board


CHLOE = {"chloe": {"name": "Chloé Roux", "endpoints": ["PJSIP/chloe"], "windows": ANYTIME}}


def rows(store: Path, query: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(query)]


async def test_r1_r3_killed_between_the_refer_and_the_answer_nothing_is_stranded(
    site: SandboxSite, tmp_path: Path, phones: Switchboard
) -> None:
    """R1, R3: Alice transfers the caller to Chloé, whose phone rings 8 s; the daemon is
    killed right after it asked Asterisk to stop Alice's segment, and restarted 1 s
    later. Chloé's phone answers and talks with the caller until they hang up; every
    phone's scenario ends well. Alice's segment is vaulted with its hash; Chloé's
    segment is decided with her id and not recorded, the caller's keys having gone
    unheard while the daemon was down."""
    points = ("did:StopRecording",)
    config = {"target": "PJSIP/alice", "endpoint": "PJSIP/alice", "more_agents": CHLOE}
    async with killing("transfer", site, tmp_path, points, **config) as run:
        await phones.transferring_agent("alice", [tone(AGENT_VOICE, 30000)], "xfer-chloe", 2000)
        await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)], ring_ms=CHLOE_RINGS_MS)
        trunk = await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], 18000)
        await run.kill_at_points()
        await run.restart()
        await trunk.finished(60)
        await run.settle()
        await phones.finished(10)

    (recording,) = rows(run.store, "SELECT segment, agent_id, state FROM recordings")
    assert recording == {"segment": 1, "agent_id": "alice", "state": "stored"}
    (later,) = rows(run.store, "SELECT segment, agent_id, record, reason FROM segment_decisions")
    assert later == {"segment": 2, "agent_id": "chloe", "record": 0, "reason": "keys_unheard"}
    (call,) = rows(run.store, "SELECT ended_at, agent_id FROM calls")
    assert call["ended_at"] is not None and call["agent_id"] == "chloe"
