"""Carrying on the calls a previous run left open (R1), off the events' path.

A restarted daemon may find hundreds of calls in progress. Asking Asterisk about each
one's recording takes a REST call per call: done inside the events handler, every event
(a protective key on a call already carried on among them) would wait for all of it.
Here the adoption runs beside the events:

* in the handler, only the store is read (one local transaction), and each call left
  open is marked *pending*, with its channels and live recording;
* each call is then adopted on its own (its recording's state asked of Asterisk, its
  plan made and carried out), a few at a time;
* an event about a pending call is held in that call's backlog, in order, and handed to
  the call once it is adopted: a key is never dropped, and never applied before the
  restart's own commands (a stored pause applied again, a paused recording kept paused)
  have set the call straight. A key also moves its call to the front of the line. So is
  a transfer the agent makes meanwhile (R3): its channel enters the application in the
  agent's place (a ``StasisStart`` naming the agent's channel as the one it replaces),
  and from then on the events about that channel (it answers) are the call's too;
* once every call is adopted, released or left to the dialplan, the calls nobody carries
  on are closed and :attr:`EventRouter.adopted` fires (the orphan sweep waits on it);
* a call Asterisk could not say enough about (its lists, or its recording, unreadable:
  the link broke mid-adoption) is left for the next connection, untouched. Until then
  its channels stay known as a call's: the resync that follows must not hang up its
  agent or hand its caller to the dialplan as strangers'.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from controller.ari.errors import AriError
from controller.ari.events import (
    ChannelDtmfReceived,
    ChannelHold,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisStart,
)
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.adoption import Adopted, LeftRunning, plan_call
from controller.calls.asterisk_view import AsteriskView
from controller.calls.call_settings import CallSettings
from controller.calls.executor import Batch, CommandExecutor
from controller.calls.ids import agent_leg, call_of, customer_leg
from controller.calls.transfer import far_half
from controller.calls.two_channels import owner_of, snoop_owners
from controller.clock import Clock
from controller.config.model import Config
from controller.records import OpenCall

log = logging.getLogger("reccontrol.calls")

WORKERS = 4
"""Calls adopted at once: enough to overlap Asterisk's answers, few enough that the
REST calls of calls already carried on (a protective key's pause) never queue behind a
burst of adoption's."""

Held = Event | tuple[m.Message, float | None]
"""An event about a pending call, or a message a call would have been fed."""


@dataclass
class Pending:
    open_call: OpenCall
    backlog: list[Held] = field(default_factory=list)
    replaying: bool = False
    """Its backlog is being handed over: the call is registered, messages reach it."""


def channels_of(call: OpenCall) -> list[str]:
    """The channels a call left open is known by before Asterisk is asked: the one it
    came in on and the legs the controller dials for it."""
    known = [agent_leg(call.call_id), customer_leg(call.call_id)]
    return [call.channel_id, *known] if call.channel_id else known


def subject_of(event: Event) -> tuple[str, str] | None:
    """What an event is about, as ("channel", id), ("recording", name) or ("call", id);
    None for an event about no one call (the stream's own, a transfer's far half)."""
    match event:
        case RecordingStarted(recording=r) | RecordingFinished(recording=r) | RecordingFailed(
            recording=r
        ):
            return "recording", r.name
        case PlaybackFinished(playback=playback):
            return "call", call_of(playback.id)
    channel = getattr(event, "channel", None)
    channel_id = getattr(channel, "id", None)
    return ("channel", channel_id) if isinstance(channel_id, str) else None


def swapped_for(event: Event) -> str | None:
    """The channel a transfer's channel takes the place of, for a ``StasisStart`` that
    may be one (a Local ``;1`` half, no application argument, a channel it replaces);
    None otherwise. Whether it really is a transfer of the call is the router's to judge
    (:func:`~controller.calls.transfer.transfer_of`) once the call is adopted."""
    if not isinstance(event, StasisStart) or event.args or event.replace_channel is None:
        return None
    return event.replace_channel.id if far_half(event.channel.name) else None


def is_key(event: Held) -> bool:
    """A key or a hold: its call is adopted next, ahead of the others."""
    return isinstance(event, ChannelDtmfReceived | ChannelHold)


class AdoptionHost(Protocol):
    """What the adoption needs of the router (the router is one)."""

    async def route(self, event: Event) -> None: ...

    def feed(self, call_id: str, message: m.Message, trigger: float | None = None) -> None: ...

    @property
    def calls(self) -> Mapping[str, object]:
        """The calls in progress, by id."""
        ...

    @property
    def released(self) -> set[str]:
        """Channels handed back to the dialplan after a restart: on their way out."""
        ...

    def take_over(self, plan: Adopted) -> None: ...


class Adoption:
    """The pending calls of one restart, and the work of adopting them."""

    def __init__(
        self,
        host: AdoptionHost,
        executor: CommandExecutor,
        settings: CallSettings,
        config: Config,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._host = host
        self._executor = executor
        self._left_open = executor.left_open
        self._settings = settings
        self._config = config
        self._clock = clock
        self._rng = rng
        self.adopted = asyncio.Event()
        """Set once the calls a previous run left open are carried on or ended."""
        self.pending: dict[str, Pending] = {}
        self._channels: dict[str, str] = {}
        self._recordings: dict[str, str] = {}
        self._order: deque[str] = deque()
        self._later: dict[str, str] = {}
        """The channels of the calls left for the next connection (and their recordings'
        snoops), by channel id: a call's, never strangers."""

    @property
    def left_for_later(self) -> bool:
        """Whether calls were left for the next connection (Asterisk could not say what
        they have): until they are adopted their keys go unheard."""
        return bool(self._later)

    # -- events while calls are pending ------------------------------------------------
    def owners(self) -> dict[str, str]:
        """The pending calls' channels (their recordings' snoops too), by channel id:
        never strangers to release."""
        return {**self._later, **self._channels, **snoop_owners(self._recordings)}

    def claims(self, event: Event) -> str | None:
        """The pending call an event is about, if any."""
        if not self.pending:
            return None
        subject = subject_of(event)
        if subject is None:
            return None
        kind, key = subject
        if kind == "recording":
            return owner_of(self._recordings, key)
        if kind == "call":
            found = key
        else:
            # A leg of ours names its call (``rc-<call>-agent``, a listening's channel).
            found = self._channels.get(key) or call_of(key)
            replaced = swapped_for(event)
            if found not in self.pending and replaced is not None:
                # A transfer of a pending call's agent: the call's too.
                found = self._channels.get(replaced) or call_of(replaced)
        return found if found in self.pending else None

    def holds(self, call_id: str) -> bool:
        """Whether a message for the call is to be held (it is not adopted yet)."""
        pending = self.pending.get(call_id)
        return pending is not None and not pending.replaying

    def recording_names(self) -> set[str]:
        return set(self._recordings)

    def hold(self, call_id: str, held: Held) -> None:
        """Keeps an event (or message) for a pending call, in order; a key moves the call
        to the front of the line."""
        self.pending[call_id].backlog.append(held)
        if isinstance(held, StasisStart) and swapped_for(held) is not None:
            # A transfer's channel: its answer is held too, never routed before the
            # StasisStart that makes it the call's (nor released as a stranger).
            self._channels.setdefault(held.channel.id, call_id)
        if is_key(held) and call_id in self._order:
            self._order.remove(call_id)
            self._order.appendleft(call_id)

    # -- adopting ---------------------------------------------------------------------
    async def left_open(self) -> list[OpenCall] | None:
        """The calls a previous run left open, pending from now on (their events wait);
        None when the store cannot say."""
        try:
            rows = await self._left_open.read()
        except Exception:
            log.exception("open calls unreadable; adoption left for the next connection")
            return None
        busy = set(self._host.calls) | set(self.pending)
        left = [oc for oc in rows if oc.call_id not in busy]
        self._later.clear()  # those still open are pending again, the others are over
        self.mark(left)
        return left

    async def adopt(self, left: list[OpenCall]) -> None:
        """Adopts ``left`` (see :meth:`left_open`), then closes in the store what nobody
        carries on. Left for the next connection if Asterisk cannot say what it has:
        ending calls on a partial view would cut live ones."""
        outcomes = await self.run() if left else {}
        if outcomes is None:
            log.warning("%d open call(s) left for the next connection", len(left))
            return
        if outcomes:
            log.warning("%s", summary(outcomes))
        # Only the calls looked at: one begun since (over FastAGI, whose server answers
        # before ARI is connected) is not the previous run's.
        unread = {call_id for call_id, outcome in outcomes.items() if outcome == "unread"}
        looked_at = {oc.call_id for oc in left} - unread
        running = {call_id for call_id, outcome in outcomes.items() if outcome == "running"}
        closed = await self._left_open.close_interrupted(set(self._host.calls) | running, looked_at)
        if closed:
            log.warning("closed %d call(s) left open by a previous run", closed)
        if not unread:
            self.adopted.set()

    def mark(self, calls: list[OpenCall]) -> None:
        """The calls to adopt: pending from now on, their events held."""
        for call in calls:
            self.pending[call.call_id] = Pending(call)
            for channel_id in channels_of(call):
                self._channels[channel_id] = call.call_id
            if call.recording is not None:
                self._recordings[call.recording.name] = call.call_id
            self._order.append(call.call_id)

    async def run(self) -> dict[str, str] | None:
        """Adopts every pending call; each one's outcome (``adopted``, ``released``,
        ``running``, ``unread``) by call id, or None when Asterisk could not say what it
        has (nothing ended: the calls are left for the next connection)."""
        lists = await self._executor.asterisk.lists()
        if lists is None:
            for call_id in list(self.pending):
                await self._release_backlog(call_id, later=True)
            self._order.clear()
            return None
        outcomes: dict[str, str] = {}
        workers = [self._worker(lists, outcomes) for _ in range(WORKERS)]
        await asyncio.gather(*workers)
        return outcomes

    async def _worker(self, lists: AsteriskView, outcomes: dict[str, str]) -> None:
        while self._order:
            call_id = self._order.popleft()
            outcome = "unread"
            try:
                outcome = await self._adopt_one(self.pending[call_id].open_call, lists)
                outcomes[call_id] = outcome
            finally:
                await self._release_backlog(call_id, later=outcome == "unread")

    async def _adopt_one(self, call: OpenCall, lists: AsteriskView) -> str:
        recordings: dict[str, str] = {}
        if call.recording is not None and call.path != "agi":
            try:
                state = await self._executor.asterisk.recording_state(call.recording.name)
            except AriError as exc:
                # Left open for the next connection: ending it on a guess would cut it.
                log.warning("call %s: its recording is unreadable (%s)", call.call_id, exc.error_id)
                return "unread"
            if state is not None:
                recordings[call.recording.name] = state
        view = dataclasses.replace(lists, recordings=recordings)
        return await self._carry_out(call, view)

    async def _carry_out(self, call: OpenCall, view: AsteriskView) -> str:
        """Plans the call and carries the plan out: ``adopted``, ``released`` or
        ``running`` (left to the site's dialplan)."""
        now, settings, config = self._clock.now(), self._settings, self._config
        plan = plan_call(call, view, config=config, settings=settings, rng=self._rng, now=now)
        if isinstance(plan, Adopted):
            self._host.take_over(plan)
            return "adopted"
        if isinstance(plan, LeftRunning):
            return "running"
        if call.channel_id:
            self._host.released.add(call.channel_id)
        commands: list[c.Command] | None = plan.commands
        if call.path == "agi":
            commands = await self._left_open.close_agi(plan.commands)
        if commands is not None:
            await self._executor.run_batch(call.call_id, Batch(commands))
        return "released"

    async def _release_backlog(self, call_id: str, *, later: bool = False) -> None:
        """Hands what was held for the call to it, in order; what arrives meanwhile is
        held too, so nothing overtakes. Then the call is no longer pending; ``later``: it
        is left for the next connection, its channels still known as its, and what was
        held for it is dropped."""
        pending = self.pending[call_id]
        pending.replaying = True
        if later:
            # Nobody to hand them to: the next connection adopts the call as after a gap
            # in the events (keys unheard), and finds in Asterisk what they said.
            pending.backlog.clear()
            self._later |= {ch: i for ch, i in self._channels.items() if i == call_id}
            recordings = {name: i for name, i in self._recordings.items() if i == call_id}
            self._later |= snoop_owners(recordings)
        while pending.backlog:
            held = pending.backlog.pop(0)
            try:
                if isinstance(held, tuple):
                    self._host.feed(call_id, *held)
                else:
                    await self._host.route(held)
            except Exception:
                log.exception("call %s: an event held during its adoption failed", call_id)
        # No await between the last check and here: nothing new can slip in between.
        del self.pending[call_id]
        for owners in (self._channels, self._recordings):
            for key in [k for k, v in owners.items() if v == call_id]:
                del owners[key]


def summary(outcomes: dict[str, str]) -> str:
    """The adoption's outcome for the log: counts only, never a number or a name."""
    counts = {kind: sum(1 for o in outcomes.values() if o == kind) for kind in KINDS}
    return (
        f"{len(outcomes)} call(s) left open by a previous run: {counts['adopted']} carried "
        f"on, {counts['running']} left to the dialplan (FastAGI), {counts['released']} "
        f"ended, {counts['unread']} left for the next connection"
    )


KINDS = ("adopted", "running", "released", "unread")

RETRY_AFTER = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before each new try at the calls left for the next connection while the
connection stays up (the last repeats): a call nobody controls hears no pause key, so
its recording would take in what the agent meant to keep out of it."""
