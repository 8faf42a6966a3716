"""The outbound call coordinator (C6), driven message by message with a fixed clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path
from random import Random as R
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from controller.ari.models import CallerId, Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call import Call, Phase
from controller.calls.call_settings import CallSettings
from controller.calls.outbound import CUSTOMER_TIMER, not_reached, outbound_cast
from controller.calls.starting import outbound_call
from controller.config import Config, load_config
from controller.config.model import Agent
from controller.config.service_model import Announcement, Outbound, Service
from controller.privacy import caller_hash
from tests.factories import STAFF_INFORMED, make_agent, make_service

T = TypeVar("T", bound=c.Command)
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Paris
SETTINGS = CallSettings(ZoneInfo("Europe/Paris"), "wav", staff_informed=STAFF_INFORMED)
OUTBOUND = Outbound("PJSIP/{number}@trunk", "+33140000001", 20)
PHONE = Channel(
    "phone-1",
    "PJSIP/alice-00000001",
    "Ring",
    CallerId("", "101"),
    CallerId("", ""),
    "fr",
    "reccontrol-outbound",
    "sales-0612345678",
)
CUSTOMER_ID = "rc-c0ffee-customer"
CUSTOMER = Channel(
    CUSTOMER_ID, "PJSIP/trunk-00000002", "Up", CallerId("", ""), CallerId("", ""), "fr", "", ""
)


def kinds(commands: list[c.Command]) -> list[str]:
    return [type(cmd).__name__ for cmd in commands]


def of(commands: list[c.Command], kind: type[T]) -> list[T]:
    return [cmd for cmd in commands if isinstance(cmd, kind)]


def by_agent() -> Service:
    return make_service(announcement=Announcement("reccontrol/fr/announce", "v1", "agent"))


def placed(service: Service, agent: Agent | None, number: str | None, hashed: str | None) -> Call:
    """An outbound call from PHONE, as the router makes it."""
    cast = outbound_cast(
        call_id="c0ffee",
        service=dataclasses.replace(service, outbound=OUTBOUND),
        agent_channel=PHONE,
        number=number,
        customer_hash=hashed,
    )
    return Call(
        cast=cast, settings=SETTINGS, rng=random.Random(1), phase=Phase.DIALING, agent=agent
    )


class Driver:
    def __init__(
        self,
        service: Service | None = None,
        number: str | None = "0612345678",
        agent: Agent | None = None,
    ) -> None:
        self.call = placed(
            service or make_service(sampling_rate=0.999),
            agent if agent is not None else make_agent(),
            number,
            "h1" if number else None,
        )

    def start(self) -> list[c.Command]:
        return self.call.start(NOW)

    def send(self, message: m.Message) -> list[c.Command]:
        return self.call.handle(message, NOW)

    def answered(self) -> list[c.Command]:
        self.start()
        self.send(m.ObjectionKnown(False))
        return self.send(m.CustomerAnswered(CUSTOMER))

    def connected(self) -> list[c.Command]:
        self.answered()
        return self.send(m.PlaybackDone(self.call.notice.playback_id))


def test_dials_the_customer_while_the_agent_hears_ringing() -> None:
    """C6: the call is stored as outbound with the number's HMAC, the customer is
    dialled with the service's dial string, and nothing is played or recorded yet."""
    d = Driver()
    start = d.start()
    assert kinds(start) == [
        "BeginCall",
        "LookupObjection",
        "Ring",
        "Originate",
        "StartTimer",
        "Log",
    ]
    begin = of(start, c.BeginCall)[0]
    assert (begin.call.direction, begin.call.caller_hash) == ("outbound", "h1")
    (originate,) = of(start, c.Originate)
    assert originate.endpoint == "PJSIP/0612345678@trunk"
    assert originate.channel_id == CUSTOMER_ID and originate.app_args == "customer,c0ffee"
    assert originate.caller_id == "+33140000001" and originate.originator == "phone-1"
    assert of(start, c.StartTimer) == [c.StartTimer(CUSTOMER_TIMER, 20)]
    # The number stays out of the log lines.
    assert all("612345678" not in log.message for log in of(start, c.Log))


