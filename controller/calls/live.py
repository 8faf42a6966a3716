"""The live board (S8's view side): the calls in progress as the console shows them, and
their changes for Server-Sent Events.

Per call: its id, service, direction, agent id, when it started and one state. Never a
number, never audio. The state is read from the call's coordinator
(:func:`live_state`); the router tells the board after each message a call handled,
and the board compares and publishes only what changed. While no browser follows the
board, a message costs it the note of which call it was: the lines of the calls told of
meanwhile are built when they are asked for (a snapshot, a new subscription), from the
same coordinators, so they read as they would have.

A browser's subscription is a bounded :class:`asyncio.Queue` fed with ``put_nowait``:
a slow or gone browser never holds up a call. When its queue is full its changes are
dropped for one :data:`RESYNC` mark: the reader then sends a fresh snapshot instead of
the changes it missed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from controller.calls.call_state import CallState
from controller.calls.parties import Phase

SUBSCRIBER_QUEUE = 64
"""Changes a browser may lag behind before it is resynced with a snapshot."""
MAX_SUBSCRIBERS = 100


class LiveState(StrEnum):
    ANNOUNCEMENT = "announcement"
    WAITING = "waiting"
    """Waiting for the other party: the agent's or the customer's phone rings."""
    TALKING = "talking"
    """Bridged, not recorded."""
    RECORDING = "recording"
    PAUSED = "paused"
    PAYMENT = "payment"
    PRIVATE = "private"


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    service: str
    direction: str
    agent_id: str | None
    started_at: str
    """ISO 8601, when the board first saw the call."""
    state: LiveState
    pause_reason: str | None = None
    """While ``paused``: ``agent_key``, ``card``, ``payment_ivr``, ``restart``, ``hold``."""
    listened: bool = False
    """A supervisor listens live (S8)."""
    payment_progress: str | None = None
    """An assisted payment's entry (M4), masked: ``card •••• 4242, expiry: ••``."""

    def as_json(self) -> dict[str, str | bool | None]:
        return {
            "call_id": self.call_id,
            "service": self.service,
            "direction": self.direction,
            "agent_id": self.agent_id,
            "started_at": self.started_at,
            "state": self.state.value,
            "pause_reason": self.pause_reason,
            "listened": self.listened,
            "payment_progress": self.payment_progress,
        }


def live_state(call: CallState) -> tuple[LiveState, str | None] | None:
    """The call's state for the board and, when paused, why; None once it is ending."""
    match call.phase:
        case Phase.ANNOUNCING | Phase.FULL_NOTICE:
            return LiveState.ANNOUNCEMENT, None
        case Phase.DIALING | Phase.NO_AGENT:
            return LiveState.WAITING, None
        case Phase.ENDING | Phase.ENDED:
            return None
    if call.private:
        return LiveState.PRIVATE, None
    if call.payment is not None:
        return LiveState.PAYMENT, None
    held = call.talk.held
    if held is not None:
        # The agent's pause, whether or not a recording runs: as listening is refused.
        return LiveState.PAUSED, held
    if call.rec.live:
        return LiveState.RECORDING, None
    return LiveState.TALKING, None


@dataclass(frozen=True)
class LiveEvent:
    """``update`` (``call`` is the call's new line), ``end`` (the call left the board),
    or ``resync`` (changes were dropped: send a fresh snapshot)."""

    kind: str
    call: LiveCall | None = None


RESYNC = LiveEvent("resync")

_Parts = tuple[str, str, str | None, tuple[LiveState, str | None], bool, str | None]
"""What a call's line is made of, but its start: service, direction, agent, state and
pause reason, listened, payment progress."""


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize)
        self.resyncs = 0
        """How many times the reader fell a whole queue behind."""

    def offer(self, event: LiveEvent) -> None:
        """Never waits. A reader a whole queue behind gets its stale changes replaced
        by one :data:`RESYNC`, after which it sends a snapshot."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)
            self.resyncs += 1


class TooManySubscribers(Exception):
    error_id = "too-many-subscribers"


class LiveBoard:
    def __init__(self, *, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._parts: dict[str, _Parts] = {}
        """Per call on the board, what its line was last built from."""
        self._unread: dict[str, tuple[CallState, dt.datetime]] = {}
        """Calls told of while no browser followed the board, whose line is not built
        yet: their coordinator and when the board was first told of them."""
        self._subscribers: set[Subscription] = set()
        self._max = max_subscribers

    def snapshot(self) -> list[LiveCall]:
        self._catch_up()
        return sorted(self._calls.values(), key=lambda call: (call.started_at, call.call_id))

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, maxsize: int = SUBSCRIBER_QUEUE) -> Subscription:
        if len(self._subscribers) >= self._max:
            raise TooManySubscribers(f"at most {self._max} live views at once")
        # From now on each change is published: compared with lines up to date.
        self._catch_up()
        subscription = Subscription(maxsize)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def observe(self, call: CallState, now: dt.datetime) -> None:
        """After the call handled a message: publishes its line if it changed."""
        if not self._subscribers:
            # Nobody to tell: told after every message of every call, the board only
            # notes the call, and builds its line once it is asked for.
            call_id = call.call_id
            if call_id not in self._unread:
                self._unread[call_id] = (call, now)
            return
        self._update(call, now)

    def _catch_up(self) -> None:
        """The lines of the calls told of while nobody followed the board, as they are."""
        unread, self._unread = self._unread, {}
        for call, first_told in unread.values():
            self._update(call, first_told)

    def _update(self, call: CallState, now: dt.datetime) -> None:
        """The call's line from its coordinator; published if it changed. ``now``: when
        the board was told, its start if the call is not on the board yet."""
        state = live_state(call)
        call_id = call.call_id
        if state is None:
            self.ended(call_id)
            return
        payment = call.payment
        seen = (
            call.service.name,
            call.direction,
            call.agent.id if call.agent is not None else None,
            state,
            call.listening.session is not None,
            payment.progress if payment is not None else None,
        )
        # Told after every message a call handles, nearly always with nothing changed:
        # the line's parts are compared as a tuple, and the (frozen) line is built only
        # when they differ, not once per message.
        if self._parts.get(call_id) == seen:
            return
        service, direction, agent, (live, reason), listened, progress = seen
        before = self._calls.get(call_id)
        started = before.started_at if before is not None else now.isoformat()
        line = LiveCall(
            call_id, service, direction, agent, started, live, reason, listened, progress
        )
        self._calls[call_id] = line
        self._parts[call_id] = seen
        self._publish(LiveEvent("update", line))

    def ended(self, call_id: str) -> None:
        self._unread.pop(call_id, None)
        self._parts.pop(call_id, None)
        line = self._calls.pop(call_id, None)
        if line is not None:
            self._publish(LiveEvent("end", line))

    def _publish(self, event: LiveEvent) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)
