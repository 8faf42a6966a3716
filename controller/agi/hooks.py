"""The ``connected`` and ``hangup`` scripts: the recording of a call that came over
FastAGI, driven by the site's dialplan (``dialplan/reccontrol-agi.conf``).

* ``agi://HOST:PORT/connected``, from ``Dial(…,U(reccontrol-agi-connected))`` or a
  ``Queue()`` gosub, on the **agent's** channel once it answered: the agent is named
  from the channel (A3, A7), the call decided (P1-P4, A1, A8) and, when allowed and the
  caller did not object (C1, C2, C4), ``MixMonitor`` records the agent's channel.
* ``agi://HOST:PORT/hangup``, from the hang-up handler the shipped subroutine pushes on
  the agent's channel (and the ``inbound`` script on the caller's): the agent's channel
  stops its recording, which goes into the vault; the caller's closes the call row.

* ``agi://HOST:PORT/pause``, ``/resume``, ``/record``, ``/private``, ``/card``: the
  agent's keys, run on the agent's channel by the shipped feature map
  (``dialplan/reccontrol-features.conf``), each as the ARI path's key (A2, A4, A5, M2).

All read the call's state from the store (the call id is the inherited
``RECCONTROL_CALL_ID``): a daemon restarted between the two still has all it needs (R1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re

from controller.agi.channel_variables import (
    CALL_ID_VARIABLE,
    CONSENT_VARIABLE,
    ERROR_VARIABLE,
    KEY_RESULT,
    MIXMONITOR_ID,
    STOPPED_FIRST,
)
from controller.agi.errors import AgiError
from controller.agi.protocol import AgiRequest
from controller.agi.recorder import AgiRecorder
from controller.agi.session import AgiSession
from controller.ami import AmiClient, AmiError
from controller.calls import commands as c
from controller.calls.agi_opening import OBJECTED, AgiOpening, Connected
from controller.calls.call_settings import call_settings
from controller.clock import Clock
from controller.config.model import Config
from controller.records import OpenCall
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.agi")

UNKNOWN_CALL = "unknown-call"
"""``RECCONTROL_ERROR`` of a ``connected`` hook whose channel carries no open AGI call."""
_CALL_ID = re.compile(r"[0-9a-f]{16,64}")




class _Hook:
    def __init__(
        self,
        config: Config,
        store: StoreThread[SqliteStore],
        recorder: AgiRecorder,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._store = store
        self._recorder = recorder
        self._clock = clock
        self._rng = rng
        self._settings = call_settings(config)

    async def _call_id(self, session: AgiSession) -> str | None:
        value = await session.get_variable(CALL_ID_VARIABLE)
        return value if value and _CALL_ID.fullmatch(value) else None

    def _opening(self, call: OpenCall) -> AgiOpening | None:
        service = self._config.services.get(call.service)
        if service is None or call.path != "agi":
            return None
        return AgiOpening(call, service, self._settings, self._rng)

    async def _objected_before(self, call: OpenCall) -> bool:
        """As on the ARI path: a ledger that cannot be read counts as an objection (C4)."""
        hashed = call.caller_hash
        if hashed is None:
            return False
        now = self._clock.now()
        try:
            return await self._store.run(lambda s: s.has_objection(hashed, now))
        except Exception as exc:
            log.error(
                "call %s: objection lookup failed (%s); not to be recorded",
                call.call_id, type(exc).__name__,
            )  # fmt: skip
            return True


class ConnectedScript(_Hook):
    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        call_id = await self._call_id(session)
        found = await self._store.run(lambda s: s.open_call(call_id)) if call_id else None
        opening = self._opening(found) if found is not None else None
        if opening is None:
            log.warning(
                "AGI connected (channel %s): no open FastAGI call on the channel; %s=%s, "
                "not recorded", request.uniqueid, ERROR_VARIABLE, UNKNOWN_CALL,
            )  # fmt: skip
            await session.set_variable(ERROR_VARIABLE, UNKNOWN_CALL)
            return
        call = opening.call
        hook = Connected(
            call=call,
            service=opening.service,
            agent=self._config.agent_for_channel(request.channel),
            consent=await session.get_variable(CONSENT_VARIABLE),
            remembered_objection=await self._objected_before(call),
        )
        if hook.agent is None:
            log.info("%s: the answering channel is not a configured agent's", opening.log_prefix)
        commands = opening.connected(hook, self._clock.now())
        await self._recorder.run(session, opening, commands)

class HangupScript(_Hook):
    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        call_id = await self._call_id(session)
        if call_id is None:
            return
        call, still_open = await self._store.run(
            lambda s: (s.open_call(call_id, ended_too=True), s.open_call(call_id))
        )
        opening = self._opening(call) if call is not None else None
        if opening is None:
            return
        live = opening.call.recording
        # From the first command on: the sweep must not take the file while MixMonitor
        # is being stopped.
        with self._recorder.holding(live.name) if live else contextlib.nullcontext():
            try:
                holds = bool(await session.get_variable(MIXMONITOR_ID))
            except AgiError:
                holds = False
            # The caller's channel is the one the call came in on (the inbound script
            # stored its unique id): its end is the call's.
            entry = still_open is not None and request.uniqueid == opening.call.channel_id
            outbound = entry and opening.call.direction == "outbound"
            dial_status = await _dial_status(session) if outbound else None
            commands = opening.hung_up(holds_recording=holds, entry=entry, dial_status=dial_status)
            await self._recorder.run(session, opening, commands)


async def _dial_status(session: AgiSession) -> str | None:
    """``DIALSTATUS`` of the channel the call began on: how an outbound call that
    nobody decided ended (busy, not answered, …)."""
    try:
        return await session.get_variable("DIALSTATUS")
    except AgiError:
        return None


class KeyScript(_Hook):
    """One of the agent's keys (``pause``, ``resume``, ``record``, ``private``, ``card``) on
    the agent's channel: the call rebuilt from its row, the key taken by the ARI path's own
    conversation, its commands carried out on this channel (and over AMI for a muted
    pause)."""

    def __init__(
        self,
        name: str,
        config: Config,
        store: StoreThread[SqliteStore],
        recorder: AgiRecorder,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        super().__init__(config, store, recorder, clock, rng)
        self._name = name

    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        # Protective first, as the ARI path's pause: in silence mode nothing the agent
        # says after the key may wait on the store or the decision to stay out of the
        # file. What it takes comes with the request (the subroutine's arguments).
        muted_first = False
        if mutes_first(self._name, request):
            muted_first = await self._recorder.mute_first(request.channel)
        call_id = await self._call_id(session)
        found = await self._store.run(lambda s: s.open_call(call_id)) if call_id else None
        opening = self._opening(found) if found is not None else None
        if opening is None:
            if muted_first:
                await self._recorder.unmute_refused(request.channel, after_sound=False)
            # A call made private is gone from the store: a key after it has nothing
            # to act on, which is no reason for the subroutine's fail-safe.
            await session.set_variable(ERROR_VARIABLE, UNKNOWN_CALL)
            await session.set_variable(KEY_RESULT, "done")
            return
        call = opening.call
        consent = await session.get_variable(CONSENT_VARIABLE)
        objected = call.objected or consent == OBJECTED or await self._objected_before(call)
        agent = self._config.agent_for_channel(request.channel)
        holds = bool(await session.get_variable(MIXMONITOR_ID))
        now = self._clock.now()
        commands = opening.key(
            self._name, agent, caller_objected=objected, now=now, holds_recording=holds
        )
        await self._recorder.run(
            session, opening, commands, channel=request.channel, muted_first=muted_first
        )
        if muted_first and opening.rec.pause is None:
            # Refused, or nothing to pause: the recording takes the conversation again,
            # once the refused tone played while muted has left MixMonitor's buffer.
            played = any(isinstance(x, c.Play) for x in commands)
            await self._recorder.unmute_refused(
                request.channel, after_sound=played, call_id=call.call_id
            )
        # Read after the key's commands: in silence mode the mute comes first.
        stopped_first = await session.get_variable(STOPPED_FIRST) == "yes"
        if stopped_first and holds and opening.rec.can_pause():
            # Stopped by the subroutine, yet neither paused nor made private: the key
            # was refused, and the recording goes on.
            await self._recorder.restart(session, opening)
        await session.set_variable(KEY_RESULT, "done")


MUTED_KEYS = ("pause", "card")
"""The keys whose protection, in silence mode, is the daemon's ``MixMonitorMute``. The
private key needs none: the shipped subroutine stops the recording itself, in every
mode, before it asks the daemon (``RECCONTROL_STOPPED``)."""
LIVE_ARGUMENT = "live"
"""The key's query arguments, from the shipped subroutine: ``live=1`` when the channel
holds the call's MixMonitor (``RECCONTROL_MIXMONITOR`` set), ``mode`` its pause mode
(``RECCONTROL_PAUSE_MODE``), ``paused`` how its open pause was made
(``RECCONTROL_PAUSED``, empty without one)."""
MODE_ARGUMENT = "mode"
PAUSED_ARGUMENT = "paused"


def mutes_first(script: str, request: AgiRequest) -> bool:
    """The key is a pause or card key on a channel whose recording runs, in silence
    mode, and is not paused already: the daemon mutes it before anything else. A
    subroutine that passes no arguments (an older copy) gets the mute in the decision's
    order, as before."""
    return (
        script in MUTED_KEYS
        and request.argument(LIVE_ARGUMENT) == "1"
        and request.argument(MODE_ARGUMENT) == "silence"
        and not request.argument(PAUSED_ARGUMENT)
    )


class PauseTimeouts(_Hook):
    """A pause of a FastAGI call at its limit, with no AGI session then: the daemon
    resumes the recording itself, with the ARI path's forced-resume row and alert (A5)."""

    async def __call__(self, call_id: str, pause_id: str, channel: str) -> None:
        found = await self._store.run(lambda s: s.open_call(call_id))
        opening = self._opening(found) if found is not None else None
        if opening is None:
            return
        commands = opening.pause_timer(pause_id, self._clock.now())
        await self._recorder.run(None, opening, commands, channel=channel)


