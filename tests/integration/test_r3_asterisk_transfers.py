"""R3: what Asterisk 22 itself does when an agent's SIP phone transfers a call that a
Stasis application bridged and records (docs/asterisk-behaviour.md). No controller here:
a bare ARI application bridges the caller and the agent as the controller does, and
the SIPp phones transfer."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from controller.sandbox import Sandbox, SandboxInstance
from tests.integration.ari_probe import AriProbe, Event, ari_app
from tests.integration.conftest import REPOSITORY, free_port
from tests.sip.media import Part, Silence, keys, tone, write_pcap
from tests.sip.sipp import Phone, Switchboard, sip_phones
from tests.sip.transfers import attended_transfer_phone


@pytest.fixture
async def phones(asterisk: SandboxInstance, tmp_path: Path) -> AsyncIterator[Switchboard]:
    async with sip_phones(asterisk.sip_port, asterisk.phone_ports, tmp_path / "sipp") as board:
        yield board


async def bridge_first_call(
    probe: AriProbe, agent: str, variables: dict[str, str] | None = None
) -> tuple[str, str, str]:
    """As the controller does: the caller enters the application, the agent's phone is
    dialled into it, both go into a mixing bridge, recorded. Returns (caller, agent,
    bridge) ids."""
    start = await probe.wait_for(
        "StasisStart", lambda e: e["args"][:1] == ["inbound"], within=20.0
    )
    caller = start["channel"]["id"]
    await probe.expect(204, "POST", f"/channels/{caller}/answer")
    agent_id = await probe.originate(
        f"PJSIP/{agent}", variables, app="reccontrol", appArgs="agent"
    )
    await probe.wait_for("StasisStart", lambda e: e["channel"]["id"] == agent_id, within=20.0)
    bridge = await probe.expect(200, "POST", "/bridges", type="mixing", bridgeId=f"probe-{caller}")
    for channel in (caller, agent_id):
        await probe.expect(
            204, "POST", f"/bridges/{bridge['id']}/addChannel", channel=channel, absorbDTMF="true"
        )
    await probe.expect(
        201, "POST", f"/bridges/{bridge['id']}/record", name=f"probe-{caller}", format="wav"
    )
    return caller, agent_id, str(bridge["id"])


async def tidy_after(probe: AriProbe, caller: str, bridge: str, transfer: str) -> None:
    """Once the transfer is done and the caller hung up, hangs up whoever is left in the
    bridge (the transfer's Local channel), and the bridge."""
    await probe.wait_for(transfer, within=30.0)
    await probe.wait_for("StasisEnd", lambda e: e["channel"]["id"] == caller, within=30.0)
    left = await probe.expect(200, "GET", f"/bridges/{bridge}")
    for channel in left["channels"]:
        await probe.call("DELETE", f"/channels/{channel}")
    await probe.call("DELETE", f"/bridges/{bridge}")


def of(events: list[Event], kind: str, channel: str | None = None) -> list[Event]:
    return [
        e
        for e in events
        if e["type"] == kind and (channel is None or e.get("channel", {}).get("id") == channel)
    ]


def position(events: list[Event], event: Event) -> int:
    return next(i for i, e in enumerate(events) if e is event)


async def test_r3_attended_transfer_links_the_consultation_into_the_recorded_bridge(
    asterisk: SandboxInstance, phones: Switchboard, tmp_path: Path
) -> None:
    """R3: Alice holds the caller, calls Bruno's extension (the consultation), then
    transfers with REFER/Replaces. The consultation never enters the application; the
    transfer brings a Local channel into the application's bridge in Alice's place, and
    the bridge's recording keeps running. Bruno is the far half's BRIDGEPEER."""
    async with ari_app(asterisk, subscribe_all=True) as probe:
        await phones.agent("bruno", [tone(1300.0, 20000)])
        pcap = write_pcap(tmp_path / "alice.pcap", [tone(1100.0, 20000)])
        alice = Phone(
            "alice",
            attended_transfer_phone("alice", "xfer-bruno", pcap, talk_ms=2000, consult_ms=2000),
            asterisk.phone_ports["alice"],
            phones.workdir,
            remote=phones.asterisk_sip,
        )
        phones.phones.append(alice)
        await alice.start()
        await phones.call("sales", "+33611112222", [tone(500.0, 20000)], hangup_after_ms=10000)
        caller, agent, bridge = await bridge_first_call(probe, "alice")
        linked = await probe.wait_for("BridgeAttendedTransfer", within=30.0)
        far = linked["destination_link_second_leg"]["id"]
        peer = await probe.expect(
            200, "GET", f"/channels/{far}/variable", variable="BRIDGEPEER"
        )
        dialled, _ = await probe.call(
            "GET", f"/channels/{far}/variable", variable="DIALEDPEERNAME"
        )
        await tidy_after(probe, caller, bridge, "BridgeAttendedTransfer")
        await phones.finished(within=40.0)
        events = list(probe.events)

    (transfer,) = of(events, "BridgeAttendedTransfer")
    assert transfer["result"] == "Success"
    assert transfer["is_external"] is False
    assert transfer["transferer_first_leg"]["id"] == agent
    assert transfer["transferer_first_leg_bridge"]["id"] == bridge
    consultation = transfer["transferer_second_leg"]["id"]
    target = transfer["transfer_target"]
    assert target["name"].startswith("PJSIP/bruno-")
    assert transfer["destination_type"] == "link"
    local = transfer["destination_link_first_leg"]
    assert local["name"].startswith("Local/_attended@transfer-") and local["name"].endswith(";1")
    # The far half, in the consultation's bridge, names the target as its peer; it
    # dialled nobody (ARI: 404, "Provided variable was not found").
    assert peer["value"] == target["name"]
    assert dialled == 404
    # The consultation (Alice's second call and Bruno's phone) never entered the
    # application: only the caller, the agent's leg and the Local channel did.
    started = [e["channel"]["id"] for e in of(events, "StasisStart")]
    assert started == [caller, agent, local["id"]]
    assert consultation not in started and target["id"] not in started
    # The Local channel comes in with no arguments, in the agent's place, before the
    # transfer event; the recording of the bridge ends only when the call does.
    (start,) = of(events, "StasisStart", local["id"])
    assert start["args"] == []
    assert start["replace_channel"]["id"] == agent
    (entered,) = [e for e in of(events, "ChannelEnteredBridge", local["id"])]
    assert entered["bridge"]["id"] == bridge
    assert position(events, start) < position(events, transfer)
    (finished,) = of(events, "RecordingFinished")[:1]
    (caller_left,) = of(events, "StasisEnd", caller)
    assert position(events, finished) > position(events, caller_left)


async def test_r3_blind_transfer_to_a_queue_names_the_member_on_the_far_half(
    asterisk: SandboxInstance, phones: Switchboard, tmp_path: Path
) -> None:
    """R3: Chloé transfers the caller to the queue "support" (REFER, no consultation).
    Alice's phone is busy, Bruno's answers. The application sees the Local channel that
    runs Queue() take Chloé's place, and reads who answered in MEMBERINTERFACE on the
    channel's far half (;2)."""
    async with ari_app(asterisk, subscribe_all=True) as probe:
        await phones.busy("alice")  # the queue's first member
        await phones.agent("bruno", [tone(1300.0, 20000)])
        await phones.transferring_agent("chloe", [tone(1100.0, 20000)], "queue-support", 2000)
        await phones.call("sales", "+33611112222", [tone(500.0, 20000)], hangup_after_ms=10000)
        caller, agent, bridge = await bridge_first_call(probe, "chloe")
        transfer = await probe.wait_for("BridgeBlindTransfer", within=30.0)
        local = transfer["replace_channel"]
        await probe.wait_for(
            "ChannelStateChange",
            lambda e: e["channel"]["id"] == local["id"] and e["channel"]["state"] == "Up",
            within=20.0,
        )
        far = local["name"][: -len(";1")] + ";2"
        member = await probe.expect(
            200, "GET", f"/channels/{local['id']}/variable",
            variable=f"IMPORT({far},MEMBERINTERFACE)",
        )
        await tidy_after(probe, caller, bridge, "BridgeBlindTransfer")
        await phones.finished(within=40.0)
        events = list(probe.events)

    assert member["value"] == "PJSIP/bruno"
    assert transfer["channel"]["id"] == agent
    assert transfer["bridge"]["id"] == bridge
    assert (transfer["exten"], transfer["context"]) == ("queue-support", "sim-sip-phone")
    assert transfer["result"] == "Success"
    assert local["name"].startswith("Local/queue-support@sim-sip-phone-")
    (start,) = of(events, "StasisStart", local["id"])
    assert start["args"] == [] and start["replace_channel"]["id"] == agent


# -- Asterisk's own transfer keys (features.conf) -----------------------------------------
FEATURE_KEYS = """
[featuremap]
blindxfer => #1
"""
# Loaded for this test only: the sandbox, like the product, has no builtin features.
BUILTIN_FEATURES = "load = bridge_builtin_features.so\n"
# A number Alice can key after #1, and a trunk extension that dials her the dialplan's
# way, letting the called party transfer (Dial option t).
EXTRA_DIALPLAN = """
[sim-sip-phone]
exten => 2002,1,Dial(PJSIP/bruno,20)
 same => n,Hangup()

[sim-sip-trunk]
exten => dial-alice,1,Dial(PJSIP/alice,20,t)
 same => n,Hangup()
"""


@pytest.fixture
def features_asterisk(sandbox: Sandbox, tmp_path: Path) -> Iterator[SandboxInstance]:
    """An Asterisk of this test's own, whose features.conf gives the agent's phone a
    blind transfer key (#1), as a site that wants Asterisk's transfer keys would."""
    config = tmp_path / "asterisk-config"
    shutil.copytree(REPOSITORY / "config" / "asterisk", config)
    with open(config / "features.conf", "a", encoding="utf-8") as conf:
        conf.write(FEATURE_KEYS)
    with open(config / "modules.conf", "a", encoding="utf-8") as conf:
        conf.write(BUILTIN_FEATURES)
    with open(config / "simulation.conf", "a", encoding="utf-8") as conf:
        conf.write(EXTRA_DIALPLAN)
    box = Sandbox(sandbox.root, config, REPOSITORY / "dialplan")
    name = f"pytest-{os.getpid()}-features"
    instance = box.up(name=name, http_port=free_port())
    try:
        yield instance
    finally:
        box.reset(name)


def keyed_transfer(to: str) -> list[Part]:
    """Alice talks 2 s, presses #1 and keys the number ``to``, then talks on."""
    return [
        tone(1100.0, 2000),
        *keys("#1"),
        Silence(500),
        *keys(to),
        tone(1100.0, 12000),
    ]


async def test_r3_asterisk_transfer_keys_act_in_a_dial_bridge_never_in_a_stasis_bridge(
    features_asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """R3: with a blind transfer key in features.conf (#1) and the agent allowed to
    transfer, the same key presses transfer the caller when Dial() bridged the call, and
    do nothing but reach the application as key presses when the application bridged
    it: a Stasis bridge has no built-in features."""
    instance = features_asterisk
    async with sip_phones(instance.sip_port, instance.phone_ports, tmp_path / "dial") as board:
        await board.agent("alice", keyed_transfer("2002"))
        bruno = await board.agent("bruno", [tone(1300.0, 10000)])
        await board.call("dial-alice", "+33611112222", [tone(500.0, 16000)], 12000)
        # Dial()'s bridge: the caller reaches Bruno, whose phone answers and then gets
        # the caller's BYE.
        await bruno.finished(within=40.0)

    async with sip_phones(instance.sip_port, instance.phone_ports, tmp_path / "app") as board:
        async with ari_app(instance) as probe:
            await board.agent("alice", keyed_transfer("2002"))
            await board.agent("bruno", [tone(1300.0, 10000)])
            await board.call("sales", "+33611112222", [tone(500.0, 10000)], 8000)
            caller, agent, bridge = await bridge_first_call(
                probe, "alice", {"BRIDGE_FEATURES": "T"}
            )
            await probe.wait_for("StasisEnd", lambda e: e["channel"]["id"] == caller, 30.0)
            pressed = [
                e["digit"]
                for e in probe.events
                if e["type"] == "ChannelDtmfReceived" and e["channel"]["id"] == agent
            ]
            transfers = [e for e in probe.events if "Transfer" in e["type"]]
            await probe.call("DELETE", f"/channels/{agent}")
            await probe.call("DELETE", f"/bridges/{bridge}")
        bruno_rang = (tmp_path / "app" / "bruno-messages.log").exists() and "INVITE" in (
            tmp_path / "app" / "bruno-messages.log"
        ).read_text(errors="replace")
    assert "".join(pressed) == "#12002"
    assert transfers == []
    assert not bruno_rang
