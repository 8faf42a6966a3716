"""The agent-assisted payment (M4) in the call state machine, message by message: the
caller stays bridged and muted towards the call while keying, the file runs on, the
agent hears a beep per key, and every way the entry can end unmutes the caller (but a
caller who hung up) and closes the masked span."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.adoption import Adopted, plan_call
from controller.calls.assisted_payment import AssistedPaymentLeg, masked_progress
from controller.calls.live import LiveBoard
from controller.calls.masking_commands import MaskEnd
from controller.config import Config, load_config
from controller.payments.charge import ChargeResult
from controller.records import CallStart
from controller.store import SqliteStore
from tests.factories import make_service
from tests.unit.test_adoption import CALL, Directory, open_call, recording_row, view
from tests.unit.test_config import ENV, Loader, mutate, payment_section, problems_of
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    CARD_KEYS,
    NOW,
    PAYMENT,
    SETTINGS,
    Driver,
    agent_keys,
    caller_keys,
    kinds,
    of,
    recording_name,
)

ASSISTED = dataclasses.replace(PAYMENT, mode="assisted", digit_sound="tick")
CARD = "4556737586899855"
APPROVED = ChargeResult("approved", "PAY-1", 1, "HTTP 200", 80.0)


def assisted_driver() -> Driver:
    settings = dataclasses.replace(SETTINGS, payment=ASSISTED)
    service = make_service(sampling_rate=0.999, payments=True)
    return Driver(service=service, settings=settings)


def keying(d: Driver) -> list[c.Command]:
    """Connected, recorded, *8 pressed and the amount read: the caller may key."""
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    first = agent_keys(d, "*8")
    return first + d.send(m.PaymentDetails("42.50", "ORDER-7"))


def to_agent(commands: list[c.Command]) -> list[str]:
    """The sounds the agent hears (whispered, or on the agent's channel)."""
    return [p.media for p in of(commands, c.Play) if p.channel_id != CALLER.id]


def test_m4_the_payment_key_mutes_the_caller_first_and_keeps_the_recording() -> None:
    """M4: the mute goes out first, from the key's event; no pause, no bridge change,
    nothing played to the caller; the masked span's row is opened with the recording."""
    d = assisted_driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    out = agent_keys(d, "*8")
    assert out[0] == c.MuteCaller(CALLER.id)
    assert kinds(out) == ["MuteCaller", "OpenMaskedSpan", "FetchPaymentDetails", "Log"]
    (span,) = of(out, c.OpenMaskedSpan)
    assert span.recording_id == d.call.rec.recording.recording_id  # type: ignore[union-attr]
    assert span.masked_by == "alice"
    out = d.send(m.PaymentDetails("42.50", "ORDER-7"))
    assert of(out, c.RemoveFromBridge) == [] and of(out, c.StartHoldMusic) == []
    assert of(out, c.PauseRecording) == [] and of(out, c.OpenPause) == []
    assert [p for p in of(out, c.Play) if p.channel_id == CALLER.id] == []
    assert to_agent(out) == ["sound:beep"]  # ok: the caller may key now
    assert of(out, c.StartTimer)[-1].seconds == ASSISTED.first_digit_timeout


def test_m4_each_key_is_a_beep_to_the_agent_and_the_card_unmutes_when_complete() -> None:
    """M4, S6: a neutral sound per key to the agent, never the caller's prompts; the card
    goes to the API as from the IVR; the caller is heard again once it is complete, and
    the span closes ``collected``; the outcome is the agent's ok sound."""
    d = assisted_driver()
    keying(d)
    out = caller_keys(d, CARD_KEYS)
    assert to_agent(out) == ["sound:tick"] * len(CARD_KEYS)
    assert [p for p in of(out, c.Play) if p.channel_id == CALLER.id] == []
    (submit,) = of(out, c.SubmitPayment)
    assert submit.request.card.number.matches(CARD.encode())
    assert submit.request.card.expiry.matches(b"1228") and submit.request.card.cvv.matches(b"737")
    assert out.index(c.UnmuteCaller(CALLER.id)) < out.index(submit)
    (closed,) = of(out, c.CloseMaskedSpan)
    assert closed.ended_by is MaskEnd.COLLECTED
    assert CARD not in repr(d.log) and "1228" not in repr(d.log)
    done = d.send(m.PaymentDone(APPROVED))
    assert of(done, c.RecordPayment)[0].payment.status == "approved"
    assert to_agent(done) == ["sound:beep"]
    assert [p for p in of(done, c.Play) if p.channel_id == CALLER.id] == []
    assert d.call.payment is None
    # The recording ran through it all.
    assert of(d.log, c.PauseRecording) == [] and of(d.log, c.StopRecording) == []


def test_m4_caller_hangs_up_mid_entry() -> None:
    """Abandoned, the span closed ``caller_gone``; no unmute sent to a channel gone."""
    d = assisted_driver()
    keying(d)
    caller_keys(d, CARD[:6])
    out = d.send(m.ChannelGone(CALLER.id, 16))
    assert of(out, c.UnmuteCaller) == []
    assert of(out, c.CloseMaskedSpan)[0].ended_by is MaskEnd.CALLER_GONE
    record = of(out, c.RecordPayment)[0].payment
    assert (record.status, record.detail) == ("abandoned", "caller hung up")
    assert of(out, c.SubmitPayment) == []


def test_m4_agent_hangs_up_mid_entry_the_caller_is_unmuted_and_the_call_ends() -> None:
    d = assisted_driver()
    keying(d)
    caller_keys(d, CARD[:6])
    out = d.send(m.ChannelGone(AGENT_CHANNEL.id, 16))
    assert out.index(c.UnmuteCaller(CALLER.id)) < out.index(of(out, c.Hangup)[0])
    assert of(out, c.CloseMaskedSpan)[0].ended_by is MaskEnd.AGENT_GONE
    record = of(out, c.RecordPayment)[0].payment
    assert (record.status, record.detail) == ("abandoned", "agent hung up")
    assert of(out, c.Hangup)[0].channel_id == CALLER.id


def test_m4_no_key_in_time_gives_up_and_unmutes() -> None:
    """The entry timer with nothing typed: the refused sound to the agent (never a
    prompt to the caller), then, after the last attempt, the caller is heard again."""
    d = assisted_driver()
    keying(d)
    for _ in range(ASSISTED.max_entry_attempts - 1):
        out = d.send(m.TimerFired("payment-entry"))
        assert to_agent(out) == ["sound:beeperr"] and of(out, c.UnmuteCaller) == []
    out = d.send(m.TimerFired("payment-entry"))
    assert out[0] == c.UnmuteCaller(CALLER.id)
    assert of(out, c.CloseMaskedSpan)[0].ended_by is MaskEnd.GAVE_UP
    assert of(out, c.RecordPayment)[0].payment.status == "no_entry"
    assert to_agent(out) == ["sound:beeperr"]
    assert d.call.payment is None


def test_m4_payment_api_down_is_unavailable_and_the_agent_hears_refused() -> None:
    d = assisted_driver()
    keying(d)
    caller_keys(d, CARD_KEYS)
    down = ChargeResult("unavailable", "", 2, "connection failed (ClientConnectorError)", 5.0)
    out = d.send(m.PaymentDone(down))
    assert of(out, c.RecordPayment)[0].payment.status == "unavailable"
    assert to_agent(out) == ["sound:beeperr"]
    assert of(out, c.UnmuteCaller) == []  # heard again already, since the card was in
    assert d.call.payment is None


def test_m4_no_amount_unmutes_and_refuses() -> None:
    d = assisted_driver()
    d.connect()
    agent_keys(d, "*8")
    out = d.send(m.PaymentDetails("", "ORDER-7"))
    assert out[0] == c.UnmuteCaller(CALLER.id)
    assert of(out, c.CloseMaskedSpan)[0].ended_by is MaskEnd.REFUSED
    assert to_agent(out) == ["sound:beeperr"]
    assert d.call.payment is None


def test_m4_progress_shows_bullets_then_only_the_last_four() -> None:
    """PCI DSS 3.4.1: while the number is typed, bullets only (its last four are not
    yet those of the card); once complete, the last four; never expiry or code digits.
    The live board carries it."""
    d = assisted_driver()
    keying(d)
    board = LiveBoard()
    leg = d.call.payment
    assert isinstance(leg, AssistedPaymentLeg)
    seen: list[str | None] = []
    for key in CARD_KEYS[:-1]:
        caller_keys(d, key)
        seen.append(leg.progress)
        board.observe(d.call, d.now)
    assert seen[3] == "card number: ••••"
    assert seen[15] == "card number: " + "•" * 16
    assert seen[16] == "card •••• 9855, expiry: "
    assert seen[18] == "card •••• 9855, expiry: ••"
    assert seen[-1] == "card •••• 9855, security code: •••"
    (line,) = board.snapshot()
    assert line.as_json()["payment_progress"] == "card •••• 9855, security code: •••"
    typed = "".join(s or "" for s in seen)
    assert "4556" not in typed and "1228" not in typed and "737" not in typed


def test_m4_progress_is_empty_without_an_entry() -> None:
    assert masked_progress(None, "") == ""


@pytest.mark.parametrize("mode", ["ivr", "assisted"])
def test_m1_m4_the_caller_keys_are_card_data_never_an_objection(mode: str) -> None:
    """The caller's 9 during the entry is a card digit in either mode, not the opt-out."""
    d = assisted_driver()
    if mode == "ivr":
        settings = dataclasses.replace(SETTINGS, payment=PAYMENT)
        d = Driver(service=make_service(sampling_rate=0.999, payments=True), settings=settings)
    keying(d)
    caller_keys(d, "9")
    assert of(d.log, c.AddConsent) == [] and of(d.log, c.CancelRecording) == []


def test_m4_leg_needs_no_prompt_to_finish() -> None:
    """The dialogue's timer is the digit timeout straight after each field: nobody waits
    for a prompt the caller never hears."""
    leg = AssistedPaymentLeg(
        to_agent=lambda sound: c.Play("agent", f"sound:{sound}", "fb"),
        refused_sound="no",
        recording_id=None,
        masked_by="alice",
        call_id="c1",
        caller_id="caller",
        language="fr",
        settings=ASSISTED,
        started_at=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC),
        rng=random.Random(1),
        playback_id=lambda: "p1",
        log_prefix="call c1",
    )
    assert leg.accept("10.00", "O-1")
    out = leg.enter_ivr(leg.started_at, leg.started_at.date())
    assert out == [c.StartTimer("payment-entry", ASSISTED.first_digit_timeout)]
    out = []
    for key in CARD + "#":
        out += leg.key(key, leg.started_at)
    assert of(out, c.StartTimer)[-1].seconds == ASSISTED.first_digit_timeout


