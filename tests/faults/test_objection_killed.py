"""C2 through a crash (R1, T4): the daemon killed with SIGKILL once the caller's objection
is in the consent ledger and before the call's audio already in the vault is deleted
(``RECCONTROL_STOP_AT=objection-deleting``, see ``controller/stoppoints.py``), then
restarted 1 s later, as systemd would.

The restarted daemon deletes that audio before it takes any call: once it handles
events, the file is gone from the vault, the row gone, a receipt naming C2 in the access
log. The call goes on, adopted, and once it ends every invariant of
``tests/faults/invariants.py`` holds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.store.access_log_rows import entry_from_row
from tests.factories import receipted
from tests.faults.test_daemon_killed_calls import (
    bridged_with_agent,
    killing,
    nothing_vaulted,
    recording_rows,
    recording_runs,
)
from tests.integration.listening import gone
from tests.waiting import eventually

CALLER_NUMBER = "+33611119999"
OBJECTING = "killc2"
"""The caller's tag (``c-waitkey``): it presses the opt-out key when the test says."""
C2_RULE = "C2: caller objected"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def receipts(store: Path) -> list[dict[str, Any]]:
    """The recordings the deletion receipts of the access log name."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        entries = [entry_from_row(dict(r)) for r in db.execute("SELECT * FROM access_log")]
    return receipted(entries)


async def recordings_are(store: Path, states: list[str], what: str) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        rows = recording_rows(store)
        return rows if sorted(r["state"] for r in rows) == states else None

    return await eventually(lambda: asyncio.to_thread(probe), what)


async def test_c2_r1_killed_between_the_objection_and_the_deletion_the_next_start_finishes_it(
    site: SandboxSite, tmp_path: Path
) -> None:
    """C2, R1, T4: a recorded call whose first file ended (Asterisk stopped it: kept in
    the vault, the call recording again); the caller objects; the daemon is killed with
    the objection in the ledger and that file still in the vault. The restarted daemon
    deletes it, with its receipt, before it handles any event; the call goes on
    unrecorded and leaves nothing behind."""
    points = ("objection-deleting",)
    target = "Local/alice-talk@sim-agent"
    async with killing("objection", site, tmp_path, points, target=target) as run:
        caller = await run.board.call("sales", f"c-waitkey-{OBJECTING}-300", CALLER_NUMBER)
        (first,) = await recordings_are(run.store, ["live"], "the call's recording")
        await recording_runs(run, seconds=0.5)
        await run.client.request("POST", f"/recordings/live/{first['name']}/stop")
        await recordings_are(run.store, ["live", "stored"], "its file vaulted, a new one live")
        await run.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_GO_{OBJECTING}", "value": "9"}
        )
        await run.kill_at_points(landed="consent_events")
        # Killed there: the objection is stored, the ended recording still in the vault.
        killed = recording_rows(run.store)
        assert sorted(r["state"] for r in killed) == ["discarded", "stored"], killed
        assert not nothing_vaulted(site)

        await run.restart()
        # Before it handled any event, the restarted daemon deleted it.
        rows = recording_rows(run.store)
        assert [r["state"] for r in rows] == ["discarded"], rows
        assert nothing_vaulted(site)
        await bridged_with_agent(run.client, run.caller_in_stasis())
        await run.client.hangup(caller.id)
        await gone(run.client, caller.id)
        await run.settle()

    (receipt,) = [r for r in receipts(run.store) if r["rule"] == C2_RULE]
    assert (receipt["recording_id"], receipt["file"]) == (first["id"], "deleted")
    assert receipt["actor"] == "system"
    assert recording_rows(run.store) == rows
