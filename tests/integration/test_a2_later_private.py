"""A2 against the real Asterisk: a call declared private after one of its recordings
ended keeps no audio of the call at all, and nothing but a count. The live recording is
cancelled (DELETE) as always; the recording that had already ended and gone into the
vault is deleted by the crash-safe deletion protocol (T4): its file gone, its row gone,
a receipt in the access log naming the rule A2; then the call's row goes too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.factories import receipted
from tests.integration.flow import Flow, running_flow, service
from tests.integration.test_c2_later_objection import recorded_by_asterisk, recordings_of
from tests.integration.test_sip_phones import no_call_left
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611116666"
A2_RULE = "A2: private call"
TAG = "oda2"
"""Alice's tag (``waitkeys``): she presses the keys the test sets, when it sets them."""


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def a2_receipts(flow: Flow) -> list[dict[str, Any]] | None:
    """The recordings the deletion receipts of rule A2 name, once there is one."""
    entries = await flow.daemon.query(lambda s: list(s.access_entries()))
    return [r for r in receipted(entries) if r["rule"] == A2_RULE] or None


async def alice_presses(flow: Flow, keys: str) -> None:
    await flow.board.client.request(
        "POST", "/asterisk/variable", {"variable": f"SIM_KEYS_{TAG}", "value": keys}
    )


async def test_a2_a4_the_private_key_after_an_ended_on_demand_recording_keeps_none_of_it(
    site: SandboxSite,
) -> None:
    """A2, A4, T4: an unsampled call; Alice starts a recording for mediation (*1); that
    recording ends (Asterisk stops it: its file goes into the vault, and the call
    records again with a new file); then Alice declares the call private (*7). The live
    recording is cancelled, the one in the vault deleted with a receipt naming A2, and
    the call's row goes: no file of the call is left, in the vault or in Asterisk's
    folder, and no row but the private-call count."""
    services = {"sales": service(site, target=f"Local/alice-waitkeys-{TAG}@sim-agent")}
    async with running_flow(site, services=services, draws=[0.99]) as flow:
        caller = await flow.board.call("sales", "c-talk-60", CALLER_NUMBER)

        async def answered() -> str | None:
            return flow.daemon.calls.find_call(agent_id="alice")

        call_id = await eventually(answered, "Alice answers")
        await alice_presses(flow, "*1")

        async def recording_live() -> dict[str, Any] | None:
            live = [r for r in await recordings_of(flow, call_id) if r["state"] == "live"]
            return live[0] if live else None

        first = await eventually(recording_live, "Alice's mediation recording")
        await recorded_by_asterisk(flow, first["name"])
        # Asterisk ends the recording: the call keeps its file and records again.
        await flow.board.client.request("POST", f"/recordings/live/{first['name']}/stop")

        async def stored_and_again() -> list[dict[str, Any]] | None:
            rows = await recordings_of(flow, call_id)
            states = sorted(r["state"] for r in rows)
            return rows if states == ["live", "stored"] else None

        before = await eventually(stored_and_again, "the first file vaulted, a second live")
        assert len(flow.vault_files()) == 1
        await alice_presses(flow, "*7")
        receipts = await eventually(lambda: a2_receipts(flow), "the deletion's receipt")

        async def forgotten() -> bool | None:
            return True if await flow.daemon.query(lambda s: s.call_ids()) == [] else None

        await eventually(forgotten, "the call's row gone")
        await flow.board.client.hangup(caller.id)
        await no_call_left(flow)
        await until(lambda: flow.asterisk_files() == [], "nothing left in Asterisk's folder")
        assert flow.vault_files() == []
        counts = await flow.daemon.query(lambda s: s.private_call_counts())
        tables = await flow.daemon.query(
            lambda s: [
                s.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                for t in ("calls", "decisions", "consent_events", "recordings", "pauses")
            ]
        )

    stored = next(r for r in before if r["state"] == "stored")
    assert [(r["recording_id"], r["call_id"]) for r in receipts] == [(stored["id"], call_id)]
    assert (receipts[0]["actor"], receipts[0]["file"]) == ("system", "deleted")
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert tables == [0, 0, 0, 0, 0]
