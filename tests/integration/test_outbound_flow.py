"""Outbound calls against the real Asterisk (C6): an agent's phone dials a customer
through the shipped reccontrol-outbound context; the customer hears the announcement and
may object exactly like a caller, or the agent gives the notice and confirms it by key.
The audio itself is the evidence."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.privacy import caller_hash
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from tests.audio import read_wav, tone_seconds
from tests.integration.ari_probe import ari_app
from tests.integration.flow import (
    AGENT_VOICE,
    ANNOUNCEMENT_MARKER,
    ANNOUNCEMENT_SECONDS,
    CALLER_VOICE,
    NOTICE_MARKER,
    Flow,
    running_flow,
    service,
)
from tests.waiting import eventually

NOTICE_VOICE = 2200.0
"""What the agent says while giving the notice (sim-agent-notice)."""
CUSTOMER = "0612345678"
TAIL_SECONDS = 0.5
"""What a bridge recording may run past the hang-up it stops for: the hang-up heard, the
stop sent and taken (measured 0.02 to 0.16 s on an idle machine)."""


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def outbound_service(site: SandboxSite, customers: str, **extra: Any) -> dict[str, Any]:
    """A service whose agents call customers who behave as ``customers`` says (a
    sim-customer-* context)."""
    return (
        service(
            site, outbound={"dial": f"Local/{{number}}@sim-customer-{customers}", "ring_timeout": 5}
        )
        | extra
    )


async def assert_clean(flow: Flow) -> None:
    """No leg stranded, no bridge, no recording left in Asterisk's reach."""
    bridges, channels = await flow.asterisk_leftovers()
    assert bridges == [] and channels == []
    assert flow.asterisk_files() == []


async def test_announced_outbound_call_is_recorded_after_the_announcement(
    site: SandboxSite, caplog: pytest.LogCaptureFixture
) -> None:
    """C6, C1: the customer hears the announcement on answer; the sampled call is
    recorded from the bridge on, with no announcement in the file; the agent is
    identified from the calling channel (A1). The number dialled is in no store, log or
    event log (C4)."""
    caplog.set_level(logging.DEBUG, logger="reccontrol")
    services = {"sales": outbound_service(site, "talks")}
    async with running_flow(site, services=services, draws=[0.1]) as flow:
        await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-talk")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        key: Secret = flow.daemon.config.privacy.caller_hmac_key

    assert call["direction"] == "outbound" and call["outcome"] == "customer_hung_up"
    assert call["agent_id"] == "alice" and call["announcement_completed"] == 1
    assert call["caller_hash"] == caller_hash(key, "+33612345678")
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["draw"]) == (1, "sampled", 0.1)
    (rec,) = call["recordings"]
    assert rec["state"] == "stored"
    audio = read_wav(Path(rec["path"]))
    # The customer hangs up 12 s after answering; the announcement takes 3 s of that.
    # The recording stops once the daemon hears the hang-up, the agent still in the
    # bridge meanwhile: a few frames of tail (that nothing of the announcement is in the
    # file is the marker's check, below).
    assert 5.0 <= audio.duration <= 12 - ANNOUNCEMENT_SECONDS + TAIL_SECONDS
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert tone_seconds(audio, AGENT_VOICE) > 0.8 * audio.duration
    for path in site.workdir.glob("reccontrol.sqlite3*"):
        assert b"612345678" not in path.read_bytes()
    assert "612345678" not in (site.workdir / "ari-events.jsonl").read_text()
    assert "612345678" not in caplog.text


