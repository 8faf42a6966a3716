"""C2 against the real Asterisk: an objection later in the call keeps no audio of the
call at all. The live recording is cancelled (DELETE) as always; a recording of the
same call that had already ended and gone into the vault is deleted by the crash-safe
deletion protocol (T4): its file gone, its row gone, a receipt in the access log naming
the rule C2, the objection itself in the consent ledger."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from controller.ari.errors import AriNotFound
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.factories import receipted
from tests.integration.flow import Flow, running_flow, service
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611118888"
C2_RULE = "C2: caller objected"
_tags = itertools.count(1)


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def recordings_of(flow: Flow, call_id: str) -> list[dict[str, Any]]:
    summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
    return list(summary["recordings"])


WAV_HEADER, WAV_BYTES_PER_SECOND = 44, 16000


async def recorded_by_asterisk(flow: Flow, name: str, seconds: float = 0.5) -> None:
    """Asterisk records ``name`` and has written ``seconds`` of it (its row is written
    before Asterisk is asked; a file stopped before any audio holds none to keep)."""
    path = flow.site.instance.recording_dir / f"{name}.wav"

    async def probe() -> bool | None:
        try:
            await flow.board.client.request("GET", f"/recordings/live/{name}")
        except AriNotFound:
            return None
        written = path.exists() and path.stat().st_size
        return True if written and written >= WAV_HEADER + seconds * WAV_BYTES_PER_SECOND else None

    await eventually(probe, "Asterisk records it")


async def c2_receipts(flow: Flow) -> list[dict[str, Any]] | None:
    """The recordings the deletion receipts of rule C2 name, once there is one."""
    entries = await flow.daemon.query(lambda s: list(s.access_entries()))
    return [r for r in receipted(entries) if r["rule"] == C2_RULE] or None


async def test_c2_a4_an_objection_after_an_ended_on_demand_recording_keeps_none_of_it(
    site: SandboxSite,
) -> None:
    """C2, A4, T4: an unsampled call; Alice starts a recording for mediation (*1); that
    recording ends (Asterisk stops it: its file goes into the vault, and the call
    records again with a new file); then the caller presses the opt-out key. The live
    recording is cancelled, and the one in the vault is deleted with a receipt naming
    C2: no file of the call is left, in the vault or in Asterisk's folder."""
    tag = f"od{next(_tags)}"
    services = {"sales": service(site, target="Local/alice-keys-*1@sim-agent")}
    async with running_flow(site, services=services, draws=[0.99]) as flow:
        await flow.board.call("sales", f"c-waitkey-{tag}-3", CALLER_NUMBER)

        async def recording_live() -> tuple[str, dict[str, Any]] | None:
            call_id = flow.daemon.calls.find_call(agent_id="alice")
            if call_id is None:
                return None
            live = [r for r in await recordings_of(flow, call_id) if r["state"] == "live"]
            return (call_id, live[0]) if live else None

        call_id, first = await eventually(recording_live, "Alice's mediation recording")
        await recorded_by_asterisk(flow, first["name"])
        # Asterisk ends the recording: the call keeps its file and records again.
        await flow.board.client.request("POST", f"/recordings/live/{first['name']}/stop")

        async def stored_and_again() -> list[dict[str, Any]] | None:
            rows = await recordings_of(flow, call_id)
            states = sorted(r["state"] for r in rows)
            return rows if states == ["live", "stored"] else None

        before = await eventually(stored_and_again, "the first file vaulted, a second live")
        assert len(flow.vault_files()) == 1
        await flow.board.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_GO_{tag}", "value": "9"}
        )
        (call,) = await flow.daemon.wait_for_calls(1)
        receipts = await eventually(lambda: c2_receipts(flow), "the deletion's receipt")
        await until(lambda: flow.asterisk_files() == [], "nothing left in Asterisk's folder")
        assert flow.vault_files() == []

    stored = next(r for r in before if r["state"] == "stored")
    again = next(r for r in before if r["state"] == "live")
    assert [(r["recording_id"], r["call_id"]) for r in receipts] == [(stored["id"], call_id)]
    assert (receipts[0]["actor"], receipts[0]["file"]) == ("system", "deleted")
    assert [(r["id"], r["state"], r["path"]) for r in call["recordings"]] == [
        (again["id"], "discarded", None)
    ]
    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == ("opt_out", "9", "conversation")
    assert consent["announcement_version"] == "2026-01"
