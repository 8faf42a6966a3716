"""The agent's hold (A9), pure: the agent's phone puts the call on hold (its hold key: a
SIP re-INVITE ``sendonly`` or ``inactive``, which Asterisk reports as ``ChannelHold``)
and takes it back (``ChannelUnhold``).

Measured on Asterisk 22 with SIP phones: in a bridge of the application, a hold plays
nothing to the caller, who goes on hearing whatever the held phone still sends (the
agent's room), and the bridge's recording goes on. So the caller gets music on hold on
their own channel: not into the bridge, so neither the held agent nor the file hears
it, and the recording is not ended by it (measured: after a 6 s hold the same file goes
on, as long as the call less the paused hold; 20 s of such music did not end it either).

With the service's ``hold: pause`` the recording pauses as with the pause key (A5): the
pause first, in the service's pause mode, its row with the reason ``hold``; taking the
call back resumes it. A pause open before the hold (the agent's pause key, a card
entry) is the agent's: the hold leaves it alone and taking the call back does not end
it. A hold that outlasts ``pause.max_seconds`` does not resume the recording: that would
record the agent's room while the caller hears music, the very thing the hold keeps out;
a supervisor gets an alert instead. With ``hold: record`` the recording goes on.

Only the agent's hold does this. A caller who puts the agent on hold leaves the agent
waiting on the call as it is: nothing of the agent's is at stake.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.conversation import Conversation
from controller.calls.recording import PAUSE_TIMER

DEFAULT_MUSIC = "default"
"""The music class when the phone's endpoint suggests none."""


class AgentHold:
    def __init__(
        self,
        *,
        mode: Literal["pause", "record"],
        talk: Conversation,
        caller_id: str,
        log_prefix: str,
    ) -> None:
        self.mode = mode
        self.talk = talk
        self.rec = talk.rec
        self.caller_id = caller_id
        self._log_prefix = log_prefix
        self.held = False
        """The agent's phone has the call on hold."""
        self.music = False
        """The caller hears the music on hold the hold started."""
        self.music_unknown = False
        """Carried on after a restart: a hold begun before it may still play its music."""
        self._music_class = DEFAULT_MUSIC

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    def _paused_by(self) -> str:
        agent = self.talk.agent
        return agent.id if agent else "unknown"

    @property
    def owns_pause(self) -> bool:
        """The pause open now is the hold's."""
        pause = self.rec.pause
        return pause is not None and pause.reason == c.PauseReason.HOLD

    # -- the phones' hold and unhold ----------------------------------------------
    def changed(self, message: m.Hold, now: dt.datetime, *, with_caller: bool) -> list[c.Command]:
        """A phone of the bridged call held it or took it back. ``with_caller``: the
        caller is in the bridge with the agent (not gone, not in the payment IVR)."""
        if message.channel_id == self.caller_id:
            what = "put the call on hold" if message.held else "took the call back"
            return [self._log(f"the caller's phone {what}: the recording is left as it is")]
        if message.channel_id != self.talk.agent_channel_id:
            return []  # not the agent's phone now (a transfer's former agent: R3)
        if not message.held:
            return self._taken_back()
        if self.held:
            return []  # told twice (a phone sending its hold again)
        self.held = True
        self._music_class = message.music_class or DEFAULT_MUSIC
        commands = self.keep(now, with_caller=with_caller)
        return [*commands, self._log(f"the agent put the call on hold: {self._what()}")]

    def _what(self) -> str:
        """What the hold did to the recording, for the log."""
        pause = self.rec.pause
        if self.mode == "record":
            return "the recording goes on (hold: record)"
        if pause is not None:
            if pause.reason == c.PauseReason.HOLD:
                return "recording paused (hold)"
            return f"the recording stays paused ({pause.reason})"
        return "nothing recorded to pause" if not self.rec.live else "the recording goes on"

    def keep(self, now: dt.datetime, *, with_caller: bool) -> list[c.Command]:
        """What a hold in force asks for, whatever happened meanwhile: with the caller
        back from the payment IVR, or a recording started (a late decision, the
        agent's on-demand key, a retry) while held, the music and, in ``pause`` mode,
        the pause, first. Nothing when nothing is missing."""
        if not self.held or not with_caller:
            return []
        commands: list[c.Command] = []
        if self.mode == "pause":
            if self.rec.can_pause():
                # First: nothing of the held agent's room may reach the file.
                commands += self.rec.pause_for(c.PauseReason.HOLD, self._paused_by(), now)
            if self.talk.held is None:
                # Nobody listens live to a call held in pause mode (S8).
                self.talk.held = c.PauseReason.HOLD
        if not self.music:
            self.music, self.music_unknown = True, False
            music = c.StartHoldMusic(self.talk.bridge_id, self._music_class, self.caller_id)
            commands.insert(1 if commands else 0, music)
        return commands

    def _taken_back(self) -> list[c.Command]:
        commands: list[c.Command] = []
        if self.music or self.music_unknown:
            # Also a hold begun before a restart, whose music nobody here started.
            self.music = self.music_unknown = False
            commands.append(c.StopHoldMusic(self.talk.bridge_id, self.caller_id))
        elif not self.held and not self.owns_pause:
            return []  # told twice
        self.held = False
        if self.owns_pause:
            commands += self.talk.resume(c.PauseEnd.AGENT, feedback=False)
        elif self.talk.held == c.PauseReason.HOLD:
            self.talk.held = None
        return [*commands, self._log("the agent took the call back from hold")]

    def transfer_announced(self, now: dt.datetime) -> list[c.Command]:
        """Asterisk began the agent's attended transfer (R3). Measured: it takes the
        caller off hold itself (``ChannelUnhold``, which resumed the recording) about
        500 ms before it swaps the consultation's party into the bridge, and that swap
        comes before the controller hears of it. So in ``pause`` mode the pause is put
        back now, first: the new party's first frame reaches a paused recording, never
        the transferring agent's file. The transfer then ends the segment with it."""
        if self.mode != "pause" or not self.rec.can_pause():
            return []
        commands = self.rec.pause_for(c.PauseReason.HOLD, self._paused_by(), now)
        return [*commands, self._log("the agent is transferring the call: recording paused")]

    def transferred(self) -> list[c.Command]:
        """The agent transferred the call (R3): the hold ends with their segment, whose
        pause closed with it; the caller goes on to the transfer's target, without the
        music."""
        self.held = False
        if not (self.music or self.music_unknown):
            return []
        self.music = self.music_unknown = False
        return [c.StopHoldMusic(self.talk.bridge_id, self.caller_id)]

    # -- a hold longer than the pause maximum ----------------------------------------
    def outlasted(self, timer: str) -> list[c.Command] | None:
        """The pause timer of the hold's pause: an alert, and the pause goes on (see the
        module's docstring). None when the timer is not for the hold's pause."""
        if timer != PAUSE_TIMER or not self.owns_pause:
            return None
        limit = self.rec.pause_settings.max_seconds
        message = (
            f"the agent's hold lasted more than {limit} s: the recording stays paused "
            "until the agent takes the call back"
        )
        return [
            c.AddAlert(self.talk.call_id, c.AlertKind.PAUSE_TIMEOUT, message),
            self._log(message, c.Level.WARNING),
        ]
