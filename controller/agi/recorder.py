"""Carries out an AGI call's commands: the FastAGI counterpart of the ARI path's
executor (:mod:`controller.calls.executor`).

The commands are those of :class:`~controller.calls.agi_opening.AgiOpening`, that is
of the ARI path's decision and recording machines. Store commands are written with the
same :func:`~controller.calls.store_writes.write_of`, a finished file goes through the
same vault intake (:class:`~controller.retention.intake.VaultIntake`); only the
recording itself differs: ``MixMonitor`` on the agent's channel, started and stopped
with AGI ``EXEC`` on the session of that very channel (no race with another channel of
the same name, no credentials on the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from typing import TypeGuard, get_args

from controller.agi.errors import AgiError
from controller.agi.session import AgiSession
from controller.calls import commands as c
from controller.calls.agi_opening import AgiOpening
from controller.calls.store_writes import write_of
from controller.clock import Clock
from controller.config.model import Config
from controller.recordings import LocalVault
from controller.retention.intake import VaultIntake
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.agi")

MIXMONITOR_ID = "RECCONTROL_MIXMONITOR"
"""The agent channel's variable holding the MixMonitor's id (its ``i()`` option): the
hang-up hook stops that MixMonitor only, never one the site runs itself, and knows from
it that the channel holds the call's recording."""
RECORDING_FOLDER = "recording"
"""Under Asterisk's spool folder: where ARI recordings go too, the folder the vault
takes files in from."""
_STORE_COMMANDS = get_args(c.Store)


class MixMonitorRefused(AgiError):
    error_id = "agi-mixmonitor-refused"


class AgiRecorder:
    def __init__(
        self, config: Config, store: StoreThread[SqliteStore], vault: LocalVault, clock: Clock
    ) -> None:
        self._config = config
        self._store = store
        self._vault = vault
        self._clock = clock
        self._intake = VaultIntake(vault=vault, store=store, clock=clock)
        self._holds: Counter[str] = Counter()

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
        self, session: AgiSession, opening: AgiOpening, commands: list[c.Command]
    ) -> None:
        """In order; a refused MixMonitor feeds its failure back to the machine, whose
        commands (the row closed, an alert) run next."""
        pending = list(commands)
        while pending:
            command = pending.pop(0)
            pending[:0] = await self._one(session, opening, command)

    async def _one(
        self, session: AgiSession, opening: AgiOpening, command: c.Command
    ) -> list[c.Command]:
        call_id = opening.call.call_id
        match command:
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case c.StartRecording(name=name, fmt=fmt):
                try:
                    await self._start(session, name, fmt)
                except AgiError as exc:
                    log.error("call %s: MixMonitor could not start (%s)", call_id, exc.error_id)
                    return opening.start_failed(name, exc.error_id)
                opening.rec.started(name)
            case c.StopRecording() | c.CancelRecording():
                await self._stop(session, call_id)
            case c.TakeInRecording(recording_id=recording_id, name=name, fmt=fmt):
                await self.take_in(call_id, recording_id, name, fmt)
            case c.DiscardIncoming(name=name, fmt=fmt):
                await self.discard(call_id, name, fmt)
            case c.CancelTimer():
                # Pauses and their timers come with the agents' keys, not on this path yet.
                pass
            case _ if _is_store(command):
                await self.write(command)
            case _:
                what = type(command).__name__
                log.warning("call %s: %s is not carried out over FastAGI", call_id, what)
        return []

    async def write(self, command: c.Store) -> None:
        days = self._config.privacy.objection_memory_days
        await self._store.run(write_of(command, self._clock.now(), days))

    async def _start(self, session: AgiSession, name: str, fmt: str) -> None:
        spool = await session.get_variable("ASTSPOOLDIR")
        if not spool or not spool.startswith("/"):
            raise MixMonitorRefused("Asterisk did not say where its spool folder is")
        path = f"{spool.rstrip('/')}/{RECORDING_FOLDER}/{name}.{fmt}"
        with self.holding(name):
            result = await session.exec_application("MixMonitor", f"{path},i({MIXMONITOR_ID})")
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


def _is_store(command: c.Command) -> TypeGuard[c.Store]:
    return isinstance(command, _STORE_COMMANDS)
