"""Attended transfers and transfers to a queue from the agent's SIP phone (R3, A7), over
real SIP with the daemon: the stored rows and files are the evidence.

Each party hums its own marker: the caller 500 Hz, Alice 1100 Hz, Chloé 1300 Hz. During
the consultation (Alice's private call with Chloé, before the caller joins) Chloé hums
2400 Hz instead: not a frame of it may reach any file. Alice's phone, on hold, sends
silence on the call's dialog (its voice goes to the consultation's dialog, which never
enters the application). The transferring phone's scenario fails unless Asterisk
accepts the REFER (202) and reports the transfer's end (NOTIFY); the phone then hangs
up, as phones do; the target's phone must ring and answer. At the end nothing of the
call is left in Asterisk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.demo.site import SandboxSite
from tests.audio import read_wav, tone_seconds
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE, Flow, running_flow, service
from tests.integration.sip_site import sip_site_fixtures
from tests.integration.test_sip_phones import sip_agents
from tests.sip.media import Silence, tone, write_pcap
from tests.sip.sipp import Phone, Switchboard
from tests.sip.transfers import attended_transfer_phone

ALICE_VOICE = AGENT_VOICE
CHLOE_VOICE = 1300.0
CONSULTATION_MARKER = 2400.0  # Chloé, while she talks with Alice alone
CALLER_NUMBER = "+33633336666"
TALK_MS = 3000  # the agent talks with the caller, then holds (attended) or transfers
CONSULT_MS = 3000  # Alice and Chloé, alone
# Asterisk swaps its Local link in about 500 ms after the REFER: Chloé's consultation
# marker stops 200 ms before Alice's phone sends it, well inside the consultation.
CONSULT_MARKER_MS = CONSULT_MS - 200
# The queue member's phone rings this long before she picks up, as a person does. (A
# phone answering within a few ms of the transfer races the stop of the earlier
# segment's recording: Asterisk swaps the transfer's channel into the bridge before the
# controller hears of it; see docs/asterisk-behaviour.md.)
QUEUE_RING_MS = 1000


sip_asterisk, site, phones = sip_site_fixtures("atxfer")


async def start_phone(board: Switchboard, name: str, scenario: str) -> Phone:
    """Agent ``name``'s phone running ``scenario`` (one of :mod:`tests.sip.transfers`)."""
    phone = Phone(
        name, scenario, board.phone_ports[name], board.workdir, remote=board.asterisk_sip
    )
    board.phones.append(phone)
    await phone.start()
    return phone


async def ended_call(flow: Flow, phones: Switchboard) -> dict[str, Any]:
    """The stored call, once every phone's scenario ended well and Asterisk is clear."""
    await phones.finished()
    (call,) = await flow.daemon.wait_for_calls(1, within=60)
    bridges, channels = await flow.asterisk_leftovers()
    assert (bridges, channels) == ([], []), "nothing of the call is left in Asterisk"
    return call


def segments(call: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(r["segment"], r["agent_id"], r["state"]) for r in call["recordings"]]


async def test_r3_an_attended_transfer_records_the_second_agent_never_the_consultation(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3: Alice holds the caller, calls Chloé, talks with her alone, then transfers
    (REFER with Replaces). Alice's segment is kept; Chloé, identified behind Asterisk's
    Local link, gets a decision of her own (the call's draw) and a second segment with
    her voice. Not a frame of the consultation is in either file."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        alice_media = write_pcap(
            phones.workdir / "alice.pcap", [tone(ALICE_VOICE, TALK_MS), Silence(27000)]
        )
        scenario = attended_transfer_phone(
            "alice", "xfer-chloe", alice_media, talk_ms=TALK_MS, consult_ms=CONSULT_MS
        )
        await start_phone(phones, "alice", scenario)
        await phones.agent(
            "chloe", [tone(CONSULTATION_MARKER, CONSULT_MARKER_MS), tone(CHLOE_VOICE, 27000)]
        )
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], 16000)
        call = await ended_call(flow, phones)

    assert segments(call) == [(1, "alice", "stored"), (2, "chloe", "stored")]
    (decision,) = call["segment_decisions"]
    assert (decision["segment"], decision["agent_id"], decision["record"]) == (2, "chloe", 1)
    assert (decision["reason"], decision["draw"]) == ("sampled", call["decision"]["draw"])
    assert call["decision"]["agent_id"] == "alice"
    assert len(flow.vault_files()) == 2
    # A9: Alice's hold paused her segment; Asterisk took the caller off hold at the
    # REFER, 500 ms before its swap, and the transfer's first word put the pause back,
    # so Chloé's first frame reached a paused recording.
    pauses = [(p["reason"], p["resumed_by"]) for p in call["pauses"]]
    assert pauses == [("hold", "agent"), ("hold", "transfer")]

    alice = read_wav(Path(call["recordings"][0]["path"]))
    chloe = read_wav(Path(call["recordings"][1]["path"]))
    assert tone_seconds(alice, ALICE_VOICE) > 2.0
    assert tone_seconds(chloe, CHLOE_VOICE) > 2.0
    assert tone_seconds(alice, CHLOE_VOICE) == 0.0
    assert tone_seconds(chloe, ALICE_VOICE) == 0.0
    for audio in (alice, chloe):
        assert tone_seconds(audio, CONSULTATION_MARKER) == 0.0


async def test_r3_a7_a_transfer_to_a_queue_records_the_member_who_answered(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A7: Chloé transfers the caller to the queue "support" (REFER to an extension
    that runs Queue()). Alice, its first member, answers: the controller knows her from
    MEMBERINTERFACE, takes the decision again for her and records her in a second
    segment; Chloé's segment is kept apart, without a frame of Alice."""
    services = {"sales": service(site, target="PJSIP/chloe")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "chloe", [tone(CHLOE_VOICE, 30000)], "queue-support", TALK_MS
        )
        await phones.agent("alice", [tone(ALICE_VOICE, 30000)], ring_ms=QUEUE_RING_MS)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], 14000)
        call = await ended_call(flow, phones)

    assert segments(call) == [(1, "chloe", "stored"), (2, "alice", "stored")]
    (decision,) = call["segment_decisions"]
    assert (decision["segment"], decision["agent_id"], decision["record"]) == (2, "alice", 1)
    chloe = read_wav(Path(call["recordings"][0]["path"]))
    alice = read_wav(Path(call["recordings"][1]["path"]))
    assert tone_seconds(chloe, CHLOE_VOICE) > 2.0 and tone_seconds(chloe, ALICE_VOICE) == 0.0
    assert tone_seconds(alice, ALICE_VOICE) > 2.0 and tone_seconds(alice, CHLOE_VOICE) == 0.0
