"""What the daemon missed while its ARI events websocket was down or deaf (R1), made safe
once it is back.

Asterisk keeps no events for a disconnected application (and a deaf link loses them
in flight), so after a reconnect:

* every call is told its keys went unheard (:class:`~controller.calls.messages.KeysUnheard`):
  a recording that ran meanwhile is discarded, a call not decided yet is not recorded;
* a playback a call waits for that ended in the gap is taken as finished, so nobody waits
  in silence after the announcement;
* a leg the controller dialled that answered in the gap is taken as answered;
* a channel in the application that no call owns (its StasisStart lost) is released: a
  caller back to the dialplan, unrecorded; a stray leg of ours hung up.

The channel and playback checks run beside the events, after a short grace: an event
already on its way on the new connection is handled first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from controller.calls import messages as m
from controller.calls.call import Call
from controller.calls.executor import CommandExecutor
from controller.calls.ids import (
    bridge_id,
    call_of,
    far_side_id,
    is_leg_of,
    is_our_leg,
    listening_bridge,
    listening_of,
)
from controller.clock import Clock
from controller.config.model import Config

log = logging.getLogger("reccontrol.calls")

GRACE = 0.5
"""Seconds given to an event that may already be on its way on the new connection (a
StasisStart) before a channel it would explain is judged."""
Machines = Callable[[], dict[str, Call]]
"""The machines of the calls in progress, by call id."""
Feed = Callable[[str, m.Message], None]


class GapRecovery:
    def __init__(
        self,
        *,
        machines: Machines,
        owners: Callable[[], dict[str, str]],
        feed: Feed,
        executor: CommandExecutor,
        config: Config,
        clock: Clock,
    ) -> None:
        self._machines = machines
        self._owners = owners
        self._asterisk_start: str | None = None
        """When the Asterisk of the last connection started."""
        self._feed = feed
        self._executor = executor
        self._config = config
        self._clock = clock
        self._releasing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """Checks still running beside the events."""
        return bool(self._tasks)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the resync ------------------------------------------------------------------
    async def asterisk_restarted(self) -> bool:
        """Whether Asterisk restarted since the last connection. Its restart ended every
        call it had, and the link dropped with it: nothing was recorded, and no key
        pressed, while the daemon could not hear, so nothing is discarded for that."""
        started = await self._executor.asterisk.asterisk_started()
        before, self._asterisk_start = self._asterisk_start, started or self._asterisk_start
        restarted = before is not None and started is not None and started != before
        if restarted:
            log.warning("Asterisk restarted while the link to it was down")
        return restarted

    async def resync(self, in_application: set[str], reconnect: bool) -> None:
        """After a reconnect, calls whose channels vanished during the gap are ended.

        Gone means gone from Asterisk (``GET /channels``), not merely absent from the
        application: an agent leg still ringing is not in Stasis yet, and one not yet
        dialled does not exist at all; calling either gone would leave the agent's
        phone in a dead call once it answers."""
        existing = await self._executor.asterisk.existing_channels()
        if existing is None:
            log.warning("resync: Asterisk's channels unreadable; no call ended")
        owners, machines = self._owners(), self._machines()
        # A leg the call has not dialled yet cannot be gone.
        dialled = {
            ch for ch, call in owners.items() if call not in machines or machines[call].dialled(ch)
        }
        gone = dialled - existing if existing is not None else set()
        for channel_id in gone:
            call_id = owners[channel_id]
            # Every channel of the call gone at once: Asterisk died or restarted unseen.
            lost = all(ch in gone for ch in dialled if owners[ch] == call_id)
            self._feed(call_id, m.ChannelGone(channel_id, lost=lost, unseen=True))
        # Channels no call owns: their StasisStart was lost (the link was down, or the
        # daemon was): released once a grace has passed, whether this is the first
        # connection or a reconnect.
        self.release_strangers(in_application - set(owners))
        if reconnect:
            log.info("resynced after reconnect: %d call(s) in progress", len(machines))

    # -- keys ------------------------------------------------------------------------
    def keys_unheard(self, blind_since: float) -> None:
        """ARI events were lost from ``blind_since`` (monotonic) until now: every call in
        progress is told, so a recording that ran while a key (pause, private, opt-out)
        could go unheard is discarded on the safe side (see
        :meth:`~controller.calls.recording.RecordingControl.discard_unheard`)."""
        blind = max(0.0, self._clock.monotonic() - blind_since)
        since = self._clock.now() - dt.timedelta(seconds=blind)
        calls = list(self._machines())
        log.warning(
            "ARI events were lost for %.1f s; checking %d call(s) in progress", blind, len(calls)
        )
        for call_id in calls:
            self._feed(call_id, m.KeysUnheard(since))

    # -- events the calls wait for ---------------------------------------------------
    def whispers_entered(self, in_application: set[str]) -> None:
        """Whisper snoops (A10) that entered the application in the gap, their
        StasisStart lost: without this the agent's tones, the refused sound the gap
        brings first, would be played to their channel, holding their voice back from
        the caller, for the rest of the call. Nothing asked of Asterisk: the
        connection's list of channels says it."""
        for call_id, machine in self._machines().items():
            snoop = machine.awaited_whisper
            if snoop is not None and snoop in in_application:
                log.info("call %s: whisper %s entered unheard", call_id, snoop)
                self._feed(call_id, m.WhisperUp(snoop))

    def recover(self, in_application: set[str]) -> None:
        """After the resync: playbacks that ended and legs that answered in the gap."""
        for call_id, machine in self._machines().items():
            if machine.awaited_playbacks:
                work = self._recover_playbacks(call_id, machine.awaited_playbacks)
                self._background(work, "reccontrol-recover-playbacks")
            leg = machine.unanswered_leg
            if leg is not None and leg in in_application:
                self._background(self._recover_answer(call_id, leg), "reccontrol-recover-answer")

    def _waits_for(self, call_id: str) -> Call | None:
        return self._machines().get(call_id)

    async def _recover_playbacks(self, call_id: str, playback_ids: tuple[str, ...]) -> None:
        """A playback the call waits for (its announcement, say) that Asterisk no longer
        has ended in the gap, its PlaybackFinished lost: without it the call would wait
        in silence for good."""
        for playback_id in playback_ids:
            if not await self._executor.asterisk.playback_over(playback_id):
                continue
            machine = self._waits_for(call_id)
            if machine is not None and playback_id in machine.awaited_playbacks:
                log.info("call %s: playback %s ended unheard", call_id, playback_id)
                self._feed(call_id, m.PlaybackDone(playback_id))

    async def _recover_answer(self, call_id: str, leg: str) -> None:
        """A leg the controller dialled sits in the application, its StasisStart lost:
        it answered in the gap. Still unanswered for its call after the grace, it is
        taken as answered."""
        await asyncio.sleep(GRACE)
        channel = await self._executor.asterisk.channel_in_stasis(leg)
        machine = self._waits_for(call_id)
        if channel is None or machine is None or machine.unanswered_leg != leg:
            return
        log.info("call %s: leg %s answered unheard", call_id, leg)
        if machine.direction == "inbound":
            agent = self._config.agent_for_channel(channel.name)
            if agent is None:
                agent = await self._executor.asterisk.agent_named_on(leg)
            if machine.unanswered_leg == leg:
                self._feed(call_id, m.AgentAnswered(channel, agent))
        else:
            self._feed(call_id, m.CustomerAnswered(channel))

    # -- strangers -------------------------------------------------------------------
    def release_strangers(self, channel_ids: Iterable[str]) -> asyncio.Task[None] | None:
        """Releases channels found in the application that no call owns, their
        StasisStart lost (it came while the events websocket was down or deaf, or before
        a restart). Once :data:`GRACE` has passed, each one still in the application and
        still untracked is let go: a leg the controller dialled (``rc-…-agent``,
        ``rc-…-customer``) is hung up, any other channel parked in Stasis goes back to the
        dialplan with ``RECCONTROL_RESULT=unhandled``, whose fallback carries the call on
        unrecorded. Idempotent: a channel already being released, or no longer in the
        application, is left alone. Returns the task doing it, if any."""
        tracked = set(self._owners())
        fresh = {i for i in channel_ids if i not in tracked and i not in self._releasing}
        if not fresh:
            return None
        self._releasing |= fresh
        return self._background(self._release(fresh), "reccontrol-release-strangers")

    async def _release(self, channel_ids: set[str]) -> None:
        try:
            await asyncio.sleep(GRACE)
            present = await self._executor.asterisk.application_channels()
            if present is None:
                log.warning(
                    "%d untracked channel(s) in the application could not be checked; left "
                    "for the next resync",
                    len(channel_ids),
                )
                return
            tracked = set(self._owners())
            tracked |= {far_side_id(channel_id) for channel_id in tracked}
            for channel_id in sorted((channel_ids & present) - tracked):
                if is_our_leg(channel_id):
                    log.warning(
                        "channel %s: a leg this controller dialled for a call it no longer "
                        "has; hung up",
                        channel_id,
                    )
                    await self._executor.asterisk.hang_up_stray(channel_id)
                    listening = listening_of(channel_id)
                    call = call_of(channel_id)
                    if listening is not None:
                        # A listening left by a previous run (S8): its bridge too.
                        bridge = listening_bridge(*listening)
                        await self._executor.asterisk.destroy_stray_bridge(bridge)
                    elif call not in self._machines() and any(
                        is_leg_of(channel_id, call, leg) for leg in ("agent", "customer")
                    ):
                        # The leg of a call no run carries on (one declared private
                        # before a restart: A2, never adopted): its bridge goes too.
                        await self._executor.asterisk.destroy_stray_bridge(bridge_id(call))
                elif await self._executor.asterisk.in_stasis(channel_id):
                    log.warning(
                        "channel %s entered the application unheard (its StasisStart was "
                        "lost); handed back to the dialplan, unrecorded",
                        channel_id,
                    )
                    await self._executor.asterisk.return_to_dialplan(channel_id)
        finally:
            self._releasing -= channel_ids
