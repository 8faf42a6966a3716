"""Carries out an AGI call's commands: the FastAGI counterpart of the ARI path's
executor (:mod:`controller.calls.executor`).

The commands are those of :class:`~controller.calls.agi_opening.AgiOpening`, that is
of the ARI path's decision and recording machines. Store commands are written with the
same :func:`~controller.calls.store_writes.write_of`, a finished file goes through the
same vault intake (:class:`~controller.retention.intake.VaultIntake`); only the
recording itself differs: ``MixMonitor`` on the agent's channel, started and stopped
with AGI ``EXEC`` on the session of that very channel (no race with another channel of
the same name, no credentials on the wire).

The agents' pauses (A5) are carried out by the service's pause mode:

* ``skip``: ``StopMixMonitor`` at the pause, ``MixMonitor`` again with the append
  option ``a`` on the same file at the resume, both over AGI on the agent's channel;
* ``silence``: AMI's ``MixMonitorMute`` (both directions) on the agent's channel, the
  only way to mute a running MixMonitor. AMI unreachable at a pause, the recording is
  stopped as in skip mode instead: a pause is never left unkept.

The pause's time limit is a timer of this daemon (the key scripts' sessions are over by
then): at its limit the daemon resumes the recording over AMI by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeGuard, get_args

from controller.agi.channel_variables import CALL_ID_VARIABLE, MIXMONITOR_ID, PAUSE_MODE, PAUSED_HOW
from controller.agi.errors import AgiError
from controller.agi.pause_timers import PauseTimers
from controller.agi.session import AgiSession
from controller.ami import AmiClient, AmiError
from controller.calls import commands as c
from controller.calls import recording as r
from controller.calls.agi_opening import AgiOpening
from controller.calls.ids import is_interleaved
from controller.calls.store_writes import write_of
from controller.clock import Clock
from controller.config.model import Config
from controller.recordings import LocalVault
from controller.records import OpenCall
from controller.retention.intake import VaultIntake
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.agi")

RECORDING_FOLDER = "recording"
"""Under Asterisk's spool folder: where ARI recordings go too, the folder the vault
takes files in from."""
_STORE_COMMANDS = get_args(c.Store)
_SOUND_TAIL_SECONDS = 0.15
"""How long a muted pause outlasts the resume's sound (see :meth:`AgiRecorder._resume`)."""
PauseTimeout = Callable[[str, str, str], Coroutine[Any, Any, None]]
"""Told (call id, pause id, agent channel name) when a pause reaches its limit."""


class MixMonitorRefused(AgiError):
    error_id = "agi-mixmonitor-refused"


class _NoAmi(AmiError):
    error_id = "ami-not-connected"


