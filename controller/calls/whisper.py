"""The agent's ok and refused tones, whispered (A10), pure.

A sound played to the agent's channel inside the bridge holds the agent's voice back
from the bridge while it plays: the caller and the recording would lose the agent's
first 300 ms or so after every key sequence. The tones go instead to a snoop on the
agent's channel that hears nothing and speaks towards the agent's phone only
(``spy=none``, ``whisper=out``): the agent hears them over the call, and the agent's
audio path into the bridge is left alone.

The snoop is made as soon as the agent is bridged, so a key's tone starts as fast as a
plain playback; it is keyed to the agent's channel (a new agent channel gets a new
snoop, the old one is cut), cut when the agent leaves or the call ends, and made again
if it goes while the agent talks (an ARI reconnect releases channels no call owns). A
restarted controller's sweep hangs up one left behind (R1): its name is ours
(:func:`~controller.calls.ids.whisper_snoop`). Until it is up, or once it cannot be
made, the tone is played to the agent's channel as before: the key's action and its
tone never wait for the snoop.
"""

from __future__ import annotations

import datetime as dt

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.ids import whisper_of, whisper_snoop

MAX_SNOOPS = 5
"""Snoops made for one call at most: one that keeps going away is not chased forever."""


class Whisper:
    def __init__(self, *, call_id: str, log_prefix: str) -> None:
        self._call_id = call_id
        self._log_prefix = log_prefix
        self._run = ""
        """Tells this run's snoops from those of a run before a restart (R1)."""
        self.snoop: str | None = None
        """The snoop made for :attr:`target`, until it is cut or gone."""
        self.target: str | None = None
        """The agent's channel the snoop whispers to."""
        self.up = False
        """The snoop entered the application: a playback on it is heard."""
        self._made = 0
        self._failed_for: str | None = None
        """The agent's channel no snoop could be made for: its tones are played to it."""
        self._warned = False

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    def keep(self, agent_channel_id: str | None) -> list[c.Command]:
        """Follows the agent's channel: ``agent_channel_id`` while the agent is bridged
        and present, None once they left or the call is ending."""
        if agent_channel_id is None:
            return self._cut()
        if agent_channel_id == self.target and self.snoop is not None:
            return []
        commands = self._cut()
        self.target = agent_channel_id
        if agent_channel_id == self._failed_for or self._made >= MAX_SNOOPS:
            return commands
        self._made += 1
        self.snoop = whisper_snoop(self._call_id, f"{self._run}{self._made:x}")
        return [*commands, c.Snoop(agent_channel_id, self.snoop)]

    @property
    def awaited(self) -> str | None:
        """The snoop made and not yet heard entering the application, if any."""
        return self.snoop if self.snoop is not None and not self.up else None

    def carried_on(self, now: dt.datetime) -> None:
        """The call is carried on after a restart: its snoops get names of their own, as
        the last run's may still be there until the sweep hangs them up."""
        self._run = f"{int(now.timestamp() * 1000):x}0"

    def _cut(self) -> list[c.Command]:
        snoop, self.snoop, self.up = self.snoop, None, False
        return [c.CutSnoop(snoop)] if snoop is not None else []

    def play(self, agent_channel_id: str, media: str, playback_id: str) -> c.Play:
        """The tone for the agent on ``agent_channel_id``: whispered once the snoop is up,
        else played to the agent's channel (the agent's voice is held back meanwhile)."""
        if self.up and self.snoop is not None and self.target == agent_channel_id:
            return c.Play(self.snoop, media, playback_id)
        return c.Play(agent_channel_id, media, playback_id)

    def handle(self, message: m.Message) -> list[c.Command] | None:
        """The whisper's own messages; None for a message that is not about it."""
        match message:
            case m.WhisperUp(channel_id=channel_id):
                if channel_id != self.snoop:
                    # Cut before it was up, or made before a restart: nobody plays on it.
                    return [c.Hangup(channel_id)]
                self.up = True
                return []
            case m.ChannelGone(channel_id=channel_id) if whisper_of(channel_id):
                if channel_id == self.snoop:
                    # Made again by :meth:`keep` if the agent is still there.
                    self.snoop, self.up = None, False
                return []
            case m.CommandFailed(command=c.Snoop(snoop_id=snoop), error_id=error_id) if (
                whisper_of(snoop)
            ):
                if snoop != self.snoop:
                    return []
                self.snoop, self._failed_for = None, self.target
                return self._warn(f"the whisper could not be made ({error_id})")
            case m.CommandFailed(command=c.Play() as play, error_id=error_id) if (
                whisper_of(play.channel_id)
            ):
                target = self.target
                if play.channel_id != self.snoop or target is None:
                    return []
                # The agent still hears it, on their channel; no more whispering.
                self._failed_for = target
                again = c.Play(target, play.media, play.playback_id, play.lang)
                warning = self._warn(f"a tone could not be whispered ({error_id})")
                return [again, *self._cut(), *warning]
        return None

    def _warn(self, why: str) -> list[c.Command]:
        """Once per call: from now on the agent's tones hold their voice back."""
        if self._warned:
            return []
        self._warned = True
        text = f"{why}: the agent's tones play on their channel, holding their voice back"
        return [self._log(text, c.Level.WARNING)]