# -- the configuration -----------------------------------------------------------------
@pytest.fixture
def load(tmp_path: Path) -> Loader:
    def _load(data: Any, env: dict[str, str] | None = None) -> Config:
        path = tmp_path / "reccontrol.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_config(path, environ=ENV if env is None else env)

    return _load


def test_m4_payment_mode_defaults_to_the_ivr_and_takes_assisted(load: Loader) -> None:
    data = mutate(lambda d: d.update(payment=payment_section()))
    payment = load(data).payment
    assert payment is not None and (payment.mode, payment.digit_sound) == ("ivr", "beep")
    data = mutate(lambda d: d.update(payment=payment_section(mode="assisted", digit_sound="tick")))
    payment = load(data).payment
    assert payment is not None and (payment.mode, payment.digit_sound) == ("assisted", "tick")


def test_m4_a_bad_payment_mode_names_its_key(load: Loader) -> None:
    data = mutate(lambda d: d.update(payment=payment_section(mode="agent", digit_sound="a b")))
    problems = problems_of(load, data)
    assert problems[0] == "payment.mode: must be one of ivr, assisted; got 'agent'"
    assert problems[1].startswith("payment.digit_sound: ")
    assert len(problems) == 2


# -- the store ---------------------------------------------------------------------------
def test_m4_masked_spans_are_stored_without_card_data_and_a_restart_closes_them() -> None:
    """The span opens and closes; a restart closes a span left open with the alert, and
    a call with none left open gets no alert."""
    store = SqliteStore.open(":memory:")
    at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    for call_id in ("c1", "c2"):
        store.begin_call(CallStart(call_id, "sales", "inbound", at, None), "v1")
    store.open_masked_span("s1", "c1", None, "p1", "alice", at)
    store.close_masked_span("s1", MaskEnd.COLLECTED, at + dt.timedelta(seconds=9))
    store.open_masked_span("s2", "c1", None, "p2", "alice", at + dt.timedelta(seconds=20))
    assert store.close_masked_spans("c1", "restarted", at + dt.timedelta(seconds=30)) == 1
    assert store.close_masked_spans("c2", "restarted", at + dt.timedelta(seconds=30)) == 0
    spans = store.call_summary("c1")["masked_spans"]  # type: ignore[index]
    assert [(s["id"], s["ended_by"]) for s in spans] == [("s1", "collected"), ("s2", "restart")]
    alerts = store.call_summary("c1")["alerts"]  # type: ignore[index]
    assert [(a["kind"], a["message"]) for a in alerts] == [("payment_interrupted", "restarted")]
    assert store.call_summary("c2")["alerts"] == []  # type: ignore[index]


