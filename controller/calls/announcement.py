"""What the caller hears and may answer before anything can be recorded, pure: the
legal announcement (C1), the full notice on request (C3) and the objection key, during
the announcement or later in the call (C2, C4).

The call that owns it plays its other sounds through :meth:`Announcement.play` too, so
the playback it waits for is always :attr:`Announcement.playback_id`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import StrEnum

from controller.calls import commands as c
from controller.calls.ids import notice_playback
from controller.config.model import Service
from controller.records import ConsentEvent


class Stage(StrEnum):
    ANNOUNCEMENT = "announcement"
    FULL_NOTICE = "full_notice"
    OVER = "over"


class Announcement:
    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        caller_id: str,
        caller_hash: str | None,
        log_prefix: str,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.caller_id = caller_id
        self.caller_hash = caller_hash
        self._log_prefix = log_prefix
        self.stage = Stage.ANNOUNCEMENT
        self.playback_id = ""
        self._playbacks = itertools.count(1)
        self.notice_requested = False
        self.objected = False
        self.completed = False
        """The caller heard the announcement (to its end, or up to the opt-out key)."""

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    def play(self, sound: str) -> c.Play:
        self.playback_id = notice_playback(self.call_id, next(self._playbacks))
        return c.Play(self.caller_id, f"sound:{sound}", self.playback_id, self.service.language)

    def start(self) -> list[c.Command]:
        return [self.play(self.service.announcement.sound)]

    @property
    def over(self) -> bool:
        """Nothing more to play before the parties are bridged."""
        return self.stage is Stage.OVER

    @property
    def over_by_agent(self) -> bool:
        """The agent gave the notice, or the person objected without waiting for it."""
        return self.completed or self.objected

    def skip(self) -> None:
        """Nothing to play: the agent gives the notice in person (C6)."""
        self.stage = Stage.OVER

    def given_by_agent(self) -> bool:
        """The agent's notice-given key (C6): False if it comes too late to count (the
        notice was already given, or the person objected)."""
        if self.completed or self.objected:
            return False
        self.completed = True
        return True

    def carried_on(self, *, completed: bool, objected: bool) -> None:
        """A call carried on after a restart: what the store says was heard (R1)."""
        self.stage = Stage.OVER
        self.completed = completed
        self.objected = objected

    def _consent(self, now: dt.datetime, kind: str, key: str, phase: str) -> c.AddConsent:
        version = self.service.announcement.version
        return c.AddConsent(ConsentEvent(self.call_id, now, kind, key, version, phase))

    # -- the caller's keys -----------------------------------------------------------
    def wants_to_object(self, digit: str) -> bool:
        return digit == self.service.caller_keys.opt_out and not self.objected

    def notice_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        """The full-notice key, while the announcement plays (C3)."""
        if digit != self.service.caller_keys.full_notice or self.stage is not Stage.ANNOUNCEMENT:
            return []
        if self.notice_requested:
            return []
        self.notice_requested = True
        return [
            c.StopPlayback(self.playback_id),
            self._consent(now, "full_notice", digit, "announcement"),
        ]

    def object(self, now: dt.datetime, discarded: list[c.Command]) -> list[c.Command]:
        """The opt-out key (C2): ``discarded`` is what the call already did to the live
        recording, which goes first; then the objection is stored and remembered for the
        caller's number (C4)."""
        self.objected = True
        announcing = self.stage is not Stage.OVER
        phase = "announcement" if announcing else "conversation"
        commands = list(discarded)
        if announcing:
            commands.append(c.StopPlayback(self.playback_id))
        commands.append(self._consent(now, "opt_out", self.service.caller_keys.opt_out, phase))
        if self.caller_hash:
            commands.append(c.RememberObjection(self.caller_hash))
        suffix = " and discarded the live recording" if discarded else ""
        commands.append(self._log(f"caller objected during the {phase}{suffix}"))
        return commands

    # -- playback --------------------------------------------------------------------
    def playback_done(self, failed: bool) -> list[c.Command]:
        """The announcement or the notice ended; once :attr:`stage` is ``OVER`` the call
        goes on."""
        if self.stage is Stage.ANNOUNCEMENT:
            if self.notice_requested and not self.objected:
                self.stage = Stage.FULL_NOTICE
                return [self.play(self.service.full_notice_sound)]
            self.stage = Stage.OVER
            if failed:
                why = "the announcement could not be played; the call will not be recorded"
                return [self._log(why, c.Level.WARNING)]
            # Stopped by the opt-out key or played to the end: either way the caller
            # heard what the key does.
            self.completed = True
            return [c.AnnouncementHeard(self.call_id)]
        if self.stage is Stage.FULL_NOTICE:
            self.stage = Stage.OVER
            if failed:
                return [self._log("the full notice could not be played", c.Level.WARNING)]
            self.completed = True
            return [c.AnnouncementHeard(self.call_id)]
        return []
