"""The FastAGI inbound script against the real Asterisk: a dialplan-only site runs
``AGI(agi://127.0.0.1:<port>/inbound?service=sales)``; the caller hears the
announcement (C1) or presses the opt-out key (C2, C4), the consent rows are the ARI
path's, and the dialplan carries on with what the script set on the channel."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest

from controller.ari.errors import AriError
from controller.demo.site import SandboxSite
from controller.privacy import caller_hash
from controller.sandbox import SandboxInstance
from controller.web.keys import AGI
from tests.integration.conftest import free_port
from tests.integration.flow import FULL_NOTICE, OPT_OUT, Flow, running_flow, service
from tests.waiting import eventually

CALLER_NUMBER = "+33612345678"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def agi_call(flow: Flow, port: int, caller_script: str, service_name: str = "sales") -> str:
    """A call into the site's own dialplan, which reaches the daemon over FastAGI; the
    caller follows ``caller_script`` (sim-caller). Returns the call's tag."""
    tag = secrets.token_hex(4)
    await flow.board.client.originate(
        f"Local/{service_name}@sim-agi-entry",
        context="sim-caller",
        extension=caller_script,
        variables={
            "SIM_AGI_PORT": str(port),
            "SIM_TAG": tag,
            "SIM_CALLER_NUMBER": CALLER_NUMBER,
        },
    )
    return tag


async def left_for_the_dialplan(flow: Flow, tag: str) -> dict[str, str]:
    """What the script set on the channel, once the dialplan after AGI() copied it."""

    async def read(name: str) -> str:
        answer = await flow.board.client.request(
            "GET", "/asterisk/variable", {"variable": f"SIM_AGI_{name}_{tag}"}
        )
        return str((answer or {}).get("value", ""))

    async def consent() -> str | None:
        return await read("CONSENT") or None

    values = {"CONSENT": await eventually(consent, "the dialplan went on after AGI()")}
    for name in ("CALL_ID", "ERROR", "STATUS"):
        values[name] = await read(name)
    return values


async def hang_up_all(flow: Flow) -> None:
    """The site's dialplan would Queue() the caller; here the test ends the call."""
    for channel in await flow.board.client.list_channels():
        with contextlib.suppress(AriError):
            await flow.board.client.request("DELETE", f"/channels/{channel.id}")


async def closed_call(flow: Flow, call_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        call = await flow.daemon.query(lambda s: s.call_summary(call_id))
        return call if call is not None and call["ended_at"] else None

    return await eventually(probe, "the caller's hang-up hook closed the call")


def agi_section(port: int) -> dict[str, Any]:
    return {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}


async def test_c1_a_caller_over_fastagi_hears_the_announcement_and_is_informed(
    site: SandboxSite,
) -> None:
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}, agi=agi_section(port)) as flow:
        tag = await agi_call(flow, port, "c-talk-9")
        left = await left_for_the_dialplan(flow, tag)
        call = await flow.daemon.query(lambda s: s.call_summary(left["CALL_ID"]))
        await hang_up_all(flow)
        closed = await closed_call(flow, left["CALL_ID"])

    assert left == {"CONSENT": "informed", "CALL_ID": call["id"], "ERROR": "", "STATUS": "SUCCESS"}
    assert call["path"] == "agi" and call["service"] == "sales" and call["direction"] == "inbound"
    assert call["announcement_completed"] == 1 and call["announcement_version"] == "2026-01"
    # Open while the site's dialplan has the caller; the caller's hang-up hook closes it.
    assert call["ended_at"] is None and call["consent_events"] == []
    assert call["recordings"] == [] and call["decision"] is None
    assert closed["outcome"] == "caller_hung_up" and closed["decision"] is None


async def test_c2_c4_a_caller_over_fastagi_who_presses_the_opt_out_key_is_remembered(
    site: SandboxSite,
) -> None:
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}, agi=agi_section(port)) as flow:
        tag = await agi_call(flow, port, f"c-key-{OPT_OUT}-1-9")
        left = await left_for_the_dialplan(flow, tag)
        call = await flow.daemon.query(lambda s: s.call_summary(left["CALL_ID"]))
        key = flow.daemon.config.privacy.caller_hmac_key
        hashed = caller_hash(key, CALLER_NUMBER, flow.daemon.config.privacy.default_region)
        assert hashed is not None
        now = dt.datetime.now(dt.UTC)
        remembered = await flow.daemon.query(lambda s: s.has_objection(hashed, now))
        await hang_up_all(flow)

    assert left["CONSENT"] == "objected" and left["STATUS"] == "SUCCESS"
    assert call["path"] == "agi" and call["caller_hash"] == hashed
    (event,) = call["consent_events"]
    assert (event["kind"], event["key"], event["phase"]) == ("opt_out", OPT_OUT, "announcement")
    assert event["announcement_version"] == "2026-01"
    assert remembered