def test_announcement_to_the_customer_then_bridge_then_recording() -> None:
    """C6, C1: on answer the announcement plays to the customer (the agent hears a
    tone); only once it ended are they bridged and the recording started."""
    d = Driver()
    answered = d.answered()
    plays = of(answered, c.Play)
    assert [p.channel_id for p in plays] == [CUSTOMER_ID, "phone-1"]
    assert plays[0].media == "sound:reccontrol/fr/announce"
    assert plays[1].media.startswith("tone:")
    assert of(answered, c.StartRecording) == [] and of(answered, c.CreateBridge) == []
    assert d.call.phase is Phase.ANNOUNCING

    bridged = d.send(m.PlaybackDone(d.call.notice.playback_id))
    names = kinds(bridged)
    assert names.index("StopPlayback") < names.index("CreateBridge")
    assert (
        names.index("AddToBridge") < names.index("RecordDecision") < names.index("StartRecording")
    )
    (decision,) = of(bridged, c.RecordDecision)
    assert decision.decision.record and decision.decision.agent_id == "alice"


def test_customer_opt_out_during_the_announcement() -> None:
    """C6, C2, C4: the customer's opt-out key is stored and remembered for the number's
    HMAC; the call is bridged but never recorded."""
    d = Driver()
    d.answered()
    out = d.send(m.Dtmf(CUSTOMER_ID, "9"))
    assert c.RememberObjection("h1") in out
    (consent,) = of(out, c.AddConsent)
    assert (consent.event.kind, consent.event.phase) == ("opt_out", "announcement")
    bridged = d.send(m.PlaybackDone(d.call.notice.playback_id))
    (decision,) = of(bridged, c.RecordDecision)
    assert decision.decision.reason == "caller_objected"
    assert of(bridged, c.StartRecording) == []


def test_remembered_objection_stops_the_recording() -> None:
    """C6, C4: an objection remembered for the called number: not recorded."""
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(True))
    d.send(m.CustomerAnswered(CUSTOMER))
    bridged = d.send(m.PlaybackDone(d.call.notice.playback_id))
    (decision,) = of(bridged, c.RecordDecision)
    assert decision.decision.reason == "remembered_objection"


def test_customer_opt_out_mid_call_discards_the_recording_first() -> None:
    """C6, C2: the opt-out key mid-call cancels the live recording before anything."""
    d = Driver()
    d.connected()
    d.send(m.RecordingStarted(d.call.rec.recording.name))  # type: ignore[union-attr]
    out = d.send(m.Dtmf(CUSTOMER_ID, "9"))
    assert isinstance(out[0], c.CancelRecording)


def test_notice_by_agent_waits_for_the_key() -> None:
    """C6: announced by the agent, nothing is played; the call is bridged at once and
    decided only after the notice-given key, which is stored."""
    d = Driver(by_agent())
    answered = d.answered()
    assert of(answered, c.Play) == []
    assert of(answered, c.CreateBridge) and of(answered, c.RecordDecision) == []
    # On-demand recording before the notice is refused.
    started = d.send(m.Dtmf("phone-1", "*", 1.0)) + d.send(m.Dtmf("phone-1", "1", 1.1))
    assert of(started, c.StartRecording) == []
    out = d.send(m.Dtmf("phone-1", "*", 2.0)) + d.send(m.Dtmf("phone-1", "4", 2.1))
    (consent,) = of(out, c.AddConsent)
    assert (consent.event.kind, consent.event.key, consent.event.phase) == (
        "notice_given",
        "*4",
        "conversation",
    )
    assert of(out, c.RecordDecision) != []
    assert of(out, c.StartRecording) != []
    assert d.call.notice_completed
    # A second press changes nothing.
    again = d.send(m.Dtmf("phone-1", "*", 3.0)) + d.send(m.Dtmf("phone-1", "4", 3.1))
    assert of(again, c.AddConsent) == [] and of(again, c.StartRecording) == []


def test_notice_key_does_nothing_when_the_system_announces() -> None:
    """C6: the notice-given key belongs to services announced by their agents."""
    d = Driver()
    d.connected()
    out = d.send(m.Dtmf("phone-1", "*", 2.0)) + d.send(m.Dtmf("phone-1", "4", 2.1))
    assert of(out, c.AddConsent) == []


def test_notice_by_agent_customer_objects_before_the_key() -> None:
    """C6, C2: the customer may object before the agent's notice: never recorded."""
    d = Driver(by_agent())
    d.answered()
    out = d.send(m.Dtmf(CUSTOMER_ID, "9"))
    (decision,) = of(out, c.RecordDecision)
    assert decision.decision.reason == "caller_objected"
    assert of(out, c.StartRecording) == []


