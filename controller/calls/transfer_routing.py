"""Where a transfer's events go (R3): the router's part of :mod:`controller.calls.transfer`.

A ``StasisStart`` without arguments whose ``replace_channel`` is the agent leg of a call
in progress is that call's transfer: the new channel is the call's from then on, and
the call is told (never a new call, never continued to the dialplan, which would strand
the caller in the bridge). When that channel comes up (``ChannelStateChange``), the
agent behind it is asked of Asterisk (A7) and the call is told who answered.

A call carried on after a restart in the middle of a transfer (R1) may have had its
target answer while nobody listened: Asterisk is asked, on a task of its own. Until it
answers (or for :data:`ASKING_SECONDS` at most), the legs reported gone for that call are
held back and then handed over: a caller who hung up meanwhile ends a call that knows
who took it. Nothing else waits for that answer: neither the events, nor the resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, MutableMapping
from typing import Any

from controller.ari.events import ChannelStateChange, ChannelVarset, Dial
from controller.ari.models import Channel
from controller.calls import messages as m
from controller.calls.context import CallContext
from controller.calls.executor import CommandExecutor
from controller.calls.transfer import (
    ATTENDED_TRANSFER,
    TransferAnnounced,
    TransferAnswered,
    TransferOnward,
    far_half,
    target_of,
    transfer_of,
)
from controller.config.model import Config

log = logging.getLogger("reccontrol.calls")

ASKING_SECONDS = 10.0
"""How long the legs gone of a call carried on mid-transfer wait for Asterisk to say who
answered the transfer. Past it (Asterisk unreachable, the link cut), the call is told at
once and ends without knowing, on the safe side: nothing recorded for that party."""


class TransferRouting:
    def __init__(
        self,
        calls: Mapping[str, CallContext],
        owners: MutableMapping[str, str],
        feed: Callable[[str, m.Message], None],
        urgent: Callable[[str, m.Message], Awaitable[None]],
        executor: CommandExecutor,
        config: Config,
    ) -> None:
        self._calls = calls
        self._owners = owners
        """Channel id -> call id: the router's own map, which this extends."""
        self._feed = feed
        self._urgent = urgent
        """For the transfer itself: its segment's stop leaves from the event handler."""
        self._asterisk = executor.asterisk
        self._config = config
        self._checks: set[asyncio.Task[None]] = set()
        self._far: dict[str, tuple[str, str]] = {}
        """A transfer's far half (``;2``, watched) -> the call and its ``;1`` half."""
        self._asking: dict[str, list[m.Message]] = {}
        """Calls carried on mid-transfer whose target Asterisk is being asked about ->
        the legs reported gone meanwhile, held back until it answers."""

    def _call_of_agent(self, channel_id: str) -> str | None:
        """The call in progress whose agent leg ``channel_id`` is, or None."""
        ctx = self._context(channel_id)
        if ctx is None or ctx.machine.agent_channel_id != channel_id:
            return None
        return ctx.machine.call_id

    def _transfer_leg(self, channel_id: str) -> bool:
        """Whether ``channel_id`` is already the channel of its call's transfer."""
        ctx = self._context(channel_id)
        transfer = ctx.machine.transfer if ctx is not None else None
        return transfer is not None and transfer.leg == channel_id

    def _context(self, channel_id: str) -> CallContext | None:
        call_id = self._owners.get(channel_id)
        ctx = self._calls.get(call_id) if call_id is not None else None
        return ctx if ctx is not None and not ctx.finished else None

    async def entered(
        self, args: tuple[str, ...], channel: Channel, replaced: Channel | None
    ) -> bool:
        """Whether the channel that entered the application is a transfer of one of our
        calls; if so it is handed to that call."""
        if not args and replaced is not None and self._transfer_leg(channel.id):
            # Held while its call was adopted, which found it in the call's bridge and
            # carried the call on with it already: nothing new, but maybe its answer.
            await self.state_changed(channel)
            return True
        started = transfer_of(args, channel, replaced, self._call_of_agent)
        if started is None or channel.id in self._owners:
            return False
        call_id = self._call_of_agent(started.replaced)
        assert call_id is not None
        self._owners[channel.id] = call_id
        await self._urgent(call_id, started)
        log.info("call %s: transferred by the agent to channel %s", call_id, channel.id)
        self._spawn(self._watch(call_id, channel))
        if channel.state == "Up":
            # Answered before its StasisStart was read: no state change will follow.
            await self.state_changed(channel)
        return True

    async def event(self, event: ChannelStateChange | Dial | ChannelVarset) -> None:
        """A channel's state changed, a dial progressed or a variable was set: maybe a
        transfer's."""
        if isinstance(event, ChannelStateChange):
            await self.state_changed(event.channel)
        elif isinstance(event, ChannelVarset):
            await self.varset(event)
        elif event.caller is not None:
            self.dialled(event.caller, event.peer, event.dialstatus)

    async def varset(self, event: ChannelVarset) -> None:
        """Asterisk's first word of an attended transfer of a call's party: told to the
        call from the event handler, for the swap follows (see :class:`TransferAnnounced`)."""
        if event.variable != ATTENDED_TRANSFER or event.channel is None:
            return
        ctx = self._context(event.channel.id)
        if ctx is not None:
            await self._urgent(ctx.machine.call_id, TransferAnnounced(event.channel.id))

    async def state_changed(self, channel: Channel) -> None:
        """A transfer's channel answered: the call learns who answered (A7). Asking
        Asterisk takes a few round trips: on a task of its own, so that no other call's
        key waits behind them."""
        call_id = self._answering(channel)
        if call_id is not None:
            self._spawn(self._identify(call_id, channel))

    def _answering(self, channel: Channel) -> str | None:
        """The call whose transfer ``channel`` is, if it is up and the call has not
        heard of it yet."""
        ctx = self._context(channel.id)
        if channel.state != "Up" or ctx is None:
            return None
        machine = ctx.machine
        transfer = machine.transfer
        if transfer is None or transfer.leg != channel.id or machine.agent_leg.up:
            return None
        return machine.call_id

    async def _watch(self, call_id: str, channel: Channel) -> None:
        """The far half's ``Dial`` events tell when the agent who took the transfer
        transfers the call on (:meth:`dialled`)."""
        far = await self._asterisk.watch(far_half(channel.name))
        # The far halves of calls that are over are forgotten here: they dial no more.
        for gone in [f for f, (call, _) in self._far.items() if call not in self._calls]:
            del self._far[gone]
        if far is not None:
            self._far[far] = (call_id, channel.id)

    def dialled(self, caller: Channel, peer: Channel, status: str) -> None:
        """A ``Dial`` from a watched far half: a new dial once the transfer's party
        answered is the call transferred on; its answer names who took it (A7), the
        channel the dial reached, matched against the agents' endpoints."""
        call_id, leg = self._far.get(caller.id, ("", ""))
        ctx = self._calls.get(call_id)
        if ctx is None or ctx.finished:
            self._far.pop(caller.id, None)
            return
        machine = ctx.machine
        if machine.transfer is None or machine.agent_leg.id != leg:
            return
        if status == "" and machine.agent_leg.up:
            self._feed(call_id, TransferOnward(leg))
        elif status == "ANSWER" and not machine.agent_leg.up:
            agent = self._config.agent_for_channel(peer.name)
            private = self._private_line(machine.transfer.target)
            self._feed(call_id, TransferAnswered(leg, agent, private))

    def _private_line(self, target: str) -> bool:
        """The transfer's target is an agent's private line (A2): never recorded."""
        return bool(target) and self._config.agent_for_private_line(target) is not None

    async def _identify(self, call_id: str, channel: Channel) -> None:
        agent = await self._asterisk.agent_behind(far_half(channel.name))
        private = self._private_line(target_of(channel.name))
        self._feed(call_id, TransferAnswered(channel.id, agent, private))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    def adopted(self, call_id: str) -> None:
        """A call carried on after a restart with a transfer's channel in place of its
        agent (R1): its target may have answered while nobody listened, and no state
        change will say so again. Asterisk is asked, apart from the adoption; the legs
        reported gone meanwhile wait for its answer (:meth:`defers`)."""
        ctx = self._calls.get(call_id)
        transfer = ctx.machine.transfer if ctx is not None else None
        if transfer is None or transfer.answered:
            return
        self._asking[call_id] = []
        self._spawn(self._answered_meanwhile(call_id, transfer.leg))

    def defers(self, call_id: str, message: m.Message) -> bool:
        """Whether ``message`` waits for Asterisk's answer about the call's transfer
        (then it is kept, in order). Only a leg gone does: it would end a call that does
        not know yet who took it, whose segment then goes undecided and whose agent
        unnamed (R3, A7). Keys and the rest reach the call at once."""
        held = self._asking.get(call_id)
        if held is None or not isinstance(message, m.ChannelGone):
            return False
        held.append(message)
        return True

    async def _answered_meanwhile(self, call_id: str, leg: str) -> None:
        channel: Channel | None = None
        try:
            async with asyncio.timeout(ASKING_SECONDS):
                channel = await self._asterisk.channel_in_stasis(leg)
                if channel is not None and self._answering(channel) == call_id:
                    await self._identify(call_id, channel)
        except TimeoutError:
            log.warning("call %s: who answered its transfer is unknown (no answer)", call_id)
            channel = None
        finally:
            # Answered or not, known or not: the legs gone meanwhile now end the call.
            for message in self._asking.pop(call_id, []):
                self._feed(call_id, message)
        if channel is not None and call_id in self._calls:
            await self._watch(call_id, channel)