# -- a restart ---------------------------------------------------------------------------
@pytest.mark.parametrize("agent_here", [True, False], ids=["bridged", "agent-gone"])
def test_r1_m4_an_adopted_call_of_an_assisted_service_unmutes_the_caller(agent_here: bool) -> None:
    """The old process may have died with the caller muted mid-entry: the adoption
    unmutes the caller (even for a call about to end, its agent gone) and closes any
    span left open, with the interrupted-payment alert the store adds if there was one."""
    settings = dataclasses.replace(SETTINGS, payment=ASSISTED)
    directory = Directory(services={"sales": make_service(payments=True)})
    channels = (CALLER, AGENT_CHANNEL) if agent_here else (CALLER,)
    result = plan_call(
        open_call(recording=recording_row("agent_key")),
        view(channels=channels),
        config=directory,
        settings=settings,
        rng=random.Random(1),
        now=NOW,
    )
    assert isinstance(result, Adopted)
    unmute = result.commands.index(c.UnmuteCaller(CALLER.id))
    assert unmute < result.commands.index(of(result.commands, c.CloseMaskedSpans)[0])
    assert of(result.commands, c.CloseMaskedSpans)[0].call_id == CALL
    # In the IVR mode nothing of the kind.
    ivr = plan_call(
        open_call(recording=recording_row("agent_key")),
        view(channels=channels),
        config=directory,
        settings=dataclasses.replace(SETTINGS, payment=PAYMENT),
        rng=random.Random(1),
        now=NOW,
    )
    assert isinstance(ivr, Adopted) and of(ivr.commands, c.UnmuteCaller) == []


