"""Blind transfers from the agent's SIP phone (R3), over real SIP: a SIPp phone sends the
REFER in the call's dialog, Asterisk swaps a Local channel into the controller's bridge,
and the stored files are the evidence.

Each party hums its own marker: the caller 500 Hz, Alice (who transfers) 1100 Hz, Chloé
1300 Hz, Bruno (protected) 1700 Hz, and the party who is no agent (``sim-world``) 700 Hz.
The transferring phone's scenario itself fails unless Asterisk accepts the REFER (202)
and reports the transfer's result in a NOTIFY (sipfrag ``SIP/2.0 200``); the phone then
hangs up, as phones do. The target's phone must ring and answer; at the end nothing of
the call is left in Asterisk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.demo.site import SandboxSite
from tests.audio import dtmf_keys, read_wav, tone_seconds
from tests.factories import receipted
from tests.faults.test_transfer_killed import answer
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE, Flow, running_flow, service
from tests.integration.sip_site import sip_site_fixtures
from tests.integration.test_sip_phones import sip_agents
from tests.sip.media import Part, keys, tone
from tests.sip.sipp import Switchboard
from tests.waiting import eventually, until

ALICE_VOICE = AGENT_VOICE
CHLOE_VOICE = 1300.0
BRUNO_VOICE = 1700.0
OUTSIDE_VOICE = 700.0  # sim-world's Playtones
PAUSE_MARKER = 2600.0  # what Chloé says while her segment is paused
CALLER_NUMBER = "+33633335555"
REFER_AFTER_MS = 3000  # Alice talks 3 s, then transfers
CALLER_HANGS_UP_MS = 14000  # after the trunk's answer: 3 s announcement, ~3 s with Alice
# A transfer's target rings before answering, as a person's phone does: a phone that
# answered within the millisecond the controller takes to stop the transferring agent's
# segment could leave a 20 ms frame of its voice at that segment's end.
RINGS_MS = 500


sip_asterisk, site, phones = sip_site_fixtures("xfer")


async def transferred_call(
    site: SandboxSite, phones: Switchboard, target: str, answering: str | None, voice: float
) -> tuple[dict[str, Any], Flow]:
    """A call answered by Alice, who transfers it blind to extension ``target`` (the
    phone of agent ``answering``, or None for a party who is no agent); the stored call
    once it ended and Asterisk is clear."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "alice", [tone(ALICE_VOICE, 30000)], target, REFER_AFTER_MS
        )
        if answering is not None:
            await phones.agent(answering, [tone(voice, 30000)], ring_ms=RINGS_MS)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], CALLER_HANGS_UP_MS)
        # Every scenario ended well: the REFER accepted, the NOTIFY 200, the target rang
        # and answered, and each phone's call was hung up.
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)
        bridges, channels = await flow.asterisk_leftovers()
        assert (bridges, channels) == ([], []), "nothing of the call is left in Asterisk"
    return call, flow


def segments(call: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(r["segment"], r["agent_id"], r["state"]) for r in call["recordings"]]


async def test_r3_a_blind_transfer_to_a_recordable_agent_records_her_in_a_second_segment(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A7: Alice transfers the caller to Chloé. Alice's segment is closed and vaulted
    when she transfers and holds her marker, not Chloé's; Chloé (identified from the
    channel Dial() reached) gets a decision of her own, with the call's draw, and a
    second segment of the same call holding her marker, not Alice's."""
    call, flow = await transferred_call(site, phones, "xfer-chloe", "chloe", CHLOE_VOICE)

    assert segments(call) == [(1, "alice", "stored"), (2, "chloe", "stored")]
    first, second = call["recordings"]
    (decision,) = call["segment_decisions"]
    assert (decision["segment"], decision["agent_id"], decision["record"]) == (2, "chloe", 1)
    assert (decision["reason"], decision["draw"]) == ("sampled", call["decision"]["draw"])
    assert call["decision"]["agent_id"] == "alice"
    assert call["agent_id"] == "chloe"
    assert len(flow.vault_files()) == 2

    alice = read_wav(Path(first["path"]))
    chloe = read_wav(Path(second["path"]))
    assert tone_seconds(alice, ALICE_VOICE) > 2.0
    assert tone_seconds(alice, CHLOE_VOICE) == 0.0
    assert tone_seconds(chloe, CHLOE_VOICE) > 3.0
    assert tone_seconds(chloe, ALICE_VOICE) == 0.0
    assert tone_seconds(chloe, CALLER_VOICE) > 0.9 * chloe.duration


