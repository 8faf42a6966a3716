"""The values a call and its opening share, pure: the call's phase, its two parties,
and what an opening answers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.announcement import Announcement
from controller.config.model import Service


class Phase(StrEnum):
    ANNOUNCING = "announcing"
    FULL_NOTICE = "full_notice"
    DIALING = "dialing"
    NO_AGENT = "no_agent"
    CONNECTED = "connected"
    ENDING = "ending"
    ENDED = "ended"


OPENING = (Phase.ANNOUNCING, Phase.FULL_NOTICE, Phase.DIALING, Phase.NO_AGENT)
"""Before the parties are bridged: the call's opening has the say."""


class Outcome(StrEnum):
    """How a call ended, as stored with it."""

    COMPLETED = "completed"
    CALLER_HUNG_UP = "caller_hung_up"
    CUSTOMER_HUNG_UP = "customer_hung_up"
    AGENT_HUNG_UP = "agent_hung_up"
    CHANNELS_LOST = "channels_lost"
    """Every channel vanished unseen (see ``ChannelGone.lost``)."""
    NO_AGENT = "no_agent"
    HANDED_BACK = "handed_back"
    ANSWER_FAILED = "answer_failed"
    BRIDGE_FAILED = "bridge_failed"
    INTERRUPTED = "interrupted"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"


def hung_up(role: str, lost: bool) -> Outcome:
    """A party left: ``<role>_hung_up``, or lost with the rest of the call."""
    return Outcome.CHANNELS_LOST if lost else Outcome(f"{role}_hung_up")


@dataclass(frozen=True)
class Leg:
    """One party's channel: answered (``up``), then ``gone``."""

    id: str
    up: bool = False
    gone: bool = False

    def answered(self) -> Leg:
        return dataclasses.replace(self, up=True)

    def ended(self) -> Leg:
        return dataclasses.replace(self, gone=True)


@dataclass(frozen=True)
class View:
    """What an opening may read of its call."""

    phase: Phase
    caller: Leg
    """The party the announcement speaks to: the caller, or the customer dialled."""
    agent: Leg


class Next(StrEnum):
    WAIT = "wait"
    BRIDGE = "bridge"
    """Both parties are there: bridge them and decide."""
    END = "end"
    HAND_BACK = "hand_back"
    """Reccontrol failed: the channel the call came in on goes back to the dialplan."""


@dataclass
class Step:
    """An opening's answer: its commands, then what the call does next."""

    commands: list[c.Command] = field(default_factory=list)
    next: Next = Next.WAIT
    phase: Phase | None = None
    outcome: Outcome | None = None
    why: str = ""
    """For ``HAND_BACK``: what failed."""


class Opening(Protocol):
    """How one kind of call brings its parties together, pure. Asked by the call until
    they are bridged (and, after, only for the few rules that differ by direction)."""

    direction: str
    role: str
    """What the announced party is called: ``caller`` or ``customer``."""
    dials_agent: bool
    """The leg dialled by reccontrol is the agent's (inbound) or the announced party's."""
    dialled: bool
    """That leg has been dialled: a resync may judge it gone."""
    entry: Channel
    """The channel the call came in on: it goes back to the dialplan on a failure."""
    notice_by_agent: bool
    hands_back_unbridged: bool
    """A failed bridge hands the entry back to the dialplan rather than ending."""
    answers: type[m.Message]
    log_prefix: str

    def begin(self, start: c.BeginCall, lookup: list[c.Command]) -> Step: ...

    def answered(self) -> Step: ...

    def announced(self) -> Step: ...

    def connected_logs(self, who: str) -> tuple[c.Log, c.Log]: ...

    def gone(self, view: View, agent: bool, cause: int, lost: bool, unseen: bool) -> Step: ...

    def timer(self, name: str, view: View) -> Step | None: ...

    def dial_timer(self) -> str: ...


@dataclass(frozen=True)
class Cast:
    """Who takes part in a call and how it opens."""

    call_id: str
    service: Service
    caller_hash: str | None
    """The announced party's number, as its HMAC (C4); None when there is none."""
    opening: Opening
    notice: Announcement
    """Shared by the opening, which plays it, and the call, which takes the opt-out key
    at any time (C2)."""
    caller: Leg
    agent: Leg
