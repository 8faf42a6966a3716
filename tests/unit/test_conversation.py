"""The agent's side of a bridged call on its own: keys (A2, A4, A5) and the payment
hand-off (M1), over a real recording controller."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from controller.calls import commands as c
from controller.calls.call_settings import CallSettings
from controller.calls.conversation import Conversation
from controller.calls.recording import RecordingControl
from controller.config.service_model import PauseSettings
from controller.payments.charge import ChargeResult
from tests.factories import make_agent, make_service
from tests.unit.test_inbound_call import PAYMENT, SETTINGS

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
CARD_KEYS = "4556737586899855#" + "1228" + "737#"


def conversation(settings: CallSettings = SETTINGS, payments: bool = False) -> Conversation:
    service = make_service(payments=payments)
    rng = random.Random(4)
    rec = RecordingControl(
        call_id="c1",
        bridge_id="rc-c1",
        fmt="wav",
        retention_days=90,
        pause_settings=PauseSettings(),
        rng=rng,
        log_prefix="call c1 (sales)",
    )
    talk = Conversation(
        call_id="c1",
        service=service,
        settings=settings,
        caller_id="caller-1",
        agent_channel_id="rc-c1-agent",
        bridge_id="rc-c1",
        recording=rec,
        rng=rng,
        log_prefix="call c1 (sales)",
    )
    talk.agent = make_agent()
    return talk


def keys(talk: Conversation, typed: str, *, connected: bool = True) -> list[c.Command]:
    out: list[c.Command] = []

    def refusal() -> str | None:
        return talk.payment_refusal(caller_with_agent=connected)

    for i, key in enumerate(typed):
        out += talk.agent_key(
            key,
            100 + i * 0.2,
            NOW,
            connected=connected,
            payment_refusal=refusal,
            caller_objected=False,
        )
    return out


def test_keys_before_the_bridge_do_nothing() -> None:
    talk = conversation()
    assert keys(talk, "*1", connected=False) == []


def test_on_demand_then_pause_with_feedback_to_the_agent_only_A4_A5() -> None:
    talk = conversation()
    started = keys(talk, "*1")
    assert [type(cmd).__name__ for cmd in started][:2] == ["OpenRecording", "StartRecording"]
    assert talk.rec.recording is not None
    talk.rec.started(talk.rec.recording.name)
    paused = keys(talk, "*2")
    assert paused[0] == c.PauseRecording(talk.rec.recording.name, mute=False)
    feedback = [cmd for cmd in paused if isinstance(cmd, c.Play)]
    assert [p.channel_id for p in feedback] == ["rc-c1-agent"]


def test_private_discards_and_forgets_the_pause_A2() -> None:
    talk = conversation()
    keys(talk, "*1")
    keys(talk, "*2")
    out = keys(talk, "*7")
    assert isinstance(out[0], c.CancelRecording) and out[1] == c.CancelTimer("pause")
    assert talk.private and not any(isinstance(cmd, c.ClosePause) for cmd in out)


def test_payment_refusals_say_why_M1() -> None:
    assert "not enabled" in (conversation().payment_refusal(caller_with_agent=True) or "")
    paying = conversation(dataclasses.replace(SETTINGS, payment=PAYMENT), payments=True)
    assert "not talking" in (paying.payment_refusal(caller_with_agent=False) or "")
    assert paying.payment_refusal(caller_with_agent=True) is None


def test_a_caller_gone_before_the_outcome_ends_the_payment_M1() -> None:
    talk = conversation(dataclasses.replace(SETTINGS, payment=PAYMENT), payments=True)
    keys(talk, "*8")
    talk.payment_details("10.00", "ORDER-1", NOW)
    assert talk.payment is not None
    for key in CARD_KEYS:
        talk.payment.key(key, NOW)
    talk.payment_done(ChargeResult("approved", "P1", 1, "HTTP 200", 1.0), NOW)
    assert talk.announce_outcome(caller_gone=True, agent_gone=False) == []
    assert talk.payment is None
