"""One pass through the secure payment IVR, on its own: amount checks, the card
dialogue, the payment API's answer and a caller who leaves (M1)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import pytest

from controller.calls import commands as c
from controller.calls.payment import IVR_TIMER, PaymentLeg, Stage
from controller.config.service_model import PaymentPrompts, PaymentSettings
from controller.payments.charge import ChargeResult

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
PROMPTS = PaymentPrompts("p-num", "p-exp", "p-cvv", "p-bad", "p-ok", "p-no", "p-down")
SETTINGS = PaymentSettings("https://pay.example/v1", PROMPTS, currency="EUR")
CARD_KEYS = "4556737586899855#" + "1228" + "737#"


def leg() -> PaymentLeg:
    ids = itertools.count(1)
    return PaymentLeg(
        call_id="c0ffee",
        caller_id="caller-1",
        language="fr",
        settings=SETTINGS,
        started_at=NOW,
        rng=random.Random(5),
        playback_id=lambda: f"rc-c0ffee-i{next(ids)}",
        log_prefix="call c0ffee (sales)",
    )


def in_ivr() -> tuple[PaymentLeg, list[c.Command]]:
    payment = leg()
    assert payment.accept("42.50", "ORDER-7")
    return payment, payment.enter_ivr(NOW, NOW.date())


def typed(payment: PaymentLeg, keys: str) -> list[c.Command]:
    out: list[c.Command] = []
    for key in keys:
        out += payment.key(key, NOW)
    return out


def of(commands: list[c.Command], kind: type[c.Command]) -> list[c.Command]:
    return [cmd for cmd in commands if isinstance(cmd, kind)]


@pytest.mark.parametrize(
    ("amount", "order"),
    [("", "ORDER-7"), ("0", "ORDER-7"), ("12.345", "ORDER-7"), ("99999", "A"), ("5", "bad ref")],
)
def test_invalid_amount_or_order_is_refused_M1(amount: str, order: str) -> None:
    payment = leg()
    assert not payment.accept(amount, order)
    assert payment.stage is Stage.FETCHING


def test_entering_the_ivr_prompts_the_caller_only_M1() -> None:
    payment, out = in_ivr()
    assert payment.stage is Stage.IVR and payment.amount == Decimal("42.50")
    assert out == [
        c.Play("caller-1", "sound:p-num", "rc-c0ffee-i1", "fr"),
        c.StartTimer(IVR_TIMER, 60.0),
    ]


def test_card_data_is_submitted_once_and_never_shown_M1() -> None:
    payment, _ = in_ivr()
    out = typed(payment, CARD_KEYS)
    (submit,) = of(out, c.SubmitPayment)
    assert isinstance(submit, c.SubmitPayment)
    assert submit.request.amount == Decimal("42.50") and submit.request.currency == "EUR"
    assert "4556" not in repr(out) and "737" not in repr(submit)
    assert payment.stage is Stage.SUBMITTING
    # Keys after the card is sent do nothing.
    assert typed(payment, "1") == []


def test_the_api_answer_is_stored_then_announced() -> None:
    payment, _ = in_ivr()
    typed(payment, CARD_KEYS)
    out = payment.charged(ChargeResult("approved", "PAY-1", 1, "HTTP 200", 80.0), NOW)
    record = of(out, c.RecordPayment)[0]
    assert isinstance(record, c.RecordPayment)
    assert (record.payment.status, record.payment.amount) == ("approved", "42.50")
    assert payment.stage is Stage.RESULT and payment.status == "approved"
    play = payment.announce_result()
    assert play.media == "sound:p-ok" and payment.is_result(play.playback_id)
    # A second answer (a late retry) changes nothing.
    assert payment.charged(ChargeResult("declined", "", 1, "HTTP 402", 1.0), NOW) == []


@pytest.mark.parametrize(
    ("status", "sound"),
    [("declined", "sound:p-no"), ("unavailable", "sound:p-down"), ("rejected", "sound:p-down")],
)
def test_each_outcome_has_its_prompt(status: str, sound: str) -> None:
    payment, _ = in_ivr()
    typed(payment, CARD_KEYS)
    payment.charged(ChargeResult(status, "", 1, "x", 1.0), NOW)
    assert payment.announce_result().media == sound


def test_caller_who_gives_up_concludes_the_payment() -> None:
    payment, _ = in_ivr()
    out: list[c.Command] = []
    for _ in range(SETTINGS.max_entry_attempts):
        out += payment.timed_out(NOW)
    assert payment.stage is Stage.RESULT and payment.status == "no_entry"
    assert of(out, c.SubmitPayment) == []


def test_caller_who_hangs_up_before_sending_is_recorded_as_abandoned() -> None:
    payment, _ = in_ivr()
    typed(payment, "4556")
    out = payment.abandon(NOW)
    assert out[0] == c.CancelTimer(IVR_TIMER)
    record = of(out, c.RecordPayment)[0]
    assert isinstance(record, c.RecordPayment) and record.payment.status == "abandoned"
    assert payment.ivr is not None and len(payment.ivr.card.number) == 0


def test_a_payment_already_sent_waits_for_its_answer() -> None:
    payment, _ = in_ivr()
    typed(payment, CARD_KEYS)
    assert payment.abandon(NOW) == [c.CancelTimer(IVR_TIMER)]
    assert payment.stage is Stage.SUBMITTING
    assert payment.grace_seconds == SETTINGS.timeout * 2 + 4


def test_prompt_end_starts_the_entry_timer_only_for_the_current_prompt() -> None:
    payment, _ = in_ivr()
    assert payment.prompt_finished("rc-c0ffee-i9", NOW) == []
    assert payment.prompt_finished(payment.prompt_id, NOW) == [
        c.StartTimer(IVR_TIMER, SETTINGS.first_digit_timeout)
    ]


def test_m1_r2_an_api_that_never_answers_ends_the_payment_as_unknown() -> None:
    """M1, R2: once the card was sent nothing timed the wait, so a payment API that
    never answered kept the caller in the IVR for good. Sending starts a timer of
    ``grace_seconds`` (the API's timeout for every attempt, with the retries' pauses);
    when it fires the outcome is stored as ``unknown`` (the card may have been charged)
    and the caller hears the failure prompt; a late answer changes nothing."""
    payment, _ = in_ivr()
    out = typed(payment, CARD_KEYS)
    assert c.StartTimer(IVR_TIMER, payment.grace_seconds) in out
    assert c.CancelTimer(IVR_TIMER) not in out
    fired = payment.timed_out(NOW)
    (record,) = of(fired, c.RecordPayment)
    assert isinstance(record, c.RecordPayment)
    assert record.payment.status == "unknown"
    grace = SETTINGS.timeout * 2 + 4
    assert record.payment.detail == f"no answer from the payment API within {grace:g} s"
    assert payment.stage is Stage.RESULT
    assert payment.announce_result().media == "sound:p-down"
    assert payment.charged(ChargeResult("approved", "PAY-1", 1, "HTTP 200", 1.0), NOW) == []
    assert payment.timed_out(NOW) == []