class AgiRecorder:
    def __init__(
        self,
        config: Config,
        store: StoreThread[SqliteStore],
        vault: LocalVault,
        clock: Clock,
        ami: AmiClient | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._vault = vault
        self._clock = clock
        self._ami = ami
        self._intake = VaultIntake(vault=vault, store=store, clock=clock)
        self._holds: Counter[str] = Counter()
        self._timers = PauseTimers(self._fire)
        self._firing: set[asyncio.Task[None]] = set()
        self._spool: str | None = None
        self.on_pause_timeout: PauseTimeout | None = None
        """Set by the daemon: what resumes a pause at its limit."""

    @property
    def in_hand(self) -> set[str]:
        """Recording names an AGI hook is starting, stopping or taking in: the orphan
        sweep leaves their files alone."""
        return {name for name, holds in self._holds.items() if holds > 0}

    @contextlib.contextmanager
    def holding(self, name: str) -> Iterator[None]:
        """While a hook works on the file ``name``; nests (the hang-up hook holds it
        while its intake holds it too)."""
        self._holds[name] += 1
        try:
            yield
        finally:
            self._holds[name] -= 1
            if self._holds[name] <= 0:
                del self._holds[name]

    async def run(
        self,
        session: AgiSession | None,
        opening: AgiOpening,
        commands: list[c.Command],
        channel: str = "",
        *,
        record_on: str = "",
        muted_first: bool = False,
    ) -> None:
        """In order; a refused MixMonitor feeds its failure back to the machine, whose
        commands (the row closed, an alert) run next. ``session``: the agent's channel's,
        or None for the daemon's own work (a pause at its limit), then done over AMI on
        ``channel``, the agent channel's name. ``record_on``: the agent's channel to
        start MixMonitor on when the session is another channel's (the called party's,
        on an outbound call). ``muted_first``: :meth:`mute_first` muted the recording
        already, so a muted pause is not sent a second ``MixMonitorMute``."""
        pending = list(commands)
        while pending:
            command = pending.pop(0)
            if session is None:
                await self._without_session(opening, command, channel)
            else:
                pending[:0] = await self._one(
                    session, opening, command, channel, record_on, muted_first
                )

    async def _one(
        self,
        session: AgiSession,
        opening: AgiOpening,
        command: c.Command,
        channel: str,
        record_on: str = "",
        muted_first: bool = False,
    ) -> list[c.Command]:
        call_id = opening.call.call_id
        match command:
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case c.StartRecording(name=name, fmt=fmt):
                try:
                    await self._start(session, name, fmt, record_on)
                except (AgiError, AmiError) as exc:
                    log.error("call %s: MixMonitor could not start (%s)", call_id, exc.error_id)
                    return opening.start_failed(name, exc.error_id)
                opening.rec.started(name)
                try:
                    await session.set_variable(PAUSE_MODE, opening.service.pause.mode)
                except AgiError as exc:
                    # The pause is then the daemon's alone, as in silence mode.
                    log.warning("call %s: pause mode not set (%s)", call_id, exc.error_id)
            case c.StopRecording():
                await self._stop(session, call_id)
            case c.CancelRecording(name=name):
                # As an ARI cancel: stopped, and its file deleted (a private call, C2).
                with self.holding(name):
                    await self._stop(session, call_id)
                    await self.discard(call_id, name, opening.rec.fmt)
            case c.PauseRecording(name=name, mute=mute):
                with self.holding(name):
                    await self._pause(session, call_id, channel, mute, muted_first)
            case c.ResumeRecording(name=name):
                with self.holding(name):
                    await self._resume(session, opening, name, channel)
            case c.Play(media=media):
                await self._feedback(session, media)
            case c.StartTimer(name=r.PAUSE_TIMER, seconds=seconds) if opening.rec.pause:
                self.start_pause_timer(call_id, opening.rec.pause.pause_id, channel, seconds)
            case c.TakeInRecording(recording_id=recording_id, name=name, fmt=fmt):
                await self.take_in(call_id, recording_id, name, fmt)
            case c.DiscardIncoming(name=name, fmt=fmt):
                await self.discard(call_id, name, fmt)
            case c.CancelTimer(name=r.PAUSE_TIMER):
                self.cancel_pause_timer(call_id)
            case _ if _is_store(command):
                await self.write(command)
            case _:
                what = type(command).__name__
                log.warning("call %s: %s is not carried out over FastAGI", call_id, what)
        return []

    async def _without_session(self, opening: AgiOpening, command: c.Command, channel: str) -> None:
        """A pause at its limit: the rows and the alert as always, the resume over AMI."""
        call_id = opening.call.call_id
        match command:
            case c.ResumeRecording(name=name):
                with self.holding(name):
                    await self._resume_over_ami(opening, name, channel)
            case c.CancelTimer(name=r.PAUSE_TIMER):
                self.cancel_pause_timer(call_id)
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case _ if _is_store(command):
                await self.write(command)
            case _:
                # The feedback sound: no session to play it on.
                pass

    # -- pauses (A5) -------------------------------------------------------------------
    async def mute_first(self, channel: str) -> bool:
        """A silence-mode pause or card key's protection, sent before the daemon reads
        anything (the ARI path's pause sends its REST call first alike). False if AMI
        could not mute: the decision's own pause then tries again, and stops the
        recording if AMI fails again."""
        try:
            await self._ami_mute(channel, True)
        except AmiError as exc:
            log.warning("MixMonitorMute before the key's decision failed (%s)", exc.error_id)
            return False
        return True

    async def unmute_refused(
        self, channel: str, *, after_sound: bool, call_id: str | None = None
    ) -> None:
        """Undoes :meth:`mute_first` for a key the decision refused (or found nothing
        to pause for): the file holds silence from the key to here. ``after_sound``: the
        refused tone just played to the agent, whose tail must not reach the file
        (see :meth:`_resume`). ``call_id``: the call whose recording it is, told of a
        recording left muted with no pause to show for it."""
        if after_sound:
            await asyncio.sleep(_SOUND_TAIL_SECONDS)
        try:
            await self._ami_mute(channel, False)
        except AmiError as exc:
            alert = f"the recording stays muted after a refused key ({exc.error_id})"
            log.error("call %s: %s", call_id or "-", alert)
            if call_id is not None:
                await self.write(c.AddAlert(call_id, c.AlertKind.RECORDING_FAILED, alert))

    async def _pause(
        self, session: AgiSession, call_id: str, channel: str, mute: bool, muted_first: bool
    ) -> None:
        """Protective: whatever fails, the recording stops taking the agent's words."""
        if mute and muted_first:
            await self._mark(session, "mute")
            return
        if mute:
            try:
                await self._ami_mute(channel, True)
            except AmiError as exc:
                log.error(
                    "call %s: MixMonitorMute failed (%s); recording stopped for the pause "
                    "instead", call_id, exc.error_id,
                )  # fmt: skip
            else:
                await self._mark(session, "mute")
                return
        await self._stop(session, call_id)
        await self._mark(session, "stop")

    async def _mark(self, session: AgiSession, how: str) -> None:
        with contextlib.suppress(AgiError):
            await session.set_variable(PAUSED_HOW, how)

    async def _resume(
        self, session: AgiSession, opening: AgiOpening, name: str, channel: str
    ) -> None:
        call_id = opening.call.call_id
        try:
            how = await session.get_variable(PAUSED_HOW)
            if how == "mute":
                # The key's sound, played just before, leaves its last samples in
                # MixMonitor's buffer of what the channel hears, short of a whole frame,
                # until Asterisk's audiohook resynchronises (its tolerance is 100 ms).
                # Unmuted at once, they reached the file (Asterisk 22: a 20 ms frame
                # when unmuted 0 or 40 ms after the sound, none at 150 ms or more).
                await asyncio.sleep(_SOUND_TAIL_SECONDS)
                await self._ami_mute(channel, False)
            else:
                await self._append(session, name, opening.rec.fmt)
            await session.set_variable(PAUSED_HOW, "")
        except (AgiError, AmiError) as exc:
            alert = f"the recording could not resume after its pause ({exc.error_id})"
            log.error("call %s: %s", call_id, alert)
            await self.write(c.AddAlert(call_id, c.AlertKind.RECORDING_FAILED, alert))

    async def _append(self, session: AgiSession, name: str, fmt: str) -> None:
        path = await self._path(session, name, fmt)
        # a: appended to the file the pause stopped, so one call is one file.
        await session.exec_application("MixMonitor", f"{path},{_options(name, 'a')}")

    async def restart(self, session: AgiSession, opening: AgiOpening) -> None:
        """The key subroutine stopped the recording before a key the daemon then
        refused (or that left it running): it records again, into the same file."""
        rec = opening.rec.recording
        if rec is None:
            return
        call_id = opening.call.call_id
        with self.holding(rec.name):
            try:
                await self._append(session, rec.name, opening.rec.fmt)
            except AgiError as exc:
                alert = f"the recording could not start again after a refused key ({exc.error_id})"
                log.error("call %s: %s", call_id, alert)
                await self.write(c.AddAlert(call_id, c.AlertKind.RECORDING_FAILED, alert))

    async def _resume_over_ami(self, opening: AgiOpening, name: str, channel: str) -> None:
        """No session: what the pause did is read from the channel, then undone over AMI."""
        call_id = opening.call.call_id
        try:
            ami = self._connected_ami()
            answer = await ami.send("Getvar", {"Channel": channel, "Variable": PAUSED_HOW})
            how = answer.get("Value") or ""
            if how == "mute":
                await ami.mixmonitor_mute(channel, False)
            else:
                spool = self._spool
                if spool is None:
                    # A restarted daemon has not met a session yet: Asterisk says.
                    asked = {"Channel": channel, "Variable": "ASTSPOOLDIR"}
                    folder = await ami.send("Getvar", asked)
                    spool = folder.get("Value") or ""
                if not spool.startswith("/"):
                    raise MixMonitorRefused("Asterisk did not say where its spool folder is")
                path = self._file(spool, name, opening.rec.fmt)
                await ami.mixmonitor(channel, path, _options(name, "a"))
            await ami.send("Setvar", {"Channel": channel, "Variable": PAUSED_HOW, "Value": ""})
        except (AgiError, AmiError) as exc:
            alert = f"the recording could not resume at its pause's limit ({exc.error_id})"
            log.error("call %s: %s", call_id, alert)
            await self.write(c.AddAlert(call_id, c.AlertKind.RECORDING_FAILED, alert))

    async def agent_channel(self, call: OpenCall) -> str | None:
        """After a restart: the name of the channel holding the call's MixMonitor, found
        over AMI (read-only) among the channels of the call (same linked id as the
        channel it began on, which is the one recorded on an outbound call)."""
        ami = self._connected_ami()
        channels = await ami.channels()
        linked = next(
            (e.get("Linkedid") for e in channels if e.get("Uniqueid") == call.channel_id), None
        )
        for event in channels:
            name = event.get("Channel")
            if not name or not linked or event.get("Linkedid") != linked:
                continue
            found = await ami.send("Getvar", {"Channel": name, "Variable": CALL_ID_VARIABLE})
            if found.get("Value") != call.call_id:
                continue
            monitor = await ami.send("Getvar", {"Channel": name, "Variable": MIXMONITOR_ID})
            if monitor.get("Value"):
                return name
        return None

    def _connected_ami(self) -> AmiClient:
        if self._ami is None:
            raise _NoAmi("no ami section")
        return self._ami

    async def _ami_mute(self, channel: str, mute: bool) -> None:
        if not channel:
            raise _NoAmi("the agent's channel name is not known")
        await self._connected_ami().mixmonitor_mute(channel, mute)

    def start_pause_timer(self, call_id: str, pause_id: str, channel: str, seconds: float) -> None:
        self._timers.start(call_id, pause_id, channel, seconds)

    def cancel_pause_timer(self, call_id: str) -> None:
        self._timers.cancel(call_id)

    def _fire(self, call_id: str, pause_id: str, channel: str) -> None:
        if self.on_pause_timeout is None:
            return
        task = asyncio.create_task(self.on_pause_timeout(call_id, pause_id, channel))
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    def close(self) -> None:
        """The daemon stops: its timers go (a restarted daemon re-arms them)."""
        self._timers.close()

    async def _feedback(self, session: AgiSession, media: str) -> None:
        """The key's sound, to the agent alone (the script runs on the agent's channel,
        outside the bridge's mix)."""
        sound = media.removeprefix("sound:")
        try:
            await session.stream_file(sound)
        except AgiError as exc:
            log.warning("the key's feedback sound could not play (%s)", exc.error_id)

    async def write(self, command: c.Store) -> None:
        days = self._config.privacy.objection_memory_days
        await self._store.run(write_of(command, self._clock.now(), days))

    async def _path(self, session: AgiSession, name: str, fmt: str) -> str:
        spool = await session.get_variable("ASTSPOOLDIR")
        if not spool or not spool.startswith("/"):
            raise MixMonitorRefused("Asterisk did not say where its spool folder is")
        self._spool = spool
        return self._file(spool, name, fmt)

    @staticmethod
    def _file(spool: str, name: str, fmt: str) -> str:
        return f"{spool.rstrip('/')}/{RECORDING_FOLDER}/{name}.{fmt}"

    async def _start(self, session: AgiSession, name: str, fmt: str, record_on: str = "") -> None:
        path = await self._path(session, name, fmt)
        with self.holding(name):
            if record_on:
                # AGI runs applications on its own channel only. The agent's channel
                # holds the recording on both directions, so that the agent's keys and
                # hang-up handler, run there, find it as on an inbound call.
                await self._connected_ami().mixmonitor(record_on, path, _options(name))
                return
            result = await session.exec_application("MixMonitor", f"{path},{_options(name)}")
        if result != 0:
            raise MixMonitorRefused(f"MixMonitor answered {result}")

    async def _stop(self, session: AgiSession, call_id: str) -> None:
        """Stops our MixMonitor: Asterisk closes the file before ``StopMixMonitor``
        returns, so it can be taken in at once. A MixMonitor already gone with its
        channel left a closed file too."""
        try:
            monitor = await session.get_variable(MIXMONITOR_ID)
            if monitor:
                await session.exec_application("StopMixMonitor", monitor)
        except AgiError as exc:
            log.warning("call %s: StopMixMonitor failed (%s)", call_id, exc.error_id)

    async def take_in(self, call_id: str, recording_id: str, name: str, fmt: str) -> None:
        with self.holding(name):
            await self._intake.call_file(call_id, recording_id, name, fmt)

    async def discard(self, call_id: str, name: str, fmt: str) -> None:
        with self.holding(name):
            if await asyncio.to_thread(self._vault.discard_incoming, name, fmt):
                log.warning("call %s: deleted the file of a discarded recording", call_id)


def _options(name: str, more: str = "") -> str:
    """MixMonitor's options for recording ``name``: ``D`` for a two-channel one (R5),
    what the agent's channel receives and what it sends, interleaved."""
    stereo = "D" if is_interleaved(name) else ""
    return f"{more}{stereo}i({MIXMONITOR_ID})"


def _is_store(command: c.Command) -> TypeGuard[c.Store]:
    return isinstance(command, _STORE_COMMANDS)
