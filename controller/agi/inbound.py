"""The ``inbound`` script: ``AGI(agi://127.0.0.1:4573/inbound?service=<name>)``.

The FastAGI counterpart of the inbound opening of the ARI path, for sites whose dialplan
never enters ``Stasis()``: the caller hears the service's announcement (C1), may press
the full-notice key (C3) or the opt-out key (C2, remembered for the number's HMAC, C4),
and the script hands the channel back with ``RECCONTROL_CALL_ID`` and
``RECCONTROL_CONSENT`` set, for the site's own ``Queue()`` or ``Dial()``.

What the caller may press and what is stored is decided by the very
:class:`~controller.calls.announcement.Announcement` the ARI path runs; this script only
plays its sounds with ``STREAM FILE`` and writes its store commands through the store
thread. The call row says ``path: agi`` and stays open when the script hands the channel
back: the call id and the consent are inherited by the agent's channel, whose
``connected`` hook decides and records (:mod:`controller.agi.hooks`); the hang-up hook
pushed here on the caller's channel closes the row.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sqlite3
from enum import StrEnum
from typing import TypeGuard, get_args

from controller.agi.channel_variables import CALL_ID_VARIABLE, CONSENT_VARIABLE, ERROR_VARIABLE
from controller.agi.errors import ChannelHungUp, StoreFailed, UnsafeValue
from controller.agi.protocol import AgiRequest
from controller.agi.session import AgiSession
from controller.calls import commands as c
from controller.calls.announcement import Announcement, Stage
from controller.calls.ids import new_id
from controller.calls.parties import Outcome
from controller.calls.starting import earlier_objection
from controller.calls.store_writes import write_of
from controller.clock import Clock
from controller.config.model import Config, Service
from controller.privacy import caller_hash
from controller.records import CallStart
from controller.store import SqliteStore, StoreError, StoreThread

log = logging.getLogger("reccontrol.agi")

INHERITED = "__"
"""Prefix of a variable the channels this one dials inherit: the agent's channel then
carries the call id and the consent to the ``connected`` hook."""
HANGUP_HOOK = "reccontrol-agi-hangup,s,1"
"""The shipped hang-up handler (``dialplan/reccontrol-agi.conf``)."""
UNKNOWN_SERVICE = "unknown-service"
PATH = "agi"
_STORE_COMMANDS = get_args(c.Store)
STORE_FAILURES = (sqlite3.Error, StoreError, OSError, RuntimeError)
"""What a store write raises when the database, or the thread writing to it, cannot
take it (RuntimeError: the thread is stopped or not started)."""


class Consent(StrEnum):
    """``RECCONTROL_CONSENT`` once the script hands the channel back."""

    INFORMED = "informed"
    """The caller heard the announcement (and the full notice, if asked) and did not
    object."""
    OBJECTED = "objected"
    """The caller pressed the opt-out key, on this call (C2) or on an earlier one whose
    objection still stands (C4): nothing of the call may be recorded."""
    UNANNOUNCED = "unannounced"
    """The announcement could not be played: nothing may be recorded (C1)."""


class Announcing:
    """What the ``inbound`` and the outbound scripts share: the call row, the
    announcement machine driven with ``STREAM FILE``, the objection ledger, and the
    store writes through the store thread."""

    def __init__(
        self,
        config: Config,
        store: StoreThread[SqliteStore],
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._rng = rng

    async def _open(
        self, call_id: str, service: Service, request: AgiRequest, direction: str, number: str
    ) -> str | None:
        """Stores the call row (``path: agi``) on the request's channel; returns the
        number's HMAC (the caller's inbound, the called party's outbound)."""
        privacy = self._config.privacy
        hashed = caller_hash(privacy.caller_hmac_key, number, privacy.default_region)
        # Before the call's own rows, as on the ARI path: an objection kept under an
        # older HMAC of this number moves to the current one (C4).
        carried = earlier_objection(self._config, number, hashed)
        if carried is not None:
            await self._write(carried)
        # The channel's unique id (ARI's channel id): a restarted controller looks it up,
        # read-only, to tell a call still going on from one that ended unseen (R1).
        at = self._clock.now()
        start = CallStart(
            call_id, service.name, direction, at, hashed, request.uniqueid, path=PATH
        )
        await self._write(c.BeginCall(start, service.announcement.version))
        log.info(
            "call %s (%s, agi): %s, started on channel %s",
            call_id, service.name, direction, request.uniqueid,
        )  # fmt: skip
        return hashed

    async def _announce(
        self, session: AgiSession, request: AgiRequest, notice: Announcement
    ) -> Consent:
        """Plays what the announcement machine asks for, feeds it the keys, runs the
        rest of its commands; restores the channel's language afterwards."""
        language = notice.service.language
        switch = bool(language) and language != request.language
        if switch:
            await session.set_variable("CHANNEL(language)", language)
        pending = notice.start()
        while (sound := await self._run(pending)) is not None:
            keys = notice.service.caller_keys
            asking = notice.stage is Stage.ANNOUNCEMENT and not notice.notice_requested
            escapes = keys.opt_out + (keys.full_notice if asking else "")
            played = await session.stream_file(sound, escapes)
            now = self._clock.now()
            if played.digit is None:
                pending = notice.playback_done(failed=played.failed)
            elif notice.wants_to_object(played.digit):
                pending = notice.object(now, []) + notice.playback_done(failed=False)
            else:
                pending = notice.notice_key(played.digit, now)
                pending += notice.playback_done(failed=False)
        if switch and request.language:
            await _restore_language(session, request.language)
        if notice.objected:
            return Consent.OBJECTED
        return Consent.INFORMED if notice.completed else Consent.UNANNOUNCED

    async def _objected_before(self, notice: Announcement) -> bool:
        """Whether the number's objection from an earlier call still stands (C4); as on
        the ARI path, a ledger that cannot be read counts as an objection."""
        hashed = notice.caller_hash
        if hashed is None:
            return False
        now = self._clock.now()
        try:
            objected = await self._store.run(lambda s: s.has_objection(hashed, now))
        except Exception as exc:
            log.error(
                "call %s: objection lookup failed (%s); not to be recorded",
                notice.call_id, type(exc).__name__,
            )  # fmt: skip
            return True
        if objected:
            log.info("call %s: the caller objected on an earlier call", notice.call_id)
        return objected

    async def _run(self, pending: list[c.Command]) -> str | None:
        """Runs the store writes and logs of a batch; returns the sound it plays, if any."""
        sound: str | None = None
        now = self._clock.now()
        for command in pending:
            if isinstance(command, c.Play):
                sound = command.media.removeprefix("sound:")
            elif isinstance(command, c.Log):
                log.log(logging.getLevelName(command.level.upper()), command.message)
            elif _is_store(command):
                await self._write(command, now)
            # StopPlayback: STREAM FILE already stopped at the key.
        return sound

    async def _write(self, command: c.Store, now: dt.datetime | None = None) -> None:
        """Through the store thread, as the ARI path's executor writes the same command."""
        at = self._clock.now() if now is None else now
        days = self._config.privacy.objection_memory_days
        try:
            await self._store.run(write_of(command, at, days))
        except STORE_FAILURES as exc:
            # Typed, so the server tells the dialplan RECCONTROL_ERROR=store-failed
            # rather than reporting a defect of ours.
            kind = type(command).__name__
            raise StoreFailed(f"the store refused {kind} ({type(exc).__name__})") from exc


