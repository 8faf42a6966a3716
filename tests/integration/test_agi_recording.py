"""Recording on the FastAGI path against the real Asterisk: a dialplan-only site runs
``inbound``, then its own ``Dial(…,U(reccontrol-agi-connected))`` to the agent; the
shipped subroutine's ``connected`` hook decides on the agent's channel and starts
MixMonitor, the hang-up hooks vault the file and close the call. The decision and the
rows are the ARI path's (P1, P3, A3, A7, C1, C2, T1)."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import plaintext
from tests.integration.conftest import free_port
from tests.integration.flow import OPT_OUT, Flow, running_flow, service
from tests.waiting import eventually

CALLER_NUMBER = "+33612345678"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def agi_section(port: int) -> dict[str, Any]:
    return {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}


async def dial_site_call(
    flow: Flow,
    port: int,
    caller_script: str,
    agent: str = "alice-talk",
    *,
    queue: str | None = None,
) -> str:
    """A caller into the site's dialplan (``sim-agi-dial``), which dials the agent
    ``Local/<agent>@sim-agent/n`` with the shipped connected subroutine (or ``queue``
    with it as Queue()'s gosub). Returns the call id the inbound script set, once the
    dialplan read it."""
    tag = secrets.token_hex(4)
    entry = "sim-agi-queue" if queue else "sim-agi-dial"
    await flow.board.client.originate(
        f"Local/sales@{entry}",
        context="sim-caller",
        extension=caller_script,
        variables={
            # Inherited by every channel of the call, hang-up handlers included.
            "__RECCONTROL_AGI": f"127.0.0.1:{port}",
            "SIM_TAG": tag,
            "SIM_CALLER_NUMBER": CALLER_NUMBER,
            # /n: the Local channel stays, so MixMonitor stays on the agent's channel.
            "SIM_AGENT": f"Local/{agent}@sim-agent/n",
            "SIM_QUEUE": queue or "",
        },
    )

    async def call_id() -> str | None:
        answer = await flow.board.client.request(
            "GET", "/asterisk/variable", {"variable": f"SIM_AGI_CALL_ID_{tag}"}
        )
        return str((answer or {}).get("value", "")) or None

    return await eventually(call_id, "the inbound script set the call id")


async def ended(flow: Flow, call_id: str) -> dict[str, Any]:
    """The call once its row is closed and no recording of it is live."""

    async def probe() -> dict[str, Any] | None:
        call = await flow.daemon.query(lambda s: s.call_summary(call_id))
        if call is None or not call["ended_at"]:
            return None
        return None if any(r["state"] == "live" for r in call["recordings"]) else call

    return await eventually(probe, "the call ended and its recording settled", 40.0)


async def test_p1_t1_a_sampled_agi_call_is_recorded_by_mixmonitor_into_the_vault(
    site: SandboxSite,
) -> None:
    """Sampled (P1): one recording row with the service's purposes and retention (T1), a
    file in the vault whose hash is the row's, nothing left in Asterisk's folder, the
    agent named from the channel (A7), the call closed with ``path = agi``."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-9")
        call = await ended(flow, call_id)
        leftovers = flow.asterisk_files()
        vault = flow.vault_files()

    assert call["path"] == "agi" and call["outcome"] == "completed"
    assert call["agent_id"] == "alice" and call["recorded"] == 1
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["draw"]) == (1, "sampled", 0.1)
    assert decision["agent_id"] == "alice"
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and rec["purposes"] == '["training", "quality"]'
    path = Path(rec["path"])
    assert vault == [path] and len(path.stem) == 40
    assert hashlib.sha256(plaintext(path)).hexdigest() == rec["sha256"]
    assert rec["duration_seconds"] > 1.0
    assert leftovers == []


async def test_p1_an_agi_call_not_sampled_leaves_no_file(site: SandboxSite) -> None:
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.9]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-7")
        call = await ended(flow, call_id)
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert call["decision"]["record"] == 0 and call["decision"]["reason"] == "not_sampled"
    assert call["recordings"] == [] and call["recorded"] == 0
    assert leftovers == [] and vault == []


async def test_c2_an_agi_caller_who_objected_is_not_recorded(site: SandboxSite) -> None:
    """The opt-out key during the announcement: the agent's channel inherits
    ``RECCONTROL_CONSENT=objected`` and the stored opt-out decides (C2)."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, f"c-key-{OPT_OUT}-1-7")
        call = await ended(flow, call_id)
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert call["decision"]["record"] == 0 and call["decision"]["reason"] == "caller_objected"
    assert call["recordings"] == [] and leftovers == [] and vault == []


async def test_a3_a_protected_agent_over_agi_is_not_recorded(site: SandboxSite) -> None:
    """Bruno is a staff representative (A3): named from his channel as on the ARI path
    (A7), his call is not recorded."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-7", agent="bruno-talk")
        call = await ended(flow, call_id)
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert call["decision"]["record"] == 0 and call["decision"]["agent_id"] == "bruno"
    assert call["decision"]["reason"] == "protected_agent"
    assert call["recordings"] == [] and leftovers == [] and vault == []


async def test_a7_t1_a_queue_member_is_recorded_through_queues_gosub(site: SandboxSite) -> None:
    """The shipped subroutine as ``Queue()``'s gosub: the member who answers (Alice, the
    hotline queue's first) is named from her channel (A7) and recorded into the vault."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-9", queue="hotline")
        call = await ended(flow, call_id)
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert call["decision"]["record"] == 1 and call["decision"]["agent_id"] == "alice"
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and vault == [Path(rec["path"])] and leftovers == []
    assert hashlib.sha256(plaintext(Path(rec["path"]))).hexdigest() == rec["sha256"]
