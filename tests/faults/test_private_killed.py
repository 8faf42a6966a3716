"""A2 through a crash (R1, T4): the daemon killed with SIGKILL once the agent's private
key is stored (the call marked private and counted) and before the call's audio
already in the vault is deleted (``RECCONTROL_STOP_AT=private-deleting``, see
``controller/stoppoints.py``), then restarted 1 s later, as systemd would.

The file and its row survived the kill together, so the restarted daemon finds them:
before it handles any event, the file is gone from the vault, the row gone, a receipt
naming A2 in the access log, and the call's row gone too. Only the count stays.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.test_daemon_killed_calls import (
    killing,
    nothing_vaulted,
    recording_rows,
    recording_runs,
)
from tests.faults.test_objection_killed import receipts, recordings_are
from tests.integration.listening import gone

CALLER_NUMBER = "+33611117777"
TAG = "killa2"
"""The agent's tag (``waitkeys``): it presses the keys the test sets, when it sets them."""
A2_RULE = "A2: private call"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def stored(store: Path, query: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(query)]


async def test_a2_r1_killed_between_the_private_key_and_the_deletion_the_next_start_finishes_it(
    site: SandboxSite, tmp_path: Path
) -> None:
    """A2, R1, T4: a recorded call whose first file ended (Asterisk stopped it: kept in
    the vault, the call recording again); the agent presses the private key; the daemon
    is killed with the key stored (the call marked private and counted, what is not
    audio gone) and that file still in the vault, its row beside it. The restarted
    daemon deletes it, with its receipt, and forgets the call, before it handles any
    event: nothing of the call is left but the count."""
    points = ("private-deleting",)
    target = f"Local/alice-waitkeys-{TAG}@sim-agent"
    async with killing("private", site, tmp_path, points, target=target) as run:
        caller = await run.board.call("sales", "c-talk-300", CALLER_NUMBER)
        (first,) = await recordings_are(run.store, ["live"], "the call's recording")
        await recording_runs(run, seconds=0.5)
        await run.client.request("POST", f"/recordings/live/{first['name']}/stop")
        await recordings_are(run.store, ["live", "stored"], "its file vaulted, a new one live")
        await run.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_KEYS_{TAG}", "value": "*7"}
        )
        await run.kill_at_points(landed="private_call_counts")
        # Killed there: the key stored, the ended recording's file and row still there.
        killed = recording_rows(run.store)
        assert [(r["id"], r["state"]) for r in killed] == [(first["id"], "stored")], killed
        assert not nothing_vaulted(site)
        assert stored(run.store, "SELECT private, caller_hash FROM calls") == [
            {"private": 1, "caller_hash": None}
        ]
        assert stored(run.store, "SELECT * FROM decisions") == []
        assert stored(run.store, "SELECT * FROM consent_events") == []
        # The caller hangs up while the daemon is down.
        await run.client.hangup(caller.id)
        await gone(run.client, caller.id)

        await run.restart()
        # Before it handled any event, the restarted daemon deleted it and the call.
        assert recording_rows(run.store) == []
        assert nothing_vaulted(site)
        assert stored(run.store, "SELECT id FROM calls") == []
        await run.settle()

    (receipt,) = [r for r in receipts(run.store) if r["rule"] == A2_RULE]
    assert (receipt["recording_id"], receipt["file"]) == (first["id"], "deleted")
    assert receipt["actor"] == "system"
    counts = stored(run.store, "SELECT agent_id, count FROM private_call_counts")
    assert counts == [{"agent_id": "alice", "count": 1}]
