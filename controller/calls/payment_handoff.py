"""The payment hand-off (M1) of a bridged call, pure: the caller to the secure payment
IVR (:class:`~controller.calls.payment.PaymentLeg`) with the recording paused and hold
music for the agent, the outcome to both, and the caller back with the agent, only then
the recording resumed. Part of the agent's side of the call,
:class:`~controller.calls.conversation.Conversation`, whose state it shares.
"""

from __future__ import annotations

import datetime as dt
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.assisted_payment import AssistedPaymentLeg
from controller.calls.call_settings import CallSettings
from controller.calls.ids import ivr_playback
from controller.calls.masking_commands import MaskEnd
from controller.calls.payment import PaymentLeg, Stage
from controller.calls.recording import RecordingControl
from controller.config.service_model import Service, payment_mode
from controller.payments.charge import APPROVED, ChargeResult


class PaymentHandOff(ABC):
    # What it shares with the conversation, which sets it up.
    call_id: str
    service: Service
    settings: CallSettings
    caller_id: str
    bridge_id: str
    rec: RecordingControl
    rng: random.Random
    _log_prefix: str
    payment: PaymentLeg | None
    hold_music: bool
    _ivr_playbacks: Iterator[int]

    @abstractmethod
    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log: ...

    @abstractmethod
    def _paused_by(self) -> str: ...

    @abstractmethod
    def feedback(self, ok: bool) -> c.Play: ...

    @abstractmethod
    def to_agent(self, sound: str) -> c.Play: ...

    @abstractmethod
    def resume(self, by: c.PauseEnd, feedback: bool = True) -> list[c.Command]: ...

    def payment_refusal(self, *, caller_with_agent: bool) -> str | None:
        """Why the caller cannot go to the payment IVR now, or None."""
        if self.settings.payment is None or not self.service.payments:
            return "payments are not enabled for this service"
        if not caller_with_agent:
            return "the caller is not talking with an agent"
        if self.payment is not None:
            return "a payment is already in progress"
        return None

    def start_payment(
        self, now: dt.datetime, refusal: str | None, fetch: bool = True
    ) -> list[c.Command]:
        settings = self.settings.payment
        if refusal is not None or settings is None:
            return [self.feedback(False), self._log(f"payment refused: {refusal}")]
        leg: dict[str, Any] = {
            "call_id": self.call_id,
            "caller_id": self.caller_id,
            "language": self.service.language,
            "settings": settings,
            "started_at": now,
            "rng": self.rng,
            "playback_id": lambda: ivr_playback(self.call_id, next(self._ivr_playbacks)),
            "log_prefix": self._log_prefix,
        }
        if payment_mode(settings, self.service) == "assisted":
            return self._start_assisted(leg, fetch)
        # First, before the caller hears anything: the recording pauses.
        commands = self.rec.pause_for_payment(self._paused_by(), now)
        self.payment = PaymentLeg(**leg)
        if fetch:
            commands += [
                c.FetchPaymentDetails(self.caller_id),
                self._log("payment requested: recording paused, reading the amount"),
            ]
        else:
            commands.append(self._log("payment requested through the API: recording paused"))
        return commands

    def _start_assisted(self, leg: dict[str, Any], fetch: bool) -> list[c.Command]:
        """M4: the caller stays with the agent, muted towards the call, first."""
        rec = self.rec.recording
        assisted = self.payment = AssistedPaymentLeg(
            to_agent=self.to_agent,
            refused_sound=self.settings.agent_keys.refused_sound,
            recording_id=rec.recording_id if rec is not None and rec.live else None,
            masked_by=self._paused_by(),
            **leg,
        )
        commands = assisted.mask()
        if fetch:
            commands.append(c.FetchPaymentDetails(self.caller_id))
        commands.append(self._log("assisted payment requested: the caller's keys are masked"))
        return commands

    def payment_details(self, amount: str, order: str, now: dt.datetime) -> list[c.Command]:
        leg = self.payment
        if leg is None or leg.stage is not Stage.FETCHING:
            return []
        if isinstance(leg, AssistedPaymentLeg):
            return self._assisted_details(leg, amount, order, now)
        if not leg.accept(amount, order):
            self.payment = None
            return [
                *self.resume(c.PauseEnd.PAYMENT, feedback=False),
                self.feedback(False),
                self._log(
                    "payment refused: the call carries no valid amount (RECCONTROL_PAYMENT_AMOUNT"
                    ") or order reference (RECCONTROL_PAYMENT_ORDER)",
                    c.Level.WARNING,
                ),
            ]
        today = now.astimezone(self.settings.timezone).date()
        self.hold_music = True
        return [
            # The caller leaves the agent; the agent hears hold music, not the digits.
            c.RemoveFromBridge(self.bridge_id, self.caller_id),
            c.StartHoldMusic(self.bridge_id, leg.settings.hold_music_class),
            *leg.enter_ivr(now, today),
            self._log(f"caller in the payment IVR ({leg.amount} {leg.settings.currency})"),
        ]

    def _assisted_details(
        self, leg: AssistedPaymentLeg, amount: str, order: str, now: dt.datetime
    ) -> list[c.Command]:
        if not leg.accept(amount, order):
            self.payment = None
            return [
                *leg.unmask(MaskEnd.REFUSED),
                self.feedback(False),
                self._log(
                    "assisted payment refused: the call carries no valid amount or order "
                    "reference",
                    c.Level.WARNING,
                ),
            ]
        today = now.astimezone(self.settings.timezone).date()
        return [
            # The agent hears ok: the caller may key the card now.
            self.feedback(True),
            *leg.enter_ivr(now, today),
            self._log(f"caller keys a card, with the agent ({leg.amount} {leg.settings.currency})"),
        ]

    def on_payment(
        self, message: m.Message, now: dt.datetime, refusal: Callable[[], str | None]
    ) -> list[c.Command]:
        """The payment's details, an API's request for it (``refusal`` says whether the
        call may go to the IVR now), or its outcome."""
        match message:
            case m.PaymentDetails(amount=amount, order_reference=order):
                return self.payment_details(amount, order, now)
            case m.PaymentRequested(amount=amount, order_reference=order):
                if refusal() is not None:
                    return []
                started = self.start_payment(now, None, fetch=False)
                return started + self.payment_details(amount, order, now)
            case m.PaymentDone(result=result):
                return self.payment_done(result, now)
        return []

    def unanswered_payment(self, now: dt.datetime) -> list[c.Command]:
        """The call is over and a payment sent got no answer: its outcome is unknown."""
        leg = self.payment
        if leg is None or leg.stage is not Stage.SUBMITTING:
            return []
        return leg.conclude("unknown", "", 0, "no answer before the end", now)

    def payment_done(self, result: ChargeResult, now: dt.datetime) -> list[c.Command]:
        return self.payment.charged(result, now) if self.payment is not None else []

    def announce_outcome(self, *, caller_gone: bool, agent_gone: bool) -> list[c.Command]:
        """Once the payment's outcome is known, the caller hears it and the agent gets a
        beep. A caller already gone ends the payment here."""
        leg = self.payment
        if leg is None or leg.stage is not Stage.RESULT or leg.result_id:
            return []
        if caller_gone:
            self.payment = None
            return []
        if leg.with_agent:
            # M4: the agent, who is with the caller, hears the outcome and says it.
            self.payment = None
            return [] if agent_gone else [self.feedback(leg.status == APPROVED)]
        commands: list[c.Command] = [leg.announce_result()]
        if not agent_gone:
            commands.append(self.feedback(leg.status == APPROVED))
        return commands

    def back_with_agent(self) -> list[c.Command]:
        """The caller heard the outcome and goes back to the agent."""
        self.payment = None
        return [
            *self.stop_hold_music(),
            c.AddToBridge(self.bridge_id, self.caller_id),
            # Only once the caller is back with the agent does the recording resume (M1).
            *self.resume(c.PauseEnd.PAYMENT, feedback=False),
            self._log("caller back with the agent"),
        ]

    def abandon_payment(self, now: dt.datetime, who: str = "caller") -> list[c.Command]:
        """The caller (or, with the caller still bridged, M4, the agent) hung up during
        the payment."""
        leg = self.payment
        if leg is None:
            return []
        commands = leg.abandon(now, who)
        # A payment already sent stays, to store the API's answer when it comes.
        self.payment = leg if leg.stage is Stage.SUBMITTING else None
        return commands

    def stop_hold_music(self) -> list[c.Command]:
        if not self.hold_music:
            return []
        self.hold_music = False
        return [c.StopHoldMusic(self.bridge_id)]
