"""The call-handling part of the configuration: services (notice, sampling, pauses,
outbound calls), their threshold of systematic recording, the keys agents press, private
calls and the payment IVR. Built by :mod:`controller.config.services`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from controller.config.windows import WeeklyWindow
from controller.secrets import Secret

# Legal ceiling from the CNIL guidance (T1). A service may only exceed it with a written
# exemption.
MAX_RECORDING_RETENTION_DAYS = 183

PURPOSES = ("training", "quality", "mediation")


@dataclass(frozen=True)
class Announcement:
    sound: str
    version: str
    by: Literal["system", "agent"] = "system"
    """``agent``: on outbound calls the agent gives the notice and confirms it with the
    notice-given key; nothing is announced by the system (C6)."""


@dataclass(frozen=True)
class Outbound:
    """How the service's agents reach customers (C6)."""

    dial: str
    """Dial string with ``{number}`` where the dialled number goes."""
    caller_id: str = ""
    """The number presented to the customer; empty: Asterisk's default."""
    ring_timeout: int = 30

    def endpoint(self, number: str) -> str:
        return self.dial.replace("{number}", number)


@dataclass(frozen=True)
class CallerKeys:
    opt_out: str = "9"
    full_notice: str = "0"


@dataclass(frozen=True)
class Campaign:
    start: dt.date | None = None
    end: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Exemption:
    """A service's written exemption from the proportionality rules (P2, P5, T1)."""

    legal_basis: str
    max_retention_days: int | None = None
    """The longest the exemption lets this service keep recordings; required when the
    service keeps them longer than the general ceiling (T1)."""

    def retention_ceiling(self) -> int:
        """The retention this exemption allows: its own maximum, or the general one."""
        return self.max_retention_days or MAX_RECORDING_RETENTION_DAYS


# P5: recording more than half of the calls is close to recording them all; above this
# rate a service needs the same written exemption as one that records every call.
DEFAULT_MAX_RATE_WITHOUT_EXEMPTION = 0.5


@dataclass(frozen=True)
class ProportionalitySettings:
    """The site's threshold of systematic recording (P5)."""

    max_rate_without_exemption: float = DEFAULT_MAX_RATE_WITHOUT_EXEMPTION
    """A sampling rate above this needs an exemption with a written legal basis."""
    reason: str = ""
    """Why the site states another threshold than the default; required then."""


@dataclass(frozen=True)
class AgentKeys:
    """DTMF sequences agents press on a bridged call (A2, A4, A5, M1)."""

    start: str = "*1"
    pause: str = "*2"
    resume: str = "*3"
    private: str = "*7"
    payment: str = "*8"
    card: str = "*5"
    notice_given: str = "*4"
    """On an outbound call of a service announced by its agents: the notice was given."""
    inter_digit_timeout: float = 2.0
    """Seconds allowed between two keys of one sequence."""
    ok_sound: str = "beep"
    """Played to the agent only when a key sequence took effect."""
    refused_sound: str = "beeperr"
    """Played to the agent only when a key sequence was refused or had nothing to do."""

    def sequences(self) -> dict[str, str]:
        """Action name to key sequence."""
        return {
            "start": self.start,
            "pause": self.pause,
            "resume": self.resume,
            "private": self.private,
            "payment": self.payment,
            "card": self.card,
            "notice_given": self.notice_given,
        }


@dataclass(frozen=True)
class PrivateCalls:
    dial_prefix: str = "*77"
    """Agents dial this before a number to make a private outbound call (A2)."""


@dataclass(frozen=True)
class PauseSettings:
    mode: Literal["skip", "silence"] = "skip"
    """``skip`` leaves the paused time out of the file; ``silence`` writes silence."""
    max_seconds: int = 120
    """A pause longer than this resumes by itself and raises an alert (A5)."""
    card_max_seconds: int = 120
    """A card-entry pause (M2) resumes by itself after this long."""
    card_resume: Literal["key_or_timeout", "timeout"] = "key_or_timeout"
    """``timeout``: the resume key cannot end a card-entry pause early."""


@dataclass(frozen=True)
class PaymentPrompts:
    number: str
    expiry: str
    cvv: str
    invalid: str
    approved: str
    declined: str
    unavailable: str


@dataclass(frozen=True)
class PaymentSettings:
    """The secure IVR and the payment API it sends card data to (M1)."""

    api_url: str
    prompts: PaymentPrompts
    ca_bundle: Path | None = None
    token: Secret | None = None
    timeout: float = 10.0
    max_attempts: int = 2
    currency: str = "EUR"
    max_amount: Decimal = Decimal("10000")
    first_digit_timeout: float = 10.0
    digit_timeout: float = 5.0
    max_entry_attempts: int = 3
    hold_music_class: str = "default"
    mode: Literal["ivr", "assisted"] = "ivr"
    """``ivr``: the caller leaves the agent for the secure IVR (M1); ``assisted``: the
    caller stays with the agent, muted towards the call while keying (M4)."""
    digit_sound: str = "beep"
    """Assisted mode: what the agent hears for each key the caller presses, never the
    key's tone."""


@dataclass(frozen=True)
class Service:
    name: str
    label: str
    language: str
    purposes: tuple[str, ...]
    announcement: Announcement
    full_notice_sound: str
    caller_keys: CallerKeys
    sampling_rate: float
    """Probability that a call is recorded; 1.0 only with an exemption (P2)."""
    target: str
    """Dial string that reaches the agents: ``PJSIP/…`` or ``Local/…@queue-context``."""
    answer_timeout: int
    retention_days: int
    campaign: Campaign = field(default_factory=Campaign)
    windows: tuple[WeeklyWindow, ...] = ()
    """Weekly windows when recording is allowed; empty means at any time."""
    exemption: Exemption | None = None
    no_agent_sound: str = "sorry"
    pause: PauseSettings = field(default_factory=PauseSettings)
    hold: Literal["pause", "record"] = "pause"
    """What an agent's hold does to the recording (A9): ``pause`` pauses it like the
    pause key, in ``pause.mode``, until the call is taken back; ``record`` keeps it
    running. Either way the caller hears music on hold, which is never recorded."""
    payments: bool = False
    """Whether agents of this service may send callers to the payment IVR."""
    payment_mode: Literal["ivr", "assisted"] | None = None
    """This service's ``payment.mode``, where it differs from the site's (M4)."""
    outbound: Outbound | None = None
    """None: the service takes no outbound calls."""


def payment_mode(payment: PaymentSettings | None, service: Service) -> str | None:
    """How ``service``'s payments run (``ivr`` or ``assisted``); None without payments."""
    if payment is None or not service.payments:
        return None
    return service.payment_mode or payment.mode