async def test_r3_a3_a_transfer_to_a_protected_agent_keeps_nothing_of_his(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A3: Alice transfers the caller to Bruno, a staff representative. Alice's
    segment is kept; Bruno's decision says protected_agent and nothing of him is
    recorded: no second file, not a frame of his marker in the first."""
    call, flow = await transferred_call(site, phones, "xfer-bruno", "bruno", BRUNO_VOICE)

    assert segments(call) == [(1, "alice", "stored")]
    (decision,) = call["segment_decisions"]
    assert (decision["segment"], decision["agent_id"]) == (2, "bruno")
    assert (decision["record"], decision["reason"]) == (0, "protected_agent")
    assert len(flow.vault_files()) == 1
    alice = read_wav(Path(call["recordings"][0]["path"]))
    assert tone_seconds(alice, BRUNO_VOICE) == 0.0
    assert tone_seconds(alice, ALICE_VOICE) > 2.0


async def test_r3_a7_a_transfer_to_a_party_who_is_no_agent_keeps_nothing_after_it(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A7: Alice transfers the caller to an outside party, whom the config does not
    know. Nothing after the transfer is kept: the decision says unknown_agent, with no
    agent, and the only file is Alice's, without the outside party's voice."""
    call, flow = await transferred_call(site, phones, "xfer-outside", None, OUTSIDE_VOICE)

    assert segments(call) == [(1, "alice", "stored")]
    (decision,) = call["segment_decisions"]
    assert (decision["segment"], decision["agent_id"]) == (2, None)
    assert (decision["record"], decision["reason"]) == (0, "unknown_agent")
    assert len(flow.vault_files()) == 1
    alice = read_wav(Path(call["recordings"][0]["path"]))
    assert tone_seconds(alice, OUTSIDE_VOICE) == 0.0


async def test_r3_a5_after_the_transfer_the_keys_are_the_new_agents(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A5: once Chloé took the call, her *2 pauses her segment and *3 resumes it:
    the pause is hers, the marker she hums while paused is not in her file, and her key
    presses (which reach the controller through the transfer's Local channel) leave no
    tone in it."""
    chloe: list[Part] = [
        tone(CHLOE_VOICE, 2000),
        *keys("*2"),
        tone(PAUSE_MARKER, 2000),
        *keys("*3"),
        tone(CHLOE_VOICE, 30000),
    ]
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "alice", [tone(ALICE_VOICE, 30000)], "xfer-chloe", REFER_AFTER_MS
        )
        await phones.agent("chloe", chloe, ring_ms=RINGS_MS)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], 16000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)

    assert segments(call) == [(1, "alice", "stored"), (2, "chloe", "stored")]
    second = call["recordings"][1]
    (pause,) = call["pauses"]
    assert (pause["recording_id"], pause["paused_by"]) == (second["id"], "chloe")
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")
    chloe_file = read_wav(Path(second["path"]))
    assert tone_seconds(chloe_file, PAUSE_MARKER) <= 0.04
    assert dtmf_keys(chloe_file) == []
    assert tone_seconds(chloe_file, CHLOE_VOICE) > 4.0


async def test_r3_a3_the_agent_who_took_the_call_transfers_it_on_to_a_protected_agent(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R3, A3: Alice transfers the caller to Chloé, who transfers them on to Bruno, a
    staff representative. Each agent who answered has a segment of the call: Alice's
    and Chloé's recorded, each with their own marker only; Bruno's decided with his id,
    protected_agent, and not a frame of his voice in any file."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "alice", [tone(ALICE_VOICE, 30000)], "xfer-chloe", REFER_AFTER_MS
        )
        await phones.transferring_agent(
            "chloe", [tone(CHLOE_VOICE, 30000)], "xfer-bruno", 4000, ring_ms=RINGS_MS
        )
        await phones.agent("bruno", [tone(BRUNO_VOICE, 30000)], ring_ms=RINGS_MS)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], 17000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)
        bridges, channels = await flow.asterisk_leftovers()
        assert (bridges, channels) == ([], []), "nothing of the call is left in Asterisk"

    assert segments(call) == [(1, "alice", "stored"), (2, "chloe", "stored")]
    decided = [(d["segment"], d["agent_id"], d["reason"]) for d in call["segment_decisions"]]
    assert decided == [(2, "chloe", "sampled"), (3, "bruno", "protected_agent")]
    alice, chloe = (read_wav(Path(r["path"])) for r in call["recordings"])
    assert tone_seconds(alice, CHLOE_VOICE) == 0.0
    assert tone_seconds(chloe, CHLOE_VOICE) > 2.0 and tone_seconds(chloe, ALICE_VOICE) == 0.0
    assert tone_seconds(alice, BRUNO_VOICE) == tone_seconds(chloe, BRUNO_VOICE) == 0.0


C2_RULE = "C2: caller objected"
OBJECTING = "xferc2"
"""The caller's tag (``c-waitkey``): it presses the opt-out key when the test says."""


async def test_c2_r3_an_objection_in_the_second_segment_deletes_the_first_too(
    site: SandboxSite, phones: Switchboard
) -> None:
    """C2, R3, T4: Alice transfers the caller to Chloé; Alice's segment goes into the
    vault, Chloé's is recorded. Then the caller presses the opt-out key: Chloé's segment
    is cancelled (DELETE: no file, row ``discarded``) and Alice's, already in the vault,
    is deleted by the crash-safe deletion: its file and row gone, a receipt naming C2 in
    the access log. The objection is in the consent ledger; no file of the call is left,
    in the vault or in Asterisk's folder."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "alice", [tone(ALICE_VOICE, 30000)], "xfer-chloe", REFER_AFTER_MS
        )
        await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)], ring_ms=RINGS_MS)
        # The caller is a Local channel whose key comes at the moment the test chooses.
        await flow.board.call("sales", f"c-waitkey-{OBJECTING}-3", CALLER_NUMBER)

        async def both_segments() -> list[dict[str, Any]] | None:
            call_id = flow.daemon.calls.find_call(agent_id="chloe")
            if call_id is None:
                return None
            summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
            if segments(summary) != [(1, "alice", "stored"), (2, "chloe", "live")]:
                return None
            return list(summary["recordings"])

        before = await eventually(both_segments, "Alice's segment vaulted, Chloé's recorded")
        assert len(flow.vault_files()) == 1
        await flow.board.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_GO_{OBJECTING}", "value": "9"}
        )
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)
        receipts = await eventually(lambda: c2_receipts(flow), "the deletion's receipt")
        bridges, channels = await flow.asterisk_leftovers()
        assert (bridges, channels) == ([], []), "nothing of the call is left in Asterisk"
        await until(lambda: flow.asterisk_files() == [], "nothing left in Asterisk's folder")
        assert flow.vault_files() == []

    alice, chloe = before
    assert [(r["recording_id"], r["call_id"], r["file"]) for r in receipts] == [
        (alice["id"], call["id"], "deleted")
    ]
    assert receipts[0]["actor"] == "system"
    assert [(r["id"], r["segment"], r["state"], r["path"]) for r in call["recordings"]] == [
        (chloe["id"], 2, "discarded", None)
    ]
    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == ("opt_out", "9", "conversation")


async def c2_receipts(flow: Flow) -> list[dict[str, Any]] | None:
    """The recordings the deletion receipts of rule C2 name, once there is one."""
    entries = await flow.daemon.query(lambda s: list(s.access_entries()))
    return [r for r in receipted(entries) if r["rule"] == C2_RULE] or None


A2_RULE = "A2: private call"


async def test_a2_r3_the_second_agent_declaring_the_call_private_deletes_the_first_segment(
    site: SandboxSite, phones: Switchboard
) -> None:
    """A2, R3, T4: Alice transfers the caller to Chloé; Alice's segment goes into the
    vault while Chloé's phone rings. Chloé answers, her segment is recorded, and she
    presses the private key (*7) over RFC 4733: her segment is cancelled (DELETE), and
    Alice's, already in the vault, is deleted by the crash-safe deletion, a receipt
    naming A2 in the access log; then the call's row goes. No file of the call is left,
    in the vault or in Asterisk's folder, and no row but Chloé's private-call count."""
    services = {"sales": service(site, target="PJSIP/alice")}
    chloe_media: list[Part] = [
        tone(CHLOE_VOICE, 2000),
        *keys("*7"),
        tone(CHLOE_VOICE, 30000),
    ]
    async with running_flow(site, services=services, agents=sip_agents(), draws=[0.0]) as flow:
        await phones.transferring_agent(
            "alice", [tone(ALICE_VOICE, 30000)], "xfer-chloe", REFER_AFTER_MS
        )
        chloe = await phones.agent("chloe", chloe_media, on_cue=True)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 40000)], 20000)

        async def alice_vaulted() -> tuple[str, dict[str, Any]] | None:
            for call_id in list(flow.daemon.calls.router.calls):
                summary = await summary_of(flow, call_id)
                if summary is not None and segments(summary) == [(1, "alice", "stored")]:
                    return call_id, summary["recordings"][0]
            return None

        call_id, alice = await eventually(alice_vaulted, "Alice's segment vaulted")
        assert len(flow.vault_files()) == 1
        await answer(flow.board.client, chloe)
        receipts = await eventually(lambda: a2_receipts(flow), "the deletion's receipt")
        await phones.finished()

        async def forgotten() -> bool | None:
            return True if await flow.daemon.query(lambda s: s.call_ids()) == [] else None

        await eventually(forgotten, "the call's row gone")
        bridges, channels = await flow.asterisk_leftovers()
        assert (bridges, channels) == ([], []), "nothing of the call is left in Asterisk"
        await until(lambda: flow.asterisk_files() == [], "nothing left in Asterisk's folder")
        assert flow.vault_files() == []
        counts = await flow.daemon.query(lambda s: s.private_call_counts())
        opened = await flow.daemon.query(
            lambda s: s.db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0]
        )

    assert [(r["recording_id"], r["call_id"], r["file"]) for r in receipts] == [
        (alice["id"], call_id, "deleted")
    ]
    assert receipts[0]["actor"] == "system"
    assert [(c["agent_id"], c["count"]) for c in counts] == [("chloe", 1)]
    assert opened == 0


async def summary_of(flow: Flow, call_id: str) -> dict[str, Any] | None:
    summary: dict[str, Any] | None = await flow.daemon.query(lambda s: s.call_summary(call_id))
    return summary


async def a2_receipts(flow: Flow) -> list[dict[str, Any]] | None:
    """The recordings the deletion receipts of rule A2 name, once there is one."""
    entries = await flow.daemon.query(lambda s: list(s.access_entries()))
    return [r for r in receipted(entries) if r["rule"] == A2_RULE] or None
