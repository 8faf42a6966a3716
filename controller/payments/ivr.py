"""The secure payment IVR's dialogue, pure: prompts, DTMF collection with timeouts,
retries and a '#' terminator, and card checks (Luhn, expiry, security code) before
anything is sent.

It returns small actions; the call state machine turns them into commands. Digits are
kept only in :class:`~controller.payments.card.CardData`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from controller.payments.card import ASCII_DIGITS, CardData, SensitiveDigits


class Field(StrEnum):
    NUMBER = "number"
    EXPIRY = "expiry"
    CVV = "cvv"


ORDER = (Field.NUMBER, Field.EXPIRY, Field.CVV)
MAX_LENGTH = {Field.NUMBER: 19, Field.EXPIRY: 4, Field.CVV: 4}


@dataclass(frozen=True)
class IvrSettings:
    prompt_number: str
    prompt_expiry: str
    prompt_cvv: str
    prompt_invalid: str
    first_digit_timeout: float = 10.0
    digit_timeout: float = 5.0
    max_attempts: int = 3

    def prompt(self, field: Field) -> str:
        return {
            Field.NUMBER: self.prompt_number,
            Field.EXPIRY: self.prompt_expiry,
            Field.CVV: self.prompt_cvv,
        }[field]


# -- actions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    pass


@dataclass(frozen=True)
class Prompt(Action):
    sounds: tuple[str, ...]


@dataclass(frozen=True)
class StopPrompt(Action):
    pass


@dataclass(frozen=True)
class Wait(Action):
    """(Re)start the entry timer."""

    seconds: float


@dataclass(frozen=True)
class Collected(Action):
    card: CardData


@dataclass(frozen=True)
class GaveUp(Action):
    reason: str
    """``invalid_entry`` or ``no_entry``."""


class PaymentIvr:
    def __init__(self, settings: IvrSettings, today: dt.date) -> None:
        self.settings = settings
        self.today = today
        self.card = CardData()
        self.field_index = 0
        self.attempts = 0
        self.prompting = False
        self.done = False

    @property
    def field(self) -> Field:
        return ORDER[self.field_index]

    def _digits(self) -> SensitiveDigits:
        return {
            Field.NUMBER: self.card.number,
            Field.EXPIRY: self.card.expiry,
            Field.CVV: self.card.cvv,
        }[self.field]

    def start(self) -> list[Action]:
        return self._ask(())

    def _ask(self, before: tuple[str, ...]) -> list[Action]:
        self.prompting = True
        # A generous timer while the prompt plays; the real one starts when it ends.
        return [Prompt((*before, self.settings.prompt(self.field))), Wait(60.0)]

    def prompt_finished(self) -> list[Action]:
        if self.done or not self.prompting:
            return []
        self.prompting = False
        return [Wait(self.settings.first_digit_timeout)]

    def digit(self, key: str) -> list[Action]:
        if self.done:
            return []
        actions: list[Action] = []
        if self.prompting:
            # Barge-in: the caller knows what to type.
            self.prompting = False
            actions.append(StopPrompt())
        digits = self._digits()
        if key == "#":
            return actions + self._complete()
        if key == "*":
            digits.wipe()
            return actions + self._ask(())
        if key not in ASCII_DIGITS:
            # DTMF carries 0-9 only; anything else (even a Unicode digit) is ignored.
            return actions
        digits.append(key)
        if len(digits) > MAX_LENGTH[self.field]:
            return actions + self._invalid()
        if self.field is Field.EXPIRY and len(digits) == 4:
            return actions + self._complete()
        return [*actions, Wait(self.settings.digit_timeout)]

    def timed_out(self) -> list[Action]:
        if self.done:
            return []
        if len(self._digits()):
            return self._complete()
        return self._invalid(reason="no_entry")

    def _complete(self) -> list[Action]:
        if not self._valid():
            return self._invalid()
        self.attempts = 0
        if self.field_index == len(ORDER) - 1:
            self.done = True
            return [Collected(self.card)]
        self.field_index += 1
        return self._ask(())

    def _invalid(self, reason: str = "invalid_entry") -> list[Action]:
        self._digits().wipe()
        self.attempts += 1
        if self.attempts >= self.settings.max_attempts:
            self.abandon()
            return [GaveUp(reason)]
        return self._ask((self.settings.prompt_invalid,))

    def _valid(self) -> bool:
        digits = self._digits()
        if self.field is Field.NUMBER:
            return 12 <= len(digits) <= 19 and self.card.number.luhn_valid()
        if self.field is Field.EXPIRY:
            if len(digits) != 4:
                return False
            month = digits.digit_at(0) * 10 + digits.digit_at(1)
            year = 2000 + digits.digit_at(2) * 10 + digits.digit_at(3)
            return 1 <= month <= 12 and (year, month) >= (self.today.year, self.today.month)
        return len(digits) in (3, 4)

    def abandon(self) -> None:
        """Stops the dialogue and wipes whatever was typed."""
        self.done = True
        self.prompting = False
        self.card.wipe()