@pytest.mark.parametrize(
    ("cause", "outcome", "reason"),
    [
        (17, "busy", "busy"),
        (19, "no_answer", "no_answer"),
        (21, "rejected", "rejected"),
        (1, "invalid_number", "unallocated"),
        (28, "invalid_number", "unallocated"),
        (34, "failed", "congestion"),
    ],
)
def test_customer_not_reached(cause: int, outcome: str, reason: str) -> None:
    """C6: each way of not reaching the customer has its outcome; the agent's leg is
    hung up with the matching cause."""
    d = Driver()
    d.start()
    out = d.send(m.ChannelGone(CUSTOMER_ID, cause))
    assert c.Hangup("phone-1", reason) in out
    (end,) = of(out, c.EndCall)
    assert end.outcome == outcome == not_reached(cause)
    assert isinstance(out[-1], c.Finished) and d.call.phase is Phase.ENDED


def test_no_answer_within_the_ring_timeout() -> None:
    """C6: our timer decides a no-answer, hangs up both legs."""
    d = Driver()
    d.start()
    out = d.send(m.TimerFired(CUSTOMER_TIMER))
    assert c.Hangup(CUSTOMER_ID) in out and c.Hangup("phone-1", "no_answer") in out
    assert of(out, c.EndCall)[0].outcome == "no_answer"
    # The customer answering afterwards is hung up.
    assert d.send(m.CustomerAnswered(CUSTOMER)) == []


def test_invalid_number_is_never_dialled() -> None:
    """C6: what is not a number never reaches a dial string."""
    d = Driver(number=None)
    out = d.start()
    assert of(out, c.Originate) == []
    assert c.Hangup("phone-1", "unallocated") in out
    assert of(out, c.EndCall)[0].outcome == "invalid_number"


def test_agent_gives_up_while_ringing() -> None:
    """C6: the agent hangs up before the customer answers: the customer leg goes."""
    d = Driver()
    d.start()
    out = d.send(m.ChannelGone("phone-1"))
    assert c.Hangup(CUSTOMER_ID) in out
    assert of(out, c.EndCall)[0].outcome == "agent_hung_up"


def test_customer_hangs_up_during_the_announcement() -> None:
    """C6: the agent's leg is hung up, nothing decided."""
    d = Driver()
    d.answered()
    out = d.send(m.ChannelGone(CUSTOMER_ID, 16))
    assert c.Hangup("phone-1") in out and of(out, c.RecordDecision) == []
    assert of(out, c.EndCall)[0].outcome == "customer_hung_up"


def test_unknown_agent_is_not_recorded() -> None:
    """C6, A7: a calling channel that is no agent's: decided unknown_agent."""
    call = placed(make_service(sampling_rate=0.999), None, "0612345678", "h1")
    call.start(NOW)
    call.handle(m.ObjectionKnown(False), NOW)
    call.handle(m.CustomerAnswered(CUSTOMER), NOW)
    out = call.handle(m.PlaybackDone(call.notice.playback_id), NOW)
    (decision,) = of(out, c.RecordDecision)
    assert decision.decision.reason == "unknown_agent" and decision.decision.agent_id is None


def test_agent_keys_work_as_on_inbound_calls() -> None:
    """C6, A5, A2: the agent's pause key pauses first; the private key discards."""
    d = Driver()
    d.connected()
    d.send(m.RecordingStarted(d.call.rec.recording.name))  # type: ignore[union-attr]
    d.send(m.Dtmf("phone-1", "*", 1.0))
    paused = d.send(m.Dtmf("phone-1", "2", 1.1))
    assert isinstance(paused[0], c.PauseRecording)
    d.send(m.Dtmf("phone-1", "*", 2.0))
    private = d.send(m.Dtmf("phone-1", "7", 2.1))
    assert isinstance(private[0], c.CancelRecording) and of(private, c.MakePrivate)


def test_hang_up_after_the_bridge_ends_cleanly() -> None:
    """C6: the recording is stopped, the other leg and the bridge released."""
    d = Driver()
    d.connected()
    name = d.call.rec.recording.name  # type: ignore[union-attr]
    d.send(m.RecordingStarted(name))
    out = d.send(m.ChannelGone(CUSTOMER_ID))
    assert next(k for k in kinds(out) if k != "Log") == "StopRecording"
    assert c.Hangup("phone-1") in out and c.DestroyBridge("rc-c0ffee") in out
    d.send(m.ChannelGone("phone-1"))
    end = d.send(m.RecordingEnded(name))
    assert of(end, c.EndCall)[0].outcome == "customer_hung_up"
    assert isinstance(end[-1], c.Finished)


