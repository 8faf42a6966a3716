"""Small values the commands carry, apart so the commands module stays readable: a log
line's level, how a recording's row closes without a file, why a recording pauses and
what ends the pause (a pause row's ``reason`` and ``resumed_by``). All are also
reachable from :mod:`controller.calls.commands` (``commands.Level``...)."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A log line's level."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Closed(StrEnum):
    """How a recording's row closes without a file to keep."""

    DISCARDED = "discarded"
    FAILED = "failed"
    MISSING = "missing"


class PauseReason(StrEnum):
    AGENT_KEY = "agent_key"
    CARD = "card"
    PAYMENT_IVR = "payment_ivr"
    RESTART = "restart"
    """Found paused in Asterisk after a restart, with no pause stored."""
    HOLD = "hold"
    """The agent's phone put the call on hold (A9); it ends when the call is taken back."""


class PauseEnd(StrEnum):
    """Who or what ended a pause."""

    AGENT = "agent"
    """The resume key, or, for a hold, the agent's phone taking the call back."""
    TIMEOUT = "timeout"
    PAYMENT = "payment"
    CALL_END = "call_end"
    DISCARDED = "discarded"
    RECORDING_FAILED = "recording_failed"
    RECORDING_ENDED = "recording_ended"
    TRANSFER = "transfer"
    """The agent transferred the call: their segment's recording ended (R3)."""
