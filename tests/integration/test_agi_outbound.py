"""An agent's outbound call on the FastAGI path against the real Asterisk (C6): the
site's own dialplan (``sim-agi-out``) runs the shipped ``reccontrol-agi-outbound``
subroutine on the agent's channel, then its own ``Dial()`` of the customer with
``U(reccontrol-agi-answered)``. The called party hears the announcement and may object
as a caller (C1-C4); the call is decided with the agent named from the calling channel
(A7) and recorded on the agent's channel into the vault; the agent's hang-up handler
closes the row."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.privacy import caller_hash
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from tests.audio import plaintext, read_wav, tone_seconds
from tests.integration.conftest import free_port
from tests.integration.flow import (
    AGENT_VOICE,
    ANNOUNCEMENT_MARKER,
    ANNOUNCEMENT_SECONDS,
    CALLER_VOICE,
    Flow,
    running_flow,
    service,
)
from tests.integration.test_agi_recording import agi_section, ended
from tests.waiting import eventually

CUSTOMER = "0612345678"
PAUSE_MARKER = 2600.0  # what the agent says while the recording is paused


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def outbound_service(site: SandboxSite) -> dict[str, Any]:
    """A service that takes outbound calls: over FastAGI the site's dialplan dials, so
    the section's dial string is not used, only its presence."""
    return service(site, outbound={"dial": "Local/{number}@sim-customer-talks"})


async def dial_out(
    flow: Flow,
    port: int,
    customers: str,
    *,
    service_name: str = "sales",
    number: str = CUSTOMER,
    agent_script: str = "alice-talk",
) -> str:
    """Alice's phone dials ``number`` through the site's dialplan; the customer behaves
    as the ``sim-customer-<customers>`` script says. Returns the tag under which the
    dialplan copied what the outbound subroutine left (``SIM_AGI_<name>_<tag>``)."""
    tag = secrets.token_hex(4)
    await flow.board.client.originate(
        "Local/alice-phone@sim-agi-out",
        context="sim-agent",
        extension=agent_script,
        variables={
            "__RECCONTROL_AGI": f"127.0.0.1:{port}",
            "SIM_TAG": tag,
            "SIM_SERVICE": service_name,
            "SIM_NUMBER": number,
            "SIM_DIALLED": CUSTOMER,
            "SIM_CUSTOMER": customers,
        },
    )
    return tag


async def left(flow: Flow, name: str, tag: str) -> str:
    """What the outbound subroutine left in ``name`` (``CALL_ID``, ``ERROR``), once the
    dialplan copied it (``none`` for empty)."""

    async def probe() -> str | None:
        answer = await flow.board.client.request(
            "GET", "/asterisk/variable", {"variable": f"SIM_AGI_{name}_{tag}"}
        )
        return str((answer or {}).get("value", "")) or None

    return await eventually(probe, f"the dialplan copied {name}")


async def outbound_call(flow: Flow, port: int, customers: str, **extra: Any) -> dict[str, Any]:
    tag = await dial_out(flow, port, customers, **extra)
    call_id = await left(flow, "CALL_ID", tag)
    assert call_id != "none", await left(flow, "ERROR", tag)
    return await ended(flow, call_id)


async def test_c6_p1_a_sampled_outbound_agi_call_is_recorded_without_the_announcement(
    site: SandboxSite, caplog: pytest.LogCaptureFixture
) -> None:
    """C6, C1: the called party heard the announcement (the row says so); the sampled
    call (P1) is recorded on Alice's channel, named from it (A7), into the vault with
    ``path = agi``, the service's purposes and the hash of the file; the announcement is
    not in the file, both voices are; the number is stored as its HMAC only, and is in
    no log line (C4)."""
    caplog.set_level(logging.DEBUG, logger="reccontrol")
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call = await outbound_call(flow, port, "talks")
        leftovers, vault = flow.asterisk_files(), flow.vault_files()
        key: Secret = flow.daemon.config.privacy.caller_hmac_key

    assert call["path"] == "agi" and call["direction"] == "outbound"
    assert call["outcome"] == "completed" and call["agent_id"] == "alice"
    assert call["announcement_completed"] == 1 and call["consent_events"] == []
    assert call["caller_hash"] == caller_hash(key, "+33612345678")
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["draw"]) == (1, "sampled", 0.1)
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and rec["purposes"] == '["training", "quality"]'
    path = Path(rec["path"])
    assert vault == [path] and leftovers == []
    assert hashlib.sha256(plaintext(path)).hexdigest() == rec["sha256"]
    audio = read_wav(path)
    # The customer hangs up 12 s after answering; the announcement takes 3 s of that.
    assert 5.0 <= audio.duration <= 12 - ANNOUNCEMENT_SECONDS + 0.5
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert tone_seconds(audio, AGENT_VOICE) > 0.8 * audio.duration
    stores = list(site.workdir.glob("reccontrol.sqlite3*"))
    assert stores and all(b"612345678" not in f.read_bytes() for f in stores)
    assert "612345678" not in caplog.text


