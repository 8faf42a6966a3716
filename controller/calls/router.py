"""Turns ARI events into messages for the right call, and runs each call's batches.

Each call has its own queue of command batches and its own task, so a slow answer from
Asterisk on one call never delays another; within a call, batches never interleave.
What to do with a batch is the :class:`~controller.calls.executor.CommandExecutor`'s
business; which call an event is about, and when its batch runs, is the router's.

Hot path: a key or transfer that protects audio runs its batch in the event handler
when nothing of the call runs: the REST call leaves first (the budget is about 2 ms).

Trust: an event is acted on only if it is for our application (its ``application``
field), and a channel only if it is ours. The legs the controller dials have ids it
chose (``rc-<call id>-agent``, ``-customer``): one entering with the wrong id, or for a
call it does not belong to, is not ours; nor is a channel that already belongs to a
call, or one of our legs, entering as a new call. Such an event is counted in
:attr:`EventRouter.refused` and never turned into a REST call on the channel it names:
Asterisk is asked whether that channel really sits in the application (see
:meth:`GapRecovery.release_strangers`), and only then is it let go.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Iterable
from typing import Any

from controller.ari.events import (
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelHold,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    GenericEvent,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    StreamConnected,
)
from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.adopting import RETRY_AFTER, Adoption
from controller.calls.adoption import Adopted
from controller.calls.call import Call
from controller.calls.call_settings import call_settings
from controller.calls.context import CallContext as CallContext
from controller.calls.executor import URGENT, Batch, CommandExecutor
from controller.calls.gap import GapRecovery
from controller.calls.ids import LISTENING_ARG, WHISPER_ARG, call_of, is_leg_of, is_our_leg, new_id
from controller.calls.live import LiveBoard
from controller.calls.owners import Owners
from controller.calls.starting import (
    earlier_objection,
    inbound_call,
    outbound_call,
    private_call_count,
)
from controller.calls.transfer_routing import TransferRouting
from controller.calls.two_channels import is_recording_snoop, owner_of, snoop_owners
from controller.clock import Clock
from controller.config.model import Config
from controller.records import OpenCall

log = logging.getLogger("reccontrol.calls")

_NOT_ROUTED: frozenset[type[Event]] = frozenset(
    {PlaybackStarted, ChannelEnteredBridge, ChannelLeftBridge, BridgeDestroyed, GenericEvent}
)
"""Events no call acts on: what Asterisk says of what it was asked to do, or of no call."""


class EventRouter:
    def __init__(
        self,
        *,
        config: Config,
        executor: CommandExecutor,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._executor = executor
        self._clock = clock
        self._rng = rng
        self._settings = call_settings(config)
        self.calls: dict[str, CallContext] = {}
        self._by_channel = Owners()
        self._by_recording = Owners()
        self.released: set[str] = set()
        """Channels handed back to the dialplan after a restart: on their way out."""
        self._app = config.ari.app
        self.refused = 0
        """Events ignored since start: another application's, or about a channel not ours."""
        self.live = LiveBoard()
        self.adoption = Adoption(self, executor, self._settings, config, clock, rng)
        self.adopted = self.adoption.adopted
        """Set once the calls a previous run left open are carried on or ended."""
        self._settling: asyncio.Task[None] | None = None
        """What follows a connection: adoption, then the resync; beside the events."""
        self._next_connection = asyncio.Event()
        """Set when the next connection comes: the tries at calls left for it stop."""
        self._ahead: tuple[str, float] | None = None
        """The key (its channel, the time its frame was read) handled at the first look,
        before its event came: that event is not handled again."""
        self.gap = GapRecovery(
            machines=lambda: {i: ctx.machine for i, ctx in self.calls.items() if not ctx.finished},
            owners=lambda: {
                **self._by_channel,
                **snoop_owners(self._by_recording),
                **self.adoption.owners(),
            },
            feed=self.feed,
            executor=executor,
            config=config,
            clock=clock,
        )
        self.transfers = TransferRouting(
            self.calls, self._by_channel, self.feed, self.urgent, executor, config
        )
        executor.attach(self)

    # -- events to messages ----------------------------------------------------------
    async def handle(self, event: Event) -> None:
        if event.application != self._app:
            # Only a forged or misdirected frame: our websocket subscribes to our
            # application alone. Acting on it would drive another application's channels.
            self._refuse(f"a {event.type[:40]!r} event for another application")
            return
        if (pending := self.adoption.claims(event)) is not None:
            self.adoption.hold(pending, event)  # handed to the call once it is adopted
            return
        await self.route(event)

    async def route(self, event: Event) -> None:
        if type(event) in _NOT_ROUTED:
            # A playback started, a channel in or out of a bridge: a quarter of the
            # frames of a call, acted on by no case below (one set test rather than
            # each case's in turn).
            return
        match event:
            case ChannelDtmfReceived(channel_id=channel_id, digit=digit, received=received):
                # First: a key may be the one that pauses.
                if (channel_id, received) == self._ahead:
                    self._ahead = None  # its pause left from the first look; the call heard it
                elif call_id := self._by_channel.get(channel_id, ""):
                    await self._key(call_id, channel_id, digit, received)
            case StasisStart(args=args, channel=channel, replace_channel=replaced):
                if not await self.transfers.entered(args, channel, replaced):
                    await self._stasis_start(channel, args)
            case ChannelStateChange() | Dial() | ChannelVarset():
                await self.transfers.event(event)
            case ChannelHold(channel=channel, held=held, music_class=music, received=received):
                if call_id := self._by_channel.get(channel.id, ""):
                    await self.urgent(call_id, m.Hold(channel.id, held, music), received)
            case (
                ChannelDestroyed(channel_id=channel_id, cause=cause)
                | ChannelHangupRequest(channel_id=channel_id, cause=cause)
            ):
                # The cause tells an outbound call's busy number from a missing one.
                self._to_channel(channel_id, m.ChannelGone(channel_id, cause))
            case StasisEnd(channel_id=channel_id):
                self._to_channel(channel_id, m.ChannelGone(channel_id))
            case PlaybackFinished(playback=playback):
                call_id = call_of(playback.id)
                if call_id in self.calls:
                    self.feed(call_id, m.PlaybackDone(playback.id, playback.state == "failed"))
            case RecordingStarted(recording=recording):
                self._to_recording(recording.name, m.RecordingStarted(recording.name))
            case RecordingFinished(recording=recording):
                self._to_recording(recording.name, m.RecordingEnded(recording.name))
            case RecordingFailed(recording=recording):
                self._to_recording(
                    recording.name, m.RecordingEnded(recording.name, True, recording.cause)
                )
            case StreamConnected(state=state, reconnect=reconnect, blind_since=blind_since):
                self._next_connection.set()
                self._next_connection = asyncio.Event()
                restarted = await self.gap.asterisk_restarted()
                if blind_since is not None:
                    self.gap.whispers_entered(set(state.channel_ids))
                if blind_since is not None and not restarted:
                    # First, before the resync ends any call: what went unheard is
                    # made safe while the recordings are still live.
                    self.gap.keys_unheard(blind_since)
                previous, left = self._settling, None
                if previous is None or previous.done():
                    previous, left = None, await self.adoption.left_open()
                work = self._settle(previous, left, set(state.channel_ids), reconnect)
                if previous is None and not left:
                    await work  # nothing to adopt: the resync's one request, here
                else:
                    self._settling = asyncio.create_task(work, name="reccontrol-adoption")

    async def _settle(
        self,
        previous: asyncio.Task[None] | None,
        left: list[OpenCall] | None,
        channel_ids: set[str],
        reconnect: bool,
    ) -> None:
        """After a connection, beside the events: the calls left open adopted, then the
        resync (a connection made while the previous one's still runs waits for it).
        Calls Asterisk could not say enough about are tried again while this connection
        lasts."""
        next_connection = self._next_connection
        try:
            if previous is not None:
                await previous
                left = await self.adoption.left_open()
            if left is not None:
                await self.adoption.adopt(left)
            await self.gap.resync(channel_ids - self.released, reconnect)
            if reconnect:
                # Only once the resync has judged which channels are gone: a call
                # this moves on would dial a leg the resync's snapshot lacks.
                self.gap.recover(channel_ids)
            if left:
                await self._adopt_again(next_connection)
        except Exception:
            log.exception("the calls in progress could not be settled after the connection")

    async def _adopt_again(self, next_connection: asyncio.Event) -> None:
        """The calls left for the next connection, tried again after :data:`RETRY_AFTER`
        while no other connection comes (that one adopts them). Until then their keys go
        unheard: adopted later, they are carried on as after a gap (C2)."""
        tries = 0
        while self.adoption.left_for_later:
            delay = RETRY_AFTER[min(tries, len(RETRY_AFTER) - 1)]
            tries += 1
            try:
                await asyncio.wait_for(next_connection.wait(), delay)
                return
            except TimeoutError:
                pass
            left = await self.adoption.left_open()
            if left is not None:
                await self.adoption.adopt(left)

    async def _stasis_start(self, channel: Channel, args: tuple[str, ...]) -> None:
        role = args[0] if args else ""
        if is_recording_snoop(args):
            return  # a two-channel recording's snoop (R5): the recording's, never a call
        made_by_us = ("agent", "customer", LISTENING_ARG, WHISPER_ARG)
        if role not in made_by_us and not self._may_start(channel):
            self._refuse("a StasisStart as a new call for a channel already ours", channel.id)
            return
        if role == "inbound":
            service_name = args[1] if len(args) > 1 else ""
            dialled = args[2] if len(args) > 2 else ""
            if dialled and self._config.agent_for_private_line(dialled) is not None:
                # A private line routed through a recorded service by mistake: never
                # recorded, whatever the service says (A2).
                log.warning(
                    "a call to a private line entered service %r; handed back unrecorded",
                    service_name[:40],
                )
                await self._private_call(channel, "private-line", dialled, unhandled=True)
                return
            call_id = new_id(self._rng, 64)
            machine = inbound_call(
                call_id, self._config, channel, service_name, settings=self._settings, rng=self._rng
            )
            await self._start(machine, channel, channel.caller.number)
        elif role == "agent":
            call_id = args[1] if len(args) > 1 else ""
            if not await self._our_leg(channel, call_id, "agent"):
                return
            self._by_channel[channel.id] = call_id
            agent = self._config.agent_for_channel(channel.name)
            if agent is None:
                agent = await self._executor.asterisk.agent_named_on(channel.id)
            self.feed(call_id, m.AgentAnswered(channel, agent))
        elif role == "outbound":
            # C6: an agent's phone dialled a customer through reccontrol-outbound.
            call_id = new_id(self._rng, 64)
            machine = outbound_call(
                call_id, self._config, channel, args[1:], settings=self._settings, rng=self._rng
            )
            await self._start(machine, channel, args[2] if len(args) > 2 else "")
        elif role == "customer":
            call_id = args[1] if len(args) > 1 else ""
            if not await self._our_leg(channel, call_id, "customer"):
                return
            self.feed(call_id, m.CustomerAnswered(channel))
        elif role in (LISTENING_ARG, WHISPER_ARG):
            # A listening's channel (S8), the whisper of the agent's tones (A10): no call.
            call_id = args[1] if len(args) > 1 else ""
            if await self._our_leg(channel, call_id, role):
                self.feed(call_id, m.snoop_up(role, channel.id))
        elif role in ("private-outbound", "private-line"):
            await self._private_call(channel, role, args[1] if len(args) > 1 else "")
        else:
            what = "entered the application with unknown arguments"
            log.error("channel %s %s; the call goes on unrecorded", channel.id, what)
            await self._executor.asterisk.return_to_dialplan(channel.id)

    def _may_start(self, channel: Channel) -> bool:
        """Whether a channel may enter as something new (a call, a private call): not
        one a call already owns, nor a leg the controller dialled. A StasisStart saying
        otherwise would hand a call's channel to another, or a leg to a new call."""
        return channel.id not in self._by_channel and not is_our_leg(channel.id)

    async def _our_leg(self, channel: Channel, call_id: str, leg: str) -> bool:
        """Whether an agent, customer or listening leg entering the application is one
        the controller made for ``call_id``: the id it chose for that call's leg. A leg
        of ours for a call that is over is hung up here (False); anything else is
        refused, and never hung up: its id was not chosen by us."""
        if not is_leg_of(channel.id, call_id, leg):
            self._refuse(f"a StasisStart as {leg} for a channel that is not that leg", channel.id)
            return False
        ctx = self.calls.get(call_id)
        if ctx is None or ctx.finished:
            log.warning("%s channel %s answered for a call that is over", leg, channel.id)
            await self._executor.asterisk.hang_up_stray(channel.id)
            return False
        outbound = ctx.machine.direction == "outbound"
        if leg == "agent" and outbound:
            # An outbound call's agent is the phone that dialled: it never enters as a leg.
            self._refuse("a StasisStart as agent for an outbound call", channel.id)
            return False
        if leg == "customer" and not outbound:
            self._refuse("a StasisStart as customer for an inbound call", channel.id)
            return False
        return True

    def _refuse(self, what: str, channel_id: str | None = None) -> None:
        """Counts and logs an event that is not acted on. The log names no channel and
        no number: a forged frame chooses them."""
        self.refused += 1
        log.warning("ARI: ignored %s (%d event(s) ignored so far)", what, self.refused)
        if channel_id is not None:
            # Asterisk says whether it really is in the application; only then is it
            # let go (back to the dialplan, or hung up if it is a leg of ours).
            self.release_strangers([channel_id])

    async def _private_call(
        self, channel: Channel, role: str, line: str, unhandled: bool = False
    ) -> None:
        """A2: private calls never reach a recorded bridge. They are counted for their
        agent and handed straight back to the dialplan, which dials them."""
        now = self._clock.now()
        self._executor.store_write(private_call_count(self._config, channel, role, line, now))
        asterisk = self._executor.asterisk
        back = asterisk.return_to_dialplan if unhandled else asterisk.continue_private_call
        await back(channel.id)

    async def _start(self, machine: Call | str, channel: Channel, number: str) -> None:
        """A new call on the channel that entered (or why there is none: the channel
        then goes back to the dialplan, whose fallback carries it on unrecorded)."""
        if isinstance(machine, str):
            log.error("channel %s: %s; the call goes on unrecorded", channel.id, machine)
            await self._executor.asterisk.return_to_dialplan(channel.id)
            return
        # Queued before the call starts, so the store thread does it before the call's
        # own lookup (C4).
        carried = earlier_objection(self._config, number, machine.caller_hash)
        if carried is not None:
            self._executor.store_write(carried)
        log.info(
            "call %s (%s, %s): started on channel %s",
            machine.call_id, machine.service.name, machine.direction, channel.id,
        )  # fmt: skip
        self._register(machine, machine.start(self._clock.now()))

    def _register(self, machine: Call, first: list[c.Command]) -> None:
        """The call's channels and recording lead to it from now on; its first batch
        runs on its own task."""
        call_id = machine.call_id
        ctx = CallContext(machine)
        self.calls[call_id] = ctx
        for channel_id in machine.channel_ids:
            self._by_channel[channel_id] = call_id
        if machine.recording is not None:
            self._by_recording[machine.recording.name] = call_id
        ctx.task = asyncio.create_task(self._run(call_id, ctx), name=f"call-{call_id}")
        ctx.queue.put_nowait(Batch(first))
        self.live.observe(machine, self._clock.now())

    def _to_channel(self, channel_id: str, message: m.Message) -> None:
        # Listening channels (S8) are found by their name alone (the name is read only
        # for a channel not known: every channel's end passes here, three times).
        call_id = self._by_channel.get(channel_id) or (
            call_of(channel_id) if is_our_leg(channel_id) else ""
        )
        if call_id:
            self.feed(call_id, message)

    def _to_recording(self, name: str, message: m.Message) -> None:
        call_id = owner_of(self._by_recording, name)
        if call_id is not None:
            self.feed(call_id, message)

    async def urgent(self, call_id: str, message: m.Message, received: float | None = None) -> None:
        """A key, a hold (A9) or a transfer (its segment stops before the new party is
        heard): a protective batch runs right here when nothing of the call runs."""
        ctx = self.calls.get(call_id)
        if ctx is None or ctx.finished:
            return
        if ctx.waiting is not None:
            ctx.waiting.append((message, received))
            return
        now = self._clock.now()
        if not (commands := ctx.machine.handle(message, now)):
            return
        batch = Batch(commands, received)
        if isinstance(commands[0], URGENT) and not ctx.lock.locked() and ctx.queue.empty():
            async with ctx.lock:
                await self._executor.run_batch(call_id, batch)
        else:
            ctx.queue.put_nowait(batch)
        # The machine's time: the board uses it only for a call it has not seen yet.
        self.live.observe(ctx.machine, now)

    def first_look(self, data: dict[str, Any], received: float) -> Awaitable[None] | None:
        """The events stream's look at each decoded frame, before it is parsed (A5, M2):
        an agent's key whose pause the call armed has that pause sent from here, then
        the call hears the key, as :meth:`_key` does, and the event that follows is
        not handled again. Only for our application, a call idle and not being adopted;
        anything else waits for the event, as every frame does."""
        if data.get("type") != "ChannelDtmfReceived" or self.adoption.pending:
            return None
        channel, digit = data.get("channel"), data.get("digit")
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if (
            data.get("application") != self._app
            or not isinstance(digit, str)
            or not isinstance(channel_id, str)
        ):
            return None
        ctx = self.calls.get(self._by_channel.get(channel_id, ""))
        if (
            ctx is None
            or ctx.finished
            or ctx.waiting is not None
            or ctx.lock.locked()
            or not ctx.queue.empty()
            or (first := ctx.machine.protective_key(channel_id, digit, received)) is None
        ):
            return None
        self._ahead = (channel_id, received)
        call_id = ctx.machine.call_id
        return self._pause_first(call_id, ctx, first, channel_id, digit, received)

    async def _key(self, call_id: str, channel_id: str, digit: str, received: float) -> None:
        """A key pressed on a call's channel: the agent's pause goes out first, when
        nothing of the call runs; any other key is urgent (its message built here, after
        the pause has left)."""
        ctx = self.calls.get(call_id)
        if (
            ctx is not None
            and ctx.waiting is None
            and not ctx.lock.locked()
            and ctx.queue.empty()
            and (first := ctx.machine.protective_key(channel_id, digit, received)) is not None
        ):
            await self._pause_first(call_id, ctx, first, channel_id, digit, received)
            return
        await self.urgent(call_id, m.Dtmf(channel_id, digit, received), received)

    async def _pause_first(
        self,
        call_id: str,
        ctx: CallContext,
        first: c.PauseRecording,
        channel_id: str,
        digit: str,
        received: float,
    ) -> None:
        """The agent's pause key, the hot path (A5, M2): the pause the machine will ask
        for is sent before the machine runs, as a bare client would. The machine then
        hears the key, then what came for the call meanwhile (held back, so it hears them
        in the order they came), and its batch runs with the pause already answered: a
        failure of it goes back to the machine as any REST failure does."""
        async with ctx.lock:
            ctx.waiting = []
            try:
                sent = await self._executor.send_first(first)
            finally:
                # Whatever became of the request (cancelled, or an error other than
                # Asterisk's answer), the machine has heard the key, as it had before the
                # request left when the machine ran first. Its time is read here, not
                # before the request: the pause is in force from Asterisk's answer.
                now = self._clock.now()
                commands = ctx.machine.handle(m.Dtmf(channel_id, digit, received), now)
                waiting, ctx.waiting = ctx.waiting, None
                for message, trigger in waiting:
                    self.feed(call_id, message, trigger)
            await self._executor.run_batch(call_id, Batch(commands, received, sent))
        self.live.observe(ctx.machine, now)

    def feed(self, call_id: str, message: m.Message, trigger: float | None = None) -> None:
        """Hands a message to a call's machine; its commands join the call's queue."""
        if self.adoption.holds(call_id):
            self.adoption.hold(call_id, (message, trigger))
            return
        if self.transfers.defers(call_id, message):
            return  # until Asterisk says who answered the call's transfer
        ctx = self.calls.get(call_id)
        if ctx is None or ctx.finished:
            return
        if ctx.waiting is not None:
            ctx.waiting.append((message, trigger))
            return
        now = self._clock.now()
        commands = ctx.machine.handle(message, now)
        if commands:
            ctx.queue.put_nowait(Batch(commands, trigger))
        self.live.observe(ctx.machine, now)

    def track_recording(self, call_id: str, name: str) -> None:
        """Recording events name the recording only: remember whose it is."""
        self._by_recording[name] = call_id

    def recordings_in_hand(self) -> set[str]:
        """Recordings calls own or still settle: the orphan sweep leaves their files alone."""
        return set(self._by_recording) | self._executor.settling | self.adoption.recording_names()

    # -- calls a previous run left open (R1) ------------------------------------------
    async def adopt_open_calls(self) -> None:
        """Carries on each call a previous run left open that is still bridged, and ends
        safely the others (:mod:`controller.calls.adoption`), each on its own while
        events flow (:mod:`controller.calls.adopting`)."""
        left = await self.adoption.left_open()
        if left is not None:
            await self.adoption.adopt(left)

    def take_over(self, plan: Adopted) -> None:
        machine = plan.machine
        self._register(machine, plan.commands)
        self.transfers.adopted(machine.call_id)
        # Every leg gone: the call was lost with Asterisk or while nobody listened.
        lost = set(plan.gone) >= set(machine.channel_ids)
        for leg in plan.gone:
            self.feed(machine.call_id, m.ChannelGone(leg, lost=lost))

    def release_strangers(self, channel_ids: Iterable[str]) -> asyncio.Task[None] | None:
        """Channels in the application that no call owns: a caller back to the dialplan,
        unrecorded, a stray leg of ours hung up. Idempotent; see
        :meth:`GapRecovery.release_strangers`."""
        return self.gap.release_strangers(channel_ids)

    # -- running batches -------------------------------------------------------------
    async def _run(self, call_id: str, ctx: CallContext) -> None:
        while not ctx.finished:
            batch = await ctx.queue.get()
            async with ctx.lock:
                await self._executor.run_batch(call_id, batch)

    def forget(self, call_id: str) -> None:
        """The call is over: no more events or timers reach it."""
        ctx = self.calls.pop(call_id, None)
        self._executor.drop_timers(call_id)
        self.live.ended(call_id)
        if ctx is None:
            return
        ctx.finished = True
        if ctx.task is not None and ctx.task is not asyncio.current_task():
            # Finished from a key's inline batch: the call's idle task has nothing left.
            ctx.task.cancel()
        self._by_channel.forget_call(call_id)
        self._by_recording.forget_call(call_id)

    async def close(self, grace: float) -> None:
        """Stops the calls' timers; lets queued batches run for up to ``grace`` seconds."""
        self.gap.cancel()
        if self._settling is not None:
            self._settling.cancel()
        tasks = [ctx.task for ctx in self.calls.values() if ctx.task is not None]
        for call_id in self.calls:
            self._executor.drop_timers(call_id)
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
