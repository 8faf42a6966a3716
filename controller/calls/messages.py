"""What a call's state machine is told: ARI events, translated, and command results."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from controller.ari.models import Channel
from controller.calls.commands import Command
from controller.calls.ids import WHISPER_ARG
from controller.config.model import Agent
from controller.payments.charge import ChargeResult


@dataclass(frozen=True)
class Message:
    pass


@dataclass(frozen=True)
class ObjectionKnown(Message):
    objected: bool


@dataclass(frozen=True)
class PlaybackDone(Message):
    playback_id: str
    failed: bool = False


@dataclass(frozen=True)
class Dtmf(Message):
    channel_id: str
    digit: str = field(repr=False)
    received: float = 0.0
    """Monotonic time when the event was read (the ARI client's clock, the same source
    as the daemon clock's ``monotonic()``), to measure the reaction time."""


@dataclass(frozen=True)
class AgentAnswered(Message):
    channel: Channel
    agent: Agent | None


CHANNELS_LOST = "channels_lost"
"""The outcome of a call whose channels all vanished unseen (see ChannelGone.lost)."""


def gone_text(who: str, lost: bool) -> str:
    """How the log says a party left: hung up, or lost with the rest of the call."""
    return f"{who} channel lost with the whole call" if lost else f"{who} hung up"


@dataclass(frozen=True)
class ChannelGone(Message):
    channel_id: str
    cause: int = 0
    """Asterisk's hang-up cause (Q.850), 0 when the event does not say."""
    lost: bool = False
    """Gone unseen with every other channel of its call (found at a resync: Asterisk
    died or restarted while the events websocket was down): nobody can say who hung up."""
    unseen: bool = False
    """Found gone by a resync: it ended while the events were lost, nobody knows how."""


@dataclass(frozen=True)
class CustomerAnswered(Message):
    """The customer dialled on an outbound call answered (C6)."""

    channel: Channel


@dataclass(frozen=True)
class RecordingStarted(Message):
    name: str


@dataclass(frozen=True)
class RecordingEnded(Message):
    """Asterisk finished the recording (``RecordingFinished``) or gave up on it."""

    name: str
    failed: bool = False
    cause: str = ""


@dataclass(frozen=True)
class KeysUnheard(Message):
    """The daemon could not hear the call's keys from ``since`` until now: the ARI
    events websocket was down or deaf, and Asterisk does not keep events for a
    disconnected application. A key pressed then (pause, private) never took effect."""

    since: dt.datetime


@dataclass(frozen=True)
class CommandFailed(Message):
    command: Command
    error_id: str
    status: int | None


@dataclass(frozen=True)
class TimerFired(Message):
    name: str


@dataclass(frozen=True)
class PaymentDetails(Message):
    """What the call says about the payment to take (channel variables or an API call)."""

    amount: str
    order_reference: str


@dataclass(frozen=True)
class PaymentDone(Message):
    result: ChargeResult


@dataclass(frozen=True)
class PaymentRequested(Message):
    """An authorised API call asks for the payment IVR, with the amount and order."""

    amount: str
    order_reference: str


@dataclass(frozen=True)
class ListenRequested(Message):
    """An authorised supervisor asks to listen to the call live (S8) on their phone."""

    person_id: str
    phone: str = field(repr=False)


@dataclass(frozen=True)
class ListenStopped(Message):
    """The supervisor, or someone allowed to, ends the listening."""

    person_id: str


@dataclass(frozen=True)
class ListenLegUp(Message):
    """A listening channel (the snoop, or the supervisor's phone once answered) entered
    the application."""

    channel_id: str


@dataclass(frozen=True)
class WhisperUp(Message):
    """The snoop that whispers the agent's tones (A10) entered the application."""

    channel_id: str


def snoop_up(role: str, channel_id: str) -> Message:
    """A channel the call made for itself entered the application, by its first
    argument: the agent's whisper (A10), or a listening's channel (S8)."""
    return WhisperUp(channel_id) if role == WHISPER_ARG else ListenLegUp(channel_id)