async def test_c6_c2_c4_a_called_party_who_objects_is_not_recorded_and_remembered(
    site: SandboxSite,
) -> None:
    """The opt-out key during the announcement (C2): the consent row, no file, the call
    goes on; the objection is remembered for the number's HMAC (C4), so the next call
    to that number, written another way, is not recorded either."""
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(
        site, services=services, agi=agi_section(port), draws=[0.0, 0.0]
    ) as flow:
        first = await outbound_call(flow, port, "objects")
        second = await outbound_call(flow, port, "talks", number="+33612345678")
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    (consent,) = first["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == ("opt_out", "9", "announcement")
    assert first["decision"]["reason"] == "caller_objected" and first["recordings"] == []
    assert first["outcome"] == "completed" and first["agent_id"] == "alice"
    assert second["caller_hash"] == first["caller_hash"]
    assert second["decision"]["reason"] == "remembered_objection"
    assert second["recordings"] == [] and second["consent_events"] == []
    assert leftovers == [] and vault == []


async def test_c6_c3_the_full_notice_key_plays_the_notice_then_the_call_is_recorded(
    site: SandboxSite,
) -> None:
    """The full-notice key (C3): its consent row, then the call is decided as announced."""
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call = await outbound_call(flow, port, "notice")

    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"]) == ("full_notice", "0")
    assert call["announcement_completed"] == 1 and call["decision"]["reason"] == "sampled"
    (rec,) = call["recordings"]
    assert rec["state"] == "stored"


async def test_c6_a_called_party_hanging_up_during_the_announcement_closes_the_row(
    site: SandboxSite,
) -> None:
    """The customer leaves 1 s into the 3 s announcement: the row is closed
    ``customer_hung_up``, undecided, nothing recorded."""
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call = await outbound_call(flow, port, "leaves")
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert call["outcome"] == "customer_hung_up" and call["decision"] is None
    assert call["announcement_completed"] == 0 and call["recordings"] == []
    assert leftovers == [] and vault == []


async def test_c6_r2_an_unknown_service_or_a_missing_number_opens_no_call(
    site: SandboxSite,
) -> None:
    """Bad input in the site's dialplan: ``RECCONTROL_ERROR`` says what was wrong, no
    row is written, and the customer is dialled all the same, unrecorded (the answered
    subroutine finds no call)."""
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.0]) as flow:
        unknown = await dial_out(flow, port, "talks", service_name="nosuch")
        missing = await dial_out(flow, port, "talks", number="")
        errors = [await left(flow, "ERROR", unknown), await left(flow, "ERROR", missing)]
        ids = [await left(flow, "CALL_ID", unknown), await left(flow, "CALL_ID", missing)]
        calls = await flow.daemon.query(lambda s: s.call_ids())
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert errors == ["unknown-service", "bad-number"]
    assert ids == ["none", "none"] and calls == []
    assert leftovers == [] and vault == []


async def test_c6_a5_the_agents_pause_key_works_on_an_outbound_agi_call(
    site: SandboxSite,
) -> None:
    """The agent's keys are offered on the agent's channel, which holds the recording:
    *2 then *3 (A5, skip mode) leave the marker Alice hums during the pause out of the
    file, with the ARI path's pause row."""
    port = free_port()
    services = {"sales": outbound_service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call = await outbound_call(flow, port, "talks", agent_script="alice-pause")

    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["reason"], pause["resumed_by"]) == (
        "alice",
        "agent_key",
        "agent",
    )
    (rec,) = call["recordings"]
    audio = read_wav(Path(rec["path"]))
    assert rec["state"] == "stored" and tone_seconds(audio, PAUSE_MARKER) < 0.1
    assert tone_seconds(audio, CALLER_VOICE) > 0.5 * audio.duration