def test_m4_a_service_may_take_the_other_payment_mode(load: Loader) -> None:
    """``services.<name>.payment_mode`` overrides ``payment.mode`` for that service; a
    bad value names its key; the call follows the service's mode."""
    data = mutate(lambda d: d.update(payment=payment_section()))
    data["services"]["sales"] |= {"payments": True, "payment_mode": "assisted"}
    config = load(data)
    assert config.payment is not None and config.payment.mode == "ivr"
    assert config.services["sales"].payment_mode == "assisted"
    data["services"]["sales"]["payment_mode"] = "IVR"
    assert problems_of(load, data) == [
        "services.sales.payment_mode: must be one of ivr, assisted; got 'IVR'"
    ]
    settings = dataclasses.replace(SETTINGS, payment=PAYMENT)  # the site: ivr
    service = make_service(sampling_rate=0.999, payments=True, payment_mode="assisted")
    d = Driver(service=service, settings=settings)
    assert keying(d)[0] == c.MuteCaller(CALLER.id)


def test_m4_a_payment_asked_through_the_api_is_assisted_too() -> None:
    """``POST /api/payments`` (a CRM) on an assisted service: the caller is muted first,
    stays bridged, and the entry starts at once with the amount the request carried."""
    d = assisted_driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    out = d.send(m.PaymentRequested("42.50", "ORDER-7"))
    assert out[0] == c.MuteCaller(CALLER.id)
    assert of(out, c.FetchPaymentDetails) == [] and of(out, c.RemoveFromBridge) == []
    assert to_agent(out) == ["sound:beep"]
    assert isinstance(d.call.payment, AssistedPaymentLeg) and d.call.payment.masked