class PausesAfterRestart(_Hook):
    """The open pauses of FastAGI calls a previous run left (R1): their timers were the
    dead daemon's. Each is armed again for what is left of its limit, counted from the
    stored start, so a pause already past it is resumed at once, with the same forced
    resume and alert (A5). The agent's channel is found over AMI; a call whose channel
    is gone is left to the hang-up hook or the restart's own clean-up."""

    async def __call__(self, ami: AmiClient, within: float = 60.0) -> None:
        calls = await self._store.run(lambda s: s.open_calls())
        paused = [c for c in calls if c.path == "agi" and c.recording and c.recording.pause_id]
        if not paused:
            return
        try:
            async with asyncio.timeout(within):
                await ami.connected.wait()
        except TimeoutError:
            log.error(
                "%d FastAGI pause(s) left open by the previous run: AMI not connected, their "
                "limits cannot be kept", len(paused),
            )  # fmt: skip
            return
        for call in paused:
            opening = self._opening(call)
            pause = opening.rec.pause if opening is not None else None
            if opening is None or pause is None:
                continue
            try:
                channel = await self._recorder.agent_channel(call)
            except AmiError as exc:
                log.error("%s: agent's channel not found (%s)", opening.log_prefix, exc.error_id)
                continue
            if channel is None:
                continue
            left = opening.pause_left(self._clock.now()) or 0.0
            self._recorder.start_pause_timer(call.call_id, pause.pause_id, channel, left)
            log.info("%s: open pause's limit kept after a restart (%.1f s left)",
                     opening.log_prefix, left)  # fmt: skip