async def test_c3_the_full_notice_key_over_fastagi_plays_the_notice_then_informs(
    site: SandboxSite,
) -> None:
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}, agi=agi_section(port)) as flow:
        tag = await agi_call(flow, port, f"c-key-{FULL_NOTICE}-1-9")
        left = await left_for_the_dialplan(flow, tag)
        call = await flow.daemon.query(lambda s: s.call_summary(left["CALL_ID"]))
        await hang_up_all(flow)

    assert left["CONSENT"] == "informed" and left["STATUS"] == "SUCCESS"
    (event,) = call["consent_events"]
    assert (event["kind"], event["key"], event["phase"]) == (
        "full_notice", FULL_NOTICE, "announcement"
    )  # fmt: skip
    assert call["announcement_completed"] == 1


async def test_r2_a_caller_hanging_up_during_the_announcement_closes_the_call_row(
    site: SandboxSite,
) -> None:
    """Asterisk's HANGUP in the middle of STREAM FILE ends the script; the row is
    closed as the caller's hang-up, the announcement not heard."""
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}, agi=agi_section(port)) as flow:
        await agi_call(flow, port, "c-talk-1")

        async def ended() -> dict[str, Any] | None:
            def read(s: Any) -> dict[str, Any] | None:
                ids = s.call_ids()
                call: dict[str, Any] | None = s.call_summary(ids[0]) if ids else None
                return call if call is not None and call["ended_at"] else None

            found: dict[str, Any] | None = await flow.daemon.query(read)
            return found

        call = await eventually(ended, "the AGI call row closed")
        server = flow.daemon.app[AGI]
        assert server is not None
        errors = server.counters.script_errors
        await hang_up_all(flow)

    assert call["path"] == "agi" and call["outcome"] == "caller_hung_up"
    assert call["announcement_completed"] == 0 and call["consent_events"] == []
    assert errors == 0


async def test_c1_an_announcement_asterisk_cannot_play_leaves_the_caller_unannounced(
    site: SandboxSite,
) -> None:
    """What Asterisk answers ``STREAM FILE`` for a sound it does not have is read as a
    failure, never as an announcement heard."""
    port = free_port()
    missing = {"sound": "reccontrol/none/no-such-sound", "version": "2026-01"}
    services = {"sales": service(site, announcement=missing)}
    async with running_flow(site, services=services, agi=agi_section(port)) as flow:
        tag = await agi_call(flow, port, "c-talk-9")
        left = await left_for_the_dialplan(flow, tag)
        call = await flow.daemon.query(lambda s: s.call_summary(left["CALL_ID"]))
        await hang_up_all(flow)

    # Asterisk's own AGISTATUS says FAILURE then: a command of the session failed.
    assert left["CONSENT"] == "unannounced" and left["CALL_ID"] == call["id"]
    assert call["announcement_completed"] == 0 and call["ended_at"] is None


async def test_r2_an_unknown_service_over_fastagi_stores_nothing_and_the_call_goes_on(
    site: SandboxSite,
) -> None:
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}, agi=agi_section(port)) as flow:
        tag = await agi_call(flow, port, "c-talk-9", service_name="nosuch")
        left = await left_for_the_dialplan(flow, tag)
        calls = await flow.daemon.query(lambda s: s.call_ids())
        await hang_up_all(flow)

    assert left == {
        "CONSENT": "none", "CALL_ID": "", "ERROR": "unknown-service", "STATUS": "SUCCESS"
    }  # fmt: skip
    assert calls == []


async def test_r1_with_the_daemon_unreachable_the_call_goes_on_unannounced(
    site: SandboxSite,
) -> None:
    """A call may be lost from the recording, never from the telephony: AGI() to a port
    nobody listens on sets AGISTATUS=FAILURE and the dialplan carries on."""
    port = free_port()
    async with running_flow(site, services={"sales": service(site)}) as flow:
        tag = await agi_call(flow, port, "c-talk-9")
        left = await left_for_the_dialplan(flow, tag)
        await hang_up_all(flow)
    assert left == {"CONSENT": "none", "CALL_ID": "", "ERROR": "", "STATUS": "FAILURE"}
