"""What an agent-assisted payment (M4) asks of Asterisk and of the store: the caller's
voice held back from the call while they key the card, and the masked span's row.

The caller stays in the bridge. Asterisk's channel mute in the ``in`` direction drops
the caller's audio frames before the bridge sees them, so neither the agent, nor the
recording, nor a snoop hears the keying (their tones included), while the key presses
still reach the application as ``ChannelDtmfReceived`` (RFC 4733 events, or in-band
tones the channel's DSP detected); the agent's voice flows on, and the file is never
paused. See ``docs/asterisk-behaviour.md`` (Agent-assisted payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.calls.command_kinds import RestCommand, StoreCommand


class MaskEnd(StrEnum):
    """What ended a masked span."""

    COLLECTED = "collected"
    """The card data was complete and checked: it went to the payment API."""
    GAVE_UP = "gave_up"
    """Too many wrong or missing entries."""
    REFUSED = "refused"
    """The payment could not start (no valid amount or order reference)."""
    CALLER_GONE = "caller_gone"
    AGENT_GONE = "agent_gone"
    RESTART = "restart"
    """The controller restarted mid-entry: the card data went with the old process."""


@dataclass(frozen=True)
class MuteCaller(RestCommand):
    """The caller's audio no longer reaches the call (``POST /channels/{id}/mute``,
    ``direction=in``): protective, sent first from the agent's key event."""

    channel_id: str


@dataclass(frozen=True)
class UnmuteCaller(RestCommand):
    """The caller is heard again (``DELETE /channels/{id}/mute``, ``direction=in``);
    harmless on a channel that is not muted."""

    channel_id: str


@dataclass(frozen=True)
class OpenMaskedSpan(StoreCommand):
    """The span of the call's audio where the caller keyed a card with the agent on the
    line: the file runs on, without the caller's voice. ``recording_id`` is None when
    nothing is recorded."""

    span_id: str
    call_id: str
    recording_id: str | None
    payment_id: str
    masked_by: str


@dataclass(frozen=True)
class CloseMaskedSpan(StoreCommand):
    span_id: str
    ended_by: MaskEnd


@dataclass(frozen=True)
class CloseMaskedSpans(StoreCommand):
    """A restarted controller closes whatever span of the call the old one left open,
    and leaves the interrupted-payment alert if there was one."""

    call_id: str
    alert: str
