"""An agent-assisted payment (M4), pure: the caller keys the card with the agent still on
the line, as the commercial "agent assist" products do.

The dialogue and its checks are the secure IVR's (:class:`~controller.payments.ivr.PaymentIvr`,
through :class:`~controller.calls.payment.PaymentLeg`), and the card goes to the payment
API exactly as from the IVR. What differs:

* the caller stays in the bridge, muted towards it while keying
  (:mod:`~controller.calls.masking_commands`): the agent and the recording hear neither
  the digits nor their tones, the agent's voice flows on and the file is not paused;
  the stretch is stored as a masked span;
* nothing is played to the caller: the agent asks for each field. The agent hears a
  neutral sound per key (``payment.digit_sound``, whispered, A10), the refused sound for
  an entry refused, and the ok or refused sound for the outcome; the console's live view
  shows the progress masked (:func:`masked_progress`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from controller.calls import commands as c
from controller.calls.masking_commands import MaskEnd
from controller.calls.payment import PaymentLeg, Stage
from controller.payments import ivr as i
from controller.payments.card import ASCII_DIGITS, SensitiveDigits

MASK = "\u2022"  # •
PAN_SHOWN = 4
"""PCI DSS 3.4.1: at most the last four digits of a card number are shown, and only
once the number is complete (while it is typed, its last four are not yet those)."""


def last_four(number: SensitiveDigits) -> str:
    """The last four digits of a complete card number, for display."""
    count = len(number)
    return "".join(str(number.digit_at(k)) for k in range(max(count - PAN_SHOWN, 0), count))


def masked_progress(ivr: i.PaymentIvr | None, shown: str) -> str:
    """What the agent's console shows of the entry: bullets for what is typed, and
    ``shown`` (the last four of the number, once complete). Never a digit typed in the
    field under way, never the expiry or the security code."""
    if ivr is None:
        return ""
    number = f"{MASK * 4} {shown}" if shown else MASK * len(ivr.card.number)
    if ivr.done:
        return f"card {number}: sent" if shown else ""
    match ivr.field:
        case i.Field.NUMBER:
            return f"card number: {number}"
        case i.Field.EXPIRY:
            return f"card {number}, expiry: {MASK * len(ivr.card.expiry)}"
    return f"card {number}, security code: {MASK * len(ivr.card.cvv)}"


class AssistedPaymentLeg(PaymentLeg):
    with_agent = True

    def __init__(
        self,
        *,
        to_agent: Callable[[str], c.Play],
        refused_sound: str,
        recording_id: str | None,
        masked_by: str,
        **leg: Any,
    ) -> None:
        super().__init__(**leg)
        self._to_agent = to_agent
        """A sound whispered to the agent alone (A10)."""
        self._refused_sound = refused_sound
        self.recording_id = recording_id
        self.masked_by = masked_by
        self.span_id = f"{self.payment_id}-mask"
        self.masked = False
        self.shown = ""
        """The last four digits of the number once it is complete and checked."""

    # -- the caller's voice ----------------------------------------------------------
    def mask(self) -> list[c.Command]:
        """The mute first, from the key's event handler: the caller may key at once."""
        self.masked = True
        return [
            c.MuteCaller(self.caller_id),
            c.OpenMaskedSpan(
                self.span_id, self.call_id, self.recording_id, self.payment_id, self.masked_by
            ),
        ]

    def unmask(self, ended_by: MaskEnd, *, caller_here: bool = True) -> list[c.Command]:
        if not self.masked:
            return []
        self.masked = False
        unmute: list[c.Command] = [c.UnmuteCaller(self.caller_id)] if caller_here else []
        return [*unmute, c.CloseMaskedSpan(self.span_id, ended_by)]

    # -- the dialogue ----------------------------------------------------------------
    @property
    def progress(self) -> str | None:
        return masked_progress(self.ivr, self.shown) or None

    def key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        ivr = self.ivr
        if ivr is None or self.stage is not Stage.IVR:
            return []
        number_done = ivr.field_index > 0
        commands = super().key(digit, now)
        if not number_done and ivr.field_index > 0:
            self.shown = last_four(ivr.card.number)
        if digit in ASCII_DIGITS or digit in "*#":
            # The agent hears that a key was pressed, never which.
            commands.insert(0, self._to_agent(self.settings.digit_sound))
        return commands

    def _actions(self, actions: list[i.Action], now: dt.datetime) -> list[c.Command]:
        """The IVR's actions without its prompts: the agent asks for each field, so the
        entry timer starts at once, and an entry refused is the refused sound."""
        prompts = [a for a in actions if isinstance(a, i.Prompt)]
        dropped = (i.Prompt, i.StopPrompt, i.Wait) if prompts else (i.Prompt, i.StopPrompt)
        kept = [a for a in actions if not isinstance(a, dropped)]
        commands: list[c.Command] = []
        if any(self.settings.prompts.invalid in p.sounds for p in prompts):
            commands.append(self._to_agent(self._refused_sound))
        commands += super()._actions(kept, now)
        ivr = self.ivr
        if prompts and ivr is not None and not ivr.done:
            commands += super()._actions(ivr.prompt_finished(), now)
        if self.stage is Stage.SUBMITTING:
            commands = self.unmask(MaskEnd.COLLECTED) + commands
        elif self.stage is Stage.RESULT:
            commands = self.unmask(MaskEnd.GAVE_UP) + commands
        return commands

    def abandon(self, now: dt.datetime, who: str = "caller") -> list[c.Command]:
        ended_by = MaskEnd.CALLER_GONE if who == "caller" else MaskEnd.AGENT_GONE
        unmasked = self.unmask(ended_by, caller_here=who != "caller")
        return unmasked + super().abandon(now, who)
