"""Why a recording pauses and what ends the pause: the values of a pause's stored row
(``reason``, ``resumed_by``), shared by both paths (ARI and FastAGI)."""

from __future__ import annotations

from enum import StrEnum


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