class InboundScript(Announcing):
    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        name = request.argument("service") or ""
        service = self._config.services.get(name)
        if service is None:
            # Validated by the request parser (no control character, bounded), so the
            # name may be logged: it is the dialplan's, not the caller's.
            log.warning(
                "AGI inbound (channel %s): unknown service %r; %s=%s, nothing stored",
                request.uniqueid, name[:40], ERROR_VARIABLE, UNKNOWN_SERVICE,
            )  # fmt: skip
            await session.set_variable(ERROR_VARIABLE, UNKNOWN_SERVICE)
            return
        call_id = new_id(self._rng, 64)
        notice: Announcement | None = None
        # Until the channel is handed back, whatever stops the script closes the row: a
        # daemon stopped during the row's first write too, which may have landed.
        outcome: Outcome | None = Outcome.INTERRUPTED
        try:
            try:
                notice = await self._begin(call_id, service, request)
            except StoreFailed:
                # Each write is one transaction, rolled back on error: no row to close.
                # The channel learns nothing of a call id: the call goes on unrecorded.
                outcome = None
                raise
            await session.set_variable(INHERITED + CALL_ID_VARIABLE, call_id)
            await session.answer()
            consent = await self._announce(session, request, notice)
            if consent is Consent.INFORMED and await self._objected_before(notice):
                consent = Consent.OBJECTED
            await session.set_variable(INHERITED + CONSENT_VARIABLE, consent)
            # From here the row stays open: the caller's hang-up closes it, or a
            # restarted daemon that finds the channel gone (R1).
            await session.set_variable("CHANNEL(hangup_handler_push)", HANGUP_HOOK)
            outcome = None
            log.info("call %s (%s, agi): handed back to the dialplan, %s", call_id, name, consent)
        except ChannelHungUp:
            outcome = Outcome.CALLER_HUNG_UP
            log.info("call %s (%s, agi): the caller hung up", call_id, name)
            raise
        finally:
            if outcome is not None:
                heard = notice is not None and notice.completed
                await self._write(c.EndCall(call_id, outcome, None, heard))

    async def _begin(self, call_id: str, service: Service, request: AgiRequest) -> Announcement:
        hashed = await self._open(call_id, service, request, "inbound", request.caller_number)
        return Announcement(
            call_id=call_id,
            service=service,
            caller_id=request.uniqueid,
            caller_hash=hashed,
            log_prefix=f"call {call_id} ({service.name}, agi)",
        )


def _is_store(command: c.Command) -> TypeGuard[c.Store]:
    return isinstance(command, _STORE_COMMANDS)


async def _restore_language(session: AgiSession, language: str) -> None:
    try:
        await session.set_variable("CHANNEL(language)", language)
    except UnsafeValue:
        # Asterisk's own value, yet not one we put on the wire: left as the service's.
        log.warning("AGI inbound: the channel's language could not be restored")