def test_originate_failure_hands_the_agent_back_to_the_dialplan() -> None:
    """C6: if reccontrol cannot dial, the agent's call goes on unrecorded through the
    dialplan's fallback instead of being lost."""
    d = Driver()
    start = d.start()
    (originate,) = of(start, c.Originate)
    out = d.send(m.CommandFailed(originate, "not_found", 404))
    assert c.ContinueInDialplan("phone-1") in out
    assert of(out, c.EndCall)[0].outcome == "handed_back"


def test_r2_c6_dialling_the_customer_answered_late_by_asterisk_still_connects() -> None:
    """R2, C6: the customer's dialling got no answer from Asterisk in time, but the leg
    was dialled and answers: the call carries on as usual, the agent is not handed back."""
    d = Driver()
    (originate,) = of(d.start(), c.Originate)
    d.send(m.ObjectionKnown(False))
    out = d.send(m.CommandFailed(originate, "ari-unavailable", None))
    assert of(out, c.ContinueInDialplan) == [] and of(out, c.EndCall) == []
    answered = d.send(m.CustomerAnswered(CUSTOMER))
    assert [p.channel_id for p in of(answered, c.Play)] == [CUSTOMER_ID, "phone-1"]


def test_r2_c6_dialling_never_answered_hands_the_agent_back_at_the_ring_timer() -> None:
    """R2, C6: no answer to the dialling and no customer leg by the ring timer: the
    agent's call goes on through the dialplan, as when the dialling is refused."""
    d = Driver()
    (originate,) = of(d.start(), c.Originate)
    d.send(m.CommandFailed(originate, "ari-unavailable", None))
    out = d.send(m.TimerFired(CUSTOMER_TIMER))
    assert c.ContinueInDialplan("phone-1") in out
    assert c.Hangup(CUSTOMER_ID) in out
    assert of(out, c.EndCall)[0].outcome == "handed_back"


def golden_config() -> Config:
    golden = Path(__file__).resolve().parents[1] / "golden" / "site.yaml"
    return load_config(golden, environ={"ARI_PW": "x", "HMAC_KEY": "k" * 32})


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((), "unknown service ''"),
        (("nosuch", "0612345678"), "unknown service 'nosuch'"),
        (("urgences", "0612345678"), "service 'urgences' has no outbound section"),
    ],
)
def test_calls_the_controller_cannot_take_go_back(args: tuple[str, ...], why: str) -> None:
    """C6: bad Stasis arguments or a service without outbound never crash: the reason
    comes back and the router hands the channel to the dialplan's fallback."""
    made = outbound_call("c0ffee", golden_config(), PHONE, args, settings=SETTINGS, rng=R())
    assert isinstance(made, str) and made.startswith(why)


@pytest.mark.parametrize("number", ["", "06 12", "06&PJSIP/x", "0612345678;1", "+", "1" * 21])
def test_what_is_not_a_number_is_never_dialled(number: str) -> None:
    """C6: the factory keeps only digits (and a leading +) for the dial string."""
    made = outbound_call(
        "c0ffee", golden_config(), PHONE, ("adhesions", number), settings=SETTINGS, rng=R()
    )
    assert isinstance(made, Call)
    assert made.caller_hash is None
    out = made.start(NOW)
    assert of(out, c.Originate) == [] and of(out, c.EndCall)[0].outcome == "invalid_number"


def test_agent_and_number_hash_come_from_the_config() -> None:
    """C6, C4: the agent is matched on the calling channel; the number's HMAC is the
    E.164 one, the same however the number is written."""
    config = golden_config()
    made = outbound_call(
        "c0ffee", config, PHONE, ("adhesions", "0612345678"), settings=SETTINGS, rng=R()
    )
    other = outbound_call(
        "c0ffee", config, PHONE, ("adhesions", "+33612345678"), settings=SETTINGS, rng=R()
    )
    assert isinstance(made, Call) and isinstance(other, Call)
    assert made.agent is not None and made.agent.id == "alice"
    assert made.caller_hash == other.caller_hash
    assert made.caller_hash == caller_hash(config.privacy.caller_hmac_key, "+33612345678")
    (originate,) = of(made.start(NOW), c.Originate)
    assert originate.endpoint == "PJSIP/0612345678@trunk"