async def test_customer_opt_out_is_stored_and_remembered(site: SandboxSite) -> None:
    """C6, C2, C4: the customer's opt-out key during the announcement leaves no file;
    the objection is remembered for the number's E.164 HMAC, so the next outbound call
    to that number, written another way, is not recorded either."""
    services = {
        "survey": outbound_service(site, "objects"),
        "sales": outbound_service(site, "talks"),
    }
    async with running_flow(site, services=services, draws=[0.0, 0.0]) as flow:
        await flow.board.dial_out("alice", "survey", CUSTOMER, "alice-talk")
        await flow.daemon.wait_for_calls(1)
        await flow.board.dial_out("alice", "sales", "+33612345678", "alice-talk")
        first, second = await flow.daemon.wait_for_calls(2)
        await assert_clean(flow)
        assert flow.vault_files() == []

    assert first["recordings"] == [] and first["decision"]["reason"] == "caller_objected"
    (consent,) = first["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == ("opt_out", "9", "announcement")
    # Objecting stops the recording, not the call: the customer still talked to Alice.
    assert first["outcome"] == "customer_hung_up" and first["agent_id"] == "alice"
    assert second["caller_hash"] == first["caller_hash"]
    assert second["decision"]["reason"] == "remembered_objection"
    assert second["recordings"] == [] and second["consent_events"] == []


async def test_customer_full_notice_key_then_recorded_without_it(site: SandboxSite) -> None:
    """C6, C3: the customer's full-notice key plays the full notice, then the call goes
    on and is recorded without the announcement or the notice in the file."""
    services = {"sales": outbound_service(site, "notice")}
    async with running_flow(site, services=services, draws=[0.1]) as flow:
        await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-talk")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)

    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == (
        "full_notice",
        "0",
        "announcement",
    )
    assert call["announcement_completed"] == 1 and call["decision"]["reason"] == "sampled"
    (rec,) = call["recordings"]
    audio = read_wav(Path(rec["path"]))
    assert tone_seconds(audio, NOTICE_MARKER) == 0.0
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0
    # 15.1 s of customer (the key takes 0.1 s): 1 s of announcement and 2 s of notice
    # before the bridge.
    assert 8.0 <= audio.duration <= 15.1 - 3 + 0.3
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration


async def test_notice_by_agent_records_only_after_the_key(site: SandboxSite) -> None:
    """C6 ("notification par le conseiller"): nothing is announced by the system; the
    recording starts only once the agent pressed the notice-given key, which is stored
    with the call. What the agent said before the key is not in the file."""
    data = outbound_service(site, "talks")
    data["announcement"] = {**data["announcement"], "by": "agent"}
    async with running_flow(site, services={"sales": data}, draws=[0.1]) as flow:
        await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-notice-3")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)

    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == (
        "notice_given",
        "*4",
        "conversation",
    )
    assert call["announcement_completed"] == 1 and call["decision"]["reason"] == "sampled"
    (rec,) = call["recordings"]
    audio = read_wav(Path(rec["path"]))
    assert tone_seconds(audio, NOTICE_VOICE) == 0.0
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0
    # 12 s of customer, of which about 3 s of notice before the key.
    assert 5.0 <= audio.duration <= 12 - 3
    assert tone_seconds(audio, AGENT_VOICE) > 0.8 * audio.duration


async def test_notice_by_agent_without_the_key_records_nothing(site: SandboxSite) -> None:
    """C6: an agent who never presses the notice-given key is never recorded, even when
    the call is sampled; on-demand recording (*1) is refused too (A4)."""
    data = outbound_service(site, "talks")
    data["announcement"] = {**data["announcement"], "by": "agent"}
    async with running_flow(site, services={"sales": data}, draws=[0.0]) as flow:
        await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-keys-*1")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        assert flow.vault_files() == []

    assert call["recordings"] == [] and call["consent_events"] == []
    assert call["decision"] is None and call["announcement_completed"] == 0
    assert call["outcome"] == "customer_hung_up"


@pytest.mark.parametrize(
    ("customers", "outcome"),
    [
        ("busy", "busy"),
        ("rejects", "rejected"),
        ("unknown", "invalid_number"),
        ("ring", "no_answer"),
    ],
)
async def test_customer_not_reached_gives_a_clear_outcome(
    site: SandboxSite, customers: str, outcome: str
) -> None:
    """C6: a busy, rejecting, missing or silent number ends the call with that outcome
    stored; the agent's leg is hung up, never stranded."""
    services = {"sales": outbound_service(site, customers)}
    async with running_flow(site, services=services) as flow:
        await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-talk")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)

    assert (call["direction"], call["outcome"]) == ("outbound", outcome)
    assert call["decision"] is None and call["recordings"] == []


async def test_a_number_that_is_not_a_number_is_not_dialled(site: SandboxSite) -> None:
    """C6, S4, R2: what the agent dialled goes into a dial string only if it is digits.
    The shipped dialplan hangs such a call up before the controller sees it; a channel
    that enters the application with such a number all the same (a site's own dialplan)
    ends as invalid_number, its leg hung up."""
    services = {"sales": outbound_service(site, "talks")}
    async with running_flow(site, services=services) as flow:
        await flow.board.dial_out("alice", "sales", "06&Local/x", "alice-talk")
        assert await flow.asterisk_leftovers() == ([], [])
        await flow.board.client.originate(
            "Local/alice-talk@sim-agent", app="reccontrol", app_args="outbound,sales,06&Local/x"
        )
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        ids: list[str] = await flow.daemon.query(lambda s: s.call_ids())
    assert len(ids) == 1, "the call the dialplan refused reached the controller"
    assert call["outcome"] == "invalid_number" and call["caller_hash"] is None


async def test_unknown_agent_is_not_recorded(site: SandboxSite) -> None:
    """C6, A7: a phone that is no agent's endpoint places the call, unrecorded, with
    the reason stored."""
    services = {"sales": outbound_service(site, "talks")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.dial_out("zoe", "sales", CUSTOMER, "alice-talk")
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
    assert call["agent_id"] is None and call["decision"]["reason"] == "unknown_agent"
    assert call["recordings"] == []


async def test_private_prefix_through_the_outbound_context(
    site: SandboxSite, caplog: pytest.LogCaptureFixture
) -> None:
    """A2, C6: *77 before the number, dialled through reccontrol-outbound, is a private
    call: counted, never recorded, the number nowhere."""
    caplog.set_level(logging.DEBUG, logger="reccontrol")
    services = {"sales": outbound_service(site, "talks")}
    async with running_flow(site, services=services) as flow:
        phone = await flow.board.dial_out("alice", "sales", "*77" + CUSTOMER, "alice-talk")

        async def counted() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = await flow.daemon.query(lambda s: s.private_call_counts())
            return found or None

        counts = await eventually(counted, "the private call counted")

        async def dialled_out() -> bool | None:
            channels = await flow.board.client.list_channels()
            return any(ch.dialplan_context == "reccontrol-private-dial" for ch in channels) or None

        await eventually(dialled_out, "the private call dialled out")
        await flow.board.client.hangup(phone.id)
        assert flow.vault_files() == []
        ids: list[str] = await flow.daemon.query(lambda s: s.call_ids())
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert ids == []
    assert "612345678" not in caplog.text


async def test_controller_down_dials_the_number_unrecorded(asterisk: SandboxInstance) -> None:
    """C6: with the controller not connected, the agent's call still goes out, through
    reccontrol-outbound-fallback with the number, unrecorded."""
    async with ari_app(asterisk, app="observer", subscribe_all=True) as ari:
        channel = await ari.originate(
            "Local/alice-phone@sim-outphone",
            variables={"SIM_DIAL": f"sales-{CUSTOMER}"},
            app="observer",
        )
        fallback = await ari.wait_for(
            "ChannelDialplan",
            lambda e: e["channel"]["dialplan"]["context"] == "reccontrol-outbound-fallback",
        )
        assert fallback["channel"]["dialplan"]["exten"] == CUSTOMER
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "DELETE", f"/channels/{channel}")
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel)
        await ari.until_channels_gone()


async def test_service_without_outbound_section_is_dialled_unrecorded(site: SandboxSite) -> None:
    """C6: a service that takes no outbound calls hands the agent's call back; the
    dialplan's fallback dials the number, unrecorded, and nothing is stored."""
    async with running_flow(site, services={"sales": service(site)}) as flow:
        phone = await flow.board.dial_out("alice", "sales", CUSTOMER, "alice-talk")

        async def fell_back() -> bool | None:
            channels = await flow.board.client.list_channels()
            return (
                any(ch.dialplan_context == "reccontrol-outbound-fallback" for ch in channels)
                or None
            )

        await eventually(fell_back, "the outbound call reached the fallback")
        await flow.board.client.hangup(phone.id)
        ids: list[str] = await flow.daemon.query(lambda s: s.call_ids())
        assert flow.vault_files() == []
    assert ids == []
