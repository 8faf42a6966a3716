"""One pass of the caller through the secure payment IVR (M1), as a pure state machine.

The call hands the caller over (paused recording, caller out of the bridge, hold music
for the agent); the leg reads the amount, runs the :class:`~controller.payments.ivr.PaymentIvr`
dialogue, sends the card data and records the answer. Getting the caller back to the
agent, and what a hang-up means, stay with the call.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum

from controller.calls import commands as c
from controller.calls.ids import new_id
from controller.config.service_model import PaymentSettings
from controller.logs import contains_pan
from controller.payments import ivr as i
from controller.payments.amount import AmountRefused, checked_amount
from controller.payments.charge import APPROVED, DECLINED, UNKNOWN, ChargeRequest, ChargeResult
from controller.records import PaymentRecord

IVR_TIMER = "payment-entry"
ORDER_REFERENCE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Stage(StrEnum):
    FETCHING = "fetching"
    """Reading the amount and order reference."""
    IVR = "ivr"
    """The caller types the card data."""
    SUBMITTING = "submitting"
    """Card data sent; waiting for the payment API."""
    RESULT = "result"
    """The answer is stored; the caller hears it, then goes back to the agent."""


class PaymentLeg:
    with_agent = False
    """Whether the caller stays bridged with the agent while keying (M4), or leaves
    for the IVR (M1)."""

    def __init__(
        self,
        *,
        call_id: str,
        caller_id: str,
        language: str,
        settings: PaymentSettings,
        started_at: dt.datetime,
        rng: random.Random,
        playback_id: Callable[[], str],
        log_prefix: str,
    ) -> None:
        self.call_id = call_id
        self.caller_id = caller_id
        self.language = language
        self.settings = settings
        self.started_at = started_at
        self.rng = rng
        self._playback_id = playback_id
        self._log_prefix = log_prefix
        self.payment_id = new_id(rng)
        self.stage = Stage.FETCHING
        self.amount = Decimal(0)
        self.order_reference = ""
        self.ivr: i.PaymentIvr | None = None
        self.prompt_id = ""
        self.result_id = ""
        self.status: str | None = None
        """Set once the outcome is known: ``approved``, ``declined``, ``abandoned``..."""

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    @property
    def progress(self) -> str | None:
        """What the console shows of the entry, masked; None in the IVR."""
        return None

    @property
    def grace_seconds(self) -> float:
        """How long the payment API may take, retries included."""
        return self.settings.timeout * self.settings.max_attempts + 2 * self.settings.max_attempts

    # -- details and the dialogue ----------------------------------------------------
    def accept(self, amount: str, order: str) -> bool:
        """Takes the amount and order reference, if they are valid."""
        try:
            value = checked_amount(amount, self.settings.max_amount)
        except AmountRefused:
            return False
        if (
            not ORDER_REFERENCE.fullmatch(order)
            # Stored with the outcome: never a card number (PCI DSS 3.4).
            or contains_pan(order)
        ):
            return False
        self.amount, self.order_reference = value, order
        return True

    def enter_ivr(self, now: dt.datetime, today: dt.date) -> list[c.Command]:
        settings = self.settings
        self.stage = Stage.IVR
        self.ivr = i.PaymentIvr(
            i.IvrSettings(
                prompt_number=settings.prompts.number,
                prompt_expiry=settings.prompts.expiry,
                prompt_cvv=settings.prompts.cvv,
                prompt_invalid=settings.prompts.invalid,
                first_digit_timeout=settings.first_digit_timeout,
                digit_timeout=settings.digit_timeout,
                max_attempts=settings.max_entry_attempts,
            ),
            today,
        )
        return self._actions(self.ivr.start(), now)

    def key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        if self.ivr is None or self.stage is not Stage.IVR:
            return []
        return self._actions(self.ivr.digit(digit), now)

    def prompt_finished(self, playback_id: str, now: dt.datetime) -> list[c.Command]:
        if playback_id != self.prompt_id or self.ivr is None or self.stage is not Stage.IVR:
            return []
        return self._actions(self.ivr.prompt_finished(), now)

    def timed_out(self, now: dt.datetime) -> list[c.Command]:
        if self.stage is Stage.SUBMITTING:
            # The card may have been charged: ``unknown``, for someone to check with
            # the provider by the order reference. The caller hears it failed.
            why = f"no answer from the payment API within {self.grace_seconds:g} s"
            return self.conclude(UNKNOWN, "", 0, why, now)
        if self.ivr is None or self.stage is not Stage.IVR:
            return []
        return self._actions(self.ivr.timed_out(), now)

    def _actions(self, actions: list[i.Action], now: dt.datetime) -> list[c.Command]:
        commands: list[c.Command] = []
        for action in actions:
            match action:
                case i.Prompt(sounds=sounds):
                    self.prompt_id = self._playback_id()
                    commands.append(self._play(sounds, self.prompt_id))
                case i.StopPrompt():
                    commands.append(c.StopPlayback(self.prompt_id))
                case i.Wait(seconds=seconds):
                    commands.append(c.StartTimer(IVR_TIMER, seconds))
                case i.Collected(card=card):
                    self.stage = Stage.SUBMITTING
                    commands += [
                        # The entry timer becomes the answer's: an API that never
                        # answers must not keep the caller in the IVR.
                        c.StartTimer(IVR_TIMER, self.grace_seconds),
                        c.SubmitPayment(
                            ChargeRequest(
                                amount=self.amount,
                                currency=self.settings.currency,
                                order_reference=self.order_reference,
                                idempotency_key=new_id(self.rng),
                                card=card,
                            )
                        ),
                        self._log("card data collected and checked; sending to the payment API"),
                    ]
                case i.GaveUp(reason=reason):
                    commands.append(c.CancelTimer(IVR_TIMER))
                    # The call sees ``status`` set and tells the caller.
                    commands += self.conclude(reason, "", 0, "caller entry", now)
        return commands

    def _play(self, sounds: tuple[str, ...], playback_id: str) -> c.Play:
        media = ",".join(f"sound:{sound}" for sound in sounds)
        return c.Play(self.caller_id, media, playback_id, self.language)

    # -- outcome ---------------------------------------------------------------------
    def charged(self, result: ChargeResult, now: dt.datetime) -> list[c.Command]:
        if self.stage is not Stage.SUBMITTING:
            return []
        return self.conclude(result.status, result.reference, result.attempts, result.detail, now)

    def conclude(
        self, status: str, reference: str, attempts: int, detail: str, now: dt.datetime
    ) -> list[c.Command]:
        """Stores the outcome (never card data)."""
        self.stage = Stage.RESULT
        self.status = status
        record = PaymentRecord(
            payment_id=self.payment_id,
            call_id=self.call_id,
            started_at=self.started_at,
            ended_at=now,
            amount=f"{self.amount:.2f}",
            currency=self.settings.currency,
            order_reference=self.order_reference,
            status=status,
            provider_reference=reference,
            attempts=attempts,
            detail=detail,
        )
        return [c.RecordPayment(record), self._log(f"payment {status} ({detail})")]

    def announce_result(self) -> c.Play:
        """The outcome, to the caller."""
        prompts = self.settings.prompts
        sound = {APPROVED: prompts.approved, DECLINED: prompts.declined}.get(
            self.status or "", prompts.unavailable
        )
        self.result_id = self._playback_id()
        return self._play((sound,), self.result_id)

    def is_result(self, playback_id: str) -> bool:
        return playback_id == self.result_id and self.stage is Stage.RESULT

    def abandon(self, now: dt.datetime, who: str = "caller") -> list[c.Command]:
        """``who`` (the caller) hung up: wipe what was typed; a payment not yet sent is
        recorded as abandoned."""
        commands: list[c.Command] = [c.CancelTimer(IVR_TIMER)]
        if self.ivr is not None:
            self.ivr.abandon()
        if self.stage in (Stage.FETCHING, Stage.IVR):
            commands += self.conclude("abandoned", "", 0, f"{who} hung up", now)
        return commands
