"""The inbound call flow as a pure state machine.

announcement (C1) -> agent dialled -> caller and agent bridged -> decision (P1-P4, A1,
A3) -> recording, only after the announcement -> hang-up and clean finish. While
bridged, the agent's keys start (A4), pause and resume (A5) the recording, or make the
call private (A2).

Nothing here does I/O. :meth:`InboundCall.handle` takes a message and the time and
returns the commands to carry out, in order. Protective commands (discarding or
pausing a recording) always come first in their batch.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.keys import KeyMatcher
from controller.config.model import Agent, AgentKeys, Service
from controller.policy import Reason, Verdict, decide, on_demand_refusal
from controller.store.records import CallStart, ConsentEvent, Decision

AGENT_TIMER = "agent-answer"
ENDING_TIMER = "ending"
PAUSE_TIMER = "pause"
# How long to wait for Asterisk's last events (RecordingFinished, StasisEnd) once a
# call is over, before finishing anyway.
ENDING_GRACE_SECONDS = 10.0
# Extra time over the service's answer timeout, in case the originated channel's own
# timeout event is lost.
AGENT_TIMER_SLACK_SECONDS = 5.0


class Phase(StrEnum):
    ANNOUNCING = "announcing"
    FULL_NOTICE = "full_notice"
    DIALING = "dialing"
    NO_AGENT = "no_agent"
    CONNECTED = "connected"
    ENDING = "ending"
    ENDED = "ended"


class RecState(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    STOPPING = "stopping"
    DISCARDED = "discarded"
    FAILED = "failed"
    DONE = "done"


@dataclass
class Recording:
    recording_id: str
    name: str
    state: RecState
    purposes: tuple[str, ...]

    @property
    def live(self) -> bool:
        return self.state in (RecState.STARTING, RecState.ACTIVE)


@dataclass(frozen=True)
class Pause:
    pause_id: str
    reason: str
    mute: bool


@dataclass(frozen=True)
class CallSettings:
    """What every call needs from the configuration, besides its service."""

    timezone: ZoneInfo
    recording_format: str
    agent_keys: AgentKeys = field(default_factory=AgentKeys)


def new_id(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


class InboundCall:
    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        caller: Channel,
        caller_hash: str | None,
        settings: CallSettings,
        rng: random.Random,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.caller = caller
        self.caller_hash = caller_hash
        self.settings = settings
        self.rng = rng
        self.phase = Phase.ANNOUNCING
        self.bridge_id = f"rc-{call_id}"
        self.agent_channel_id = f"rc-{call_id}-agent"
        self.agent_channel_up = False
        self.agent: Agent | None = None
        self.agent_originated = False
        self.remembered_objection: bool | None = None if caller_hash else False
        self.objected = False
        self.announcement_completed = False
        self.playback_id = ""
        self._playbacks = 0
        self._notice_requested = False
        self.recording: Recording | None = None
        self.verdict: Verdict | None = None
        self.outcome = ""
        self.caller_gone = False
        self.agent_gone = False
        self.keys = KeyMatcher(
            settings.agent_keys.sequences(), settings.agent_keys.inter_digit_timeout
        )
        self.pause: Pause | None = None
        self.private = False
        self._feedbacks = 0

    # -- helpers ---------------------------------------------------------------------
    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.caller.id, self.agent_channel_id)

    def _play(self, sound: str) -> c.Play:
        self._playbacks += 1
        self.playback_id = f"rc-{self.call_id}-p{self._playbacks}"
        return c.Play(self.caller.id, f"sound:{sound}", self.playback_id, self.service.language)

    def _feedback(self, ok: bool) -> c.Play:
        """A short sound to the agent's channel only: the caller and the recording,
        which hear the bridge, do not hear it."""
        self._feedbacks += 1
        keys = self.settings.agent_keys
        sound = keys.ok_sound if ok else keys.refused_sound
        return c.Play(
            self.agent_channel_id, f"sound:{sound}", f"rc-{self.call_id}-f{self._feedbacks}"
        )

    def _log(self, message: str, level: str = "info") -> c.Log:
        return c.Log(level, f"call {self.call_id} ({self.service.name}): {message}")

    # -- entry -----------------------------------------------------------------------
    def start(self, now: dt.datetime) -> list[c.Command]:
        commands: list[c.Command] = [
            c.Answer(self.caller.id),
            c.BeginCall(
                CallStart(self.call_id, self.service.name, "inbound", now, self.caller_hash),
                self.service.announcement.version,
            ),
        ]
        if self.caller_hash:
            commands.append(c.LookupObjection(self.caller_hash))
        commands.append(self._play(self.service.announcement.sound))
        return commands

    def handle(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        if self.phase is Phase.ENDED:
            return []
        match message:
            case m.Dtmf(channel_id=channel_id, digit=digit) if channel_id == self.caller.id:
                return self._caller_key(digit, now)
            case m.Dtmf(channel_id=channel_id, digit=digit, received=received) if (
                channel_id == self.agent_channel_id
            ):
                return self._agent_key(digit, received, now)
            case m.ObjectionKnown(objected=objected):
                self.remembered_objection = objected
                return self._maybe_decide(now)
            case m.PlaybackDone(playback_id=playback_id, failed=failed):
                if playback_id == self.playback_id:
                    return self._playback_done(failed, now)
                return []
            case m.AgentAnswered(channel=channel, agent=agent):
                return self._agent_answered(channel, agent, now)
            case m.ChannelGone(channel_id=channel_id):
                return self._channel_gone(channel_id, now)
            case m.RecordingStarted(name=name):
                if self.recording and self.recording.name == name:
                    if self.recording.state is RecState.STARTING:
                        self.recording.state = RecState.ACTIVE
                return []
            case m.RecordingEnded(name=name, failed=failed, cause=cause):
                return self._recording_ended(name, failed, cause, now)
            case m.CommandFailed(command=command, error_id=error_id, status=status):
                return self._command_failed(command, error_id, status, now)
            case m.TimerFired(name=name):
                return self._timer(name, now)
        return []

    # -- caller keys -----------------------------------------------------------------
    def _caller_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        keys = self.service.caller_keys
        if digit == keys.opt_out and not self.objected:
            return self._opt_out(now)
        if digit == keys.full_notice and self.phase is Phase.ANNOUNCING:
            if self._notice_requested:
                return []
            self._notice_requested = True
            return [
                c.StopPlayback(self.playback_id),
                c.AddConsent(
                    ConsentEvent(
                        self.call_id,
                        now,
                        "full_notice",
                        digit,
                        self.service.announcement.version,
                        "announcement",
                    )
                ),
            ]
        return []

    def _opt_out(self, now: dt.datetime) -> list[c.Command]:
        self.objected = True
        phase = (
            "announcement"
            if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE)
            else "conversation"
        )
        commands: list[c.Command] = []
        # C2: the live recording is discarded before anything else happens.
        if self.recording is not None and self.recording.live:
            self.recording.state = RecState.DISCARDED
            commands.append(c.CancelRecording(self.recording.name))
            commands.append(c.CloseRecording(self.recording.recording_id, "discarded"))
            commands += self._close_pause("discarded")
        if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE):
            commands.append(c.StopPlayback(self.playback_id))
        commands.append(
            c.AddConsent(
                ConsentEvent(
                    self.call_id,
                    now,
                    "opt_out",
                    self.service.caller_keys.opt_out,
                    self.service.announcement.version,
                    phase,
                )
            )
        )
        if self.caller_hash:
            commands.append(c.RememberObjection(self.caller_hash))
        discarded = (
            " and discarded the live recording"
            if any(isinstance(cmd, c.CancelRecording) for cmd in commands)
            else ""
        )
        commands.append(self._log(f"caller objected during the {phase}{discarded}"))
        return commands

    # -- announcement ----------------------------------------------------------------
    def _playback_done(self, failed: bool, now: dt.datetime) -> list[c.Command]:
        if self.phase is Phase.ANNOUNCING:
            if self._notice_requested and not self.objected:
                self.phase = Phase.FULL_NOTICE
                return [self._play(self.service.full_notice_sound)]
            if failed:
                return [
                    self._log(
                        "the announcement could not be played; the call will not be recorded",
                        "warning",
                    ),
                    *self._dial(),
                ]
            # Stopped by the opt-out key or played to the end: either way the caller
            # heard what the key does.
            self.announcement_completed = True
            return self._dial()
        if self.phase is Phase.FULL_NOTICE:
            if not failed:
                self.announcement_completed = True
            else:
                return [self._log("the full notice could not be played", "warning"), *self._dial()]
            return self._dial()
        if self.phase is Phase.NO_AGENT:
            return self._finish_without_agent(now)
        return []

    # -- agent -----------------------------------------------------------------------
    def _dial(self) -> list[c.Command]:
        self.phase = Phase.DIALING
        self.agent_originated = True
        return [
            c.Ring(self.caller.id),
            c.Originate(
                endpoint=self.service.target,
                channel_id=self.agent_channel_id,
                app_args=f"agent,{self.call_id}",
                ring_timeout=self.service.answer_timeout,
                originator=self.caller.id,
                caller_id=self.caller.caller.number or None,
            ),
            c.StartTimer(AGENT_TIMER, self.service.answer_timeout + AGENT_TIMER_SLACK_SECONDS),
        ]

    def _agent_answered(
        self, channel: Channel, agent: Agent | None, now: dt.datetime
    ) -> list[c.Command]:
        if self.phase is not Phase.DIALING:
            # Answered too late (the caller left or the timer fired): let it go.
            return [c.Hangup(channel.id)]
        self.phase = Phase.CONNECTED
        self.agent = agent
        self.agent_channel_up = True
        commands: list[c.Command] = [
            c.CancelTimer(AGENT_TIMER),
            c.CreateBridge(self.bridge_id),
            c.AddToBridge(self.bridge_id, self.caller.id),
            c.AddToBridge(self.bridge_id, channel.id),
        ]
        # Which agent took the call stays out of the normal log: the call may yet turn
        # out to be private (A2).
        who = agent.id if agent else "an agent the config does not know"
        commands.append(self._log("connected to the agent"))
        commands.append(self._log(f"connected to {who}", "debug"))
        return commands + self._maybe_decide(now)

    def _no_agent(self, why: str) -> list[c.Command]:
        self.phase = Phase.NO_AGENT
        self.outcome = "no_agent"
        commands: list[c.Command] = [c.CancelTimer(AGENT_TIMER)]
        if not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands.append(self._log(f"no agent answered ({why}); nothing recorded", "warning"))
        commands.append(self._play(self.service.no_agent_sound))
        return commands

    def _finish_without_agent(self, now: dt.datetime) -> list[c.Command]:
        commands: list[c.Command] = []
        if not self.caller_gone:
            commands.append(c.Hangup(self.caller.id))
        return commands + self._end(now)

    # -- decision and recording ------------------------------------------------------
    def _maybe_decide(self, now: dt.datetime) -> list[c.Command]:
        """Decides once the agent is bridged and the objection lookup has answered."""
        if self.phase is not Phase.CONNECTED or self.verdict is not None:
            return []
        if self.remembered_objection is None:
            return []
        if not self.announcement_completed and not self.objected:
            verdict = Verdict(
                False, Reason.ANNOUNCEMENT_NOT_PLAYED, self.service.sampling_rate, None, False, ""
            )
        else:
            verdict = decide(
                self.service,
                self.agent,
                objected_now=self.objected,
                remembered_objection=self.remembered_objection,
                now=now,
                timezone=self.settings.timezone,
                rng=self.rng,
            )
        self.verdict = verdict
        commands: list[c.Command] = [
            c.RecordDecision(
                Decision(
                    call_id=self.call_id,
                    decided_at=now,
                    record=verdict.record,
                    reason=verdict.reason.value,
                    rate=verdict.rate,
                    draw=verdict.draw,
                    in_window=verdict.in_window,
                    window=verdict.window,
                    agent_id=self.agent.id if self.agent else None,
                )
            )
        ]
        if verdict.record:
            commands += self._start_recording(self.service.purposes)
            commands.append(self._log(f"recording ({', '.join(self.service.purposes)})"))
        else:
            commands.append(self._log(f"not recorded: {verdict.reason.value}"))
        return commands

    def _start_recording(self, purposes: tuple[str, ...]) -> list[c.Command]:
        # The name is the only handle on the file: 160 random bits, so nobody can
        # guess it (S4).
        recording = Recording(new_id(self.rng), new_id(self.rng, 160), RecState.STARTING, purposes)
        self.recording = recording
        return [
            c.OpenRecording(
                recording.recording_id,
                self.call_id,
                recording.name,
                self.settings.recording_format,
                purposes,
                self.service.retention_days,
            ),
            c.StartRecording(self.bridge_id, recording.name, self.settings.recording_format),
        ]

    def _recording_ended(
        self, name: str, failed: bool, cause: str, now: dt.datetime
    ) -> list[c.Command]:
        rec = self.recording
        if rec is None or rec.name != name:
            return []
        commands: list[c.Command] = []
        if rec.state in (RecState.DISCARDED, RecState.FAILED):
            commands.append(c.DiscardIncoming(rec.name, self.settings.recording_format))
        elif rec.state is RecState.DONE:
            pass
        elif failed:
            rec.state = RecState.FAILED
            commands += self._close_pause("recording_failed")
            commands += [
                c.CloseRecording(rec.recording_id, "failed"),
                self._log(f"recording failed ({cause or 'no cause given'})", "error"),
            ]
        else:
            rec.state = RecState.DONE
            commands.append(
                c.AdoptRecording(rec.recording_id, rec.name, self.settings.recording_format)
            )
        if self.phase is Phase.ENDING:
            commands += self._end_if_settled(now)
        return commands

    # -- hang-ups and failures -------------------------------------------------------
    def _channel_gone(self, channel_id: str, now: dt.datetime) -> list[c.Command]:
        if channel_id == self.caller.id:
            if self.caller_gone:
                return []
            self.caller_gone = True
            who = "caller"
        elif channel_id == self.agent_channel_id:
            if self.agent_gone:
                return []
            self.agent_gone = True
            who = "agent"
        else:
            return []

        if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE, Phase.DIALING):
            if who == "agent":
                if self.phase is Phase.DIALING:
                    return self._no_agent("the agent channel ended before answering")
                return []
            self.outcome = "caller_hung_up"
            commands: list[c.Command] = [self._log(f"caller hung up during the {self.phase.value}")]
            if self.phase is Phase.DIALING:
                commands.insert(0, c.Hangup(self.agent_channel_id))
                commands.insert(1, c.CancelTimer(AGENT_TIMER))
            return commands + self._end(now)
        if self.phase is Phase.NO_AGENT:
            if who == "caller":
                return self._end(now)
            return []
        if self.phase is Phase.CONNECTED:
            self.outcome = f"{who}_hung_up"
            return [self._log(f"{who} hung up"), *self._wind_down(now)]
        if self.phase is Phase.ENDING:
            return self._end_if_settled(now)
        return []

    def _wind_down(self, now: dt.datetime) -> list[c.Command]:
        """Stops the recording, releases both channels and the bridge."""
        self.phase = Phase.ENDING
        commands: list[c.Command] = []
        if self.recording is not None and self.recording.live:
            self.recording.state = RecState.STOPPING
            commands.append(c.StopRecording(self.recording.name))
        commands += self._close_pause("call_end")
        if not self.caller_gone:
            commands.append(c.Hangup(self.caller.id))
        if self.agent_channel_up and not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands.append(c.DestroyBridge(self.bridge_id))
        commands.append(c.StartTimer(ENDING_TIMER, ENDING_GRACE_SECONDS))
        return commands + self._end_if_settled(now)

    def _end_if_settled(self, now: dt.datetime) -> list[c.Command]:
        recording_settled = self.recording is None or self.recording.state is not RecState.STOPPING
        channels_settled = self.caller_gone and (self.agent_gone or not self.agent_channel_up)
        if recording_settled and channels_settled:
            return [c.CancelTimer(ENDING_TIMER), *self._end(now)]
        return []

    def _end(self, now: dt.datetime) -> list[c.Command]:
        del now
        self.phase = Phase.ENDED
        if self.private:
            # The call's rows are gone; only the count remains (A2).
            return [c.Finished()]
        return [
            c.EndCall(
                self.call_id,
                self.outcome or "completed",
                self.agent.id if self.agent else None,
                self.announcement_completed,
            ),
            c.Finished(),
        ]

    def _command_failed(
        self, command: c.Command, error_id: str, status: int | None, now: dt.datetime
    ) -> list[c.Command]:
        what = type(command).__name__
        if isinstance(command, c.StartRecording):
            rec = self.recording
            if rec is not None and rec.name == command.name and rec.state is RecState.STARTING:
                rec.state = RecState.FAILED
                return [
                    c.CloseRecording(rec.recording_id, "failed"),
                    self._log(
                        f"recording could not start ({error_id} {status or ''}); the call goes "
                        "on unrecorded".replace("  ", " "),
                        "error",
                    ),
                ]
            return []
        if isinstance(command, c.Play) and command.playback_id == self.playback_id:
            return self._playback_done(True, now)
        if isinstance(command, c.Originate):
            if self.phase is Phase.DIALING:
                self.agent_gone = True
                return self._no_agent(f"{error_id} {status or ''}".strip())
            return []
        if isinstance(command, (c.CreateBridge, c.AddToBridge)) and self.phase is Phase.CONNECTED:
            self.outcome = "bridge_failed"
            return [
                self._log(
                    f"could not bridge caller and agent ({error_id}); ending the call", "error"
                ),
                *self._wind_down(now),
            ]
        if isinstance(command, c.Answer) and self.phase is Phase.ANNOUNCING:
            self.outcome = "answer_failed"
            self.caller_gone = True
            return [self._log(f"could not answer ({error_id})", "error"), *self._end(now)]
        return [self._log(f"{what} failed ({error_id} {status or ''})".strip(), "warning")]

    def _timer(self, name: str, now: dt.datetime) -> list[c.Command]:
        if name == PAUSE_TIMER and self.pause is not None:
            limit = self.service.pause.max_seconds
            message = f"pause lasted more than {limit} s: recording resumed automatically"
            return [
                *self._resume("timeout", now),
                c.AddAlert(self.call_id, "pause_timeout", message),
                self._log(message, "warning"),
            ]
        if name == AGENT_TIMER and self.phase is Phase.DIALING:
            return self._no_agent(f"no answer within {self.service.answer_timeout} s")
        if name == ENDING_TIMER and self.phase is Phase.ENDING:
            commands: list[c.Command] = []
            if self.recording is not None and self.recording.state is RecState.STOPPING:
                # RecordingFinished never came: try to keep the file anyway.
                self.recording.state = RecState.DONE
                commands.append(
                    c.AdoptRecording(
                        self.recording.recording_id,
                        self.recording.name,
                        self.settings.recording_format,
                    )
                )
            return [
                *commands,
                self._log("finished without Asterisk's last events", "warning"),
                *self._end(now),
            ]
        return []

    # -- agent keys (A2, A4, A5) -----------------------------------------------------
    def _agent_key(self, digit: str, received: float, now: dt.datetime) -> list[c.Command]:
        action = self.keys.feed(digit, received)
        if action is None or self.phase is not Phase.CONNECTED:
            return []
        if action == "pause":
            return self._pause("agent_key", now)
        if action == "resume":
            if self.pause is None:
                return [self._feedback(False)]
            return self._resume("agent", now)
        if action == "private":
            return self._make_private(now)
        if action == "start":
            return self._start_on_demand(now)
        # Keys for later features (the payment IVR) are refused until they are set up.
        return [
            self._feedback(False),
            self._log(f"agent key '{action}' is not available", "warning"),
        ]

    def _pause(self, reason: str, now: dt.datetime) -> list[c.Command]:
        rec = self.recording
        if rec is None or not rec.live or self.pause is not None:
            return [self._feedback(False)]
        mute = self.service.pause.mode == "silence"
        self.pause = Pause(new_id(self.rng), reason, mute)
        return [
            # First: nothing the agent says after the key may reach the file.
            c.PauseRecording(rec.name, mute),
            c.OpenPause(
                self.pause.pause_id,
                rec.recording_id,
                self.call_id,
                self.agent.id if self.agent else "unknown",
                reason,
            ),
            c.StartTimer(PAUSE_TIMER, self.service.pause.max_seconds),
            self._feedback(True),
            self._log(f"recording paused ({reason})"),
        ]

    def _resume(self, by: str, now: dt.datetime) -> list[c.Command]:
        pause = self.pause
        if pause is None:
            return []
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.live:
            commands.append(c.ResumeRecording(rec.name, pause.mute))
        commands += self._close_pause(by)
        commands += [self._feedback(True), self._log(f"recording resumed ({by})")]
        return commands

    def _close_pause(self, by: str) -> list[c.Command]:
        if self.pause is None:
            return []
        pause, self.pause = self.pause, None
        return [c.ClosePause(pause.pause_id, by), c.CancelTimer(PAUSE_TIMER)]

    def _make_private(self, now: dt.datetime) -> list[c.Command]:
        if self.private:
            return [self._feedback(True)]
        self.private = True
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.state in (RecState.STARTING, RecState.ACTIVE):
            rec.state = RecState.DISCARDED
            # First: the live recording goes, before anything else happens.
            commands.append(c.CancelRecording(rec.name))
        if self.pause is not None:
            self.pause = None
            commands.append(c.CancelTimer(PAUSE_TIMER))
        day = now.astimezone(self.settings.timezone).date().isoformat()
        commands += [
            c.MakePrivate(self.call_id, self.agent.id if self.agent else None, day),
            self._feedback(True),
            self._log("declared private by the agent: nothing of it is kept but a count"),
        ]
        return commands

    def _start_on_demand(self, now: dt.datetime) -> list[c.Command]:
        rec = self.recording
        if self.private or (rec is not None and rec.live):
            return [self._feedback(False)]
        refusal = on_demand_refusal(
            self.agent,
            # Until the objection ledger has answered, assume the caller objected.
            caller_objected=self.objected or self.remembered_objection is not False,
            now=now,
            timezone=self.settings.timezone,
        )
        if refusal is not None:
            return [
                self._feedback(False),
                self._log(f"on-demand recording refused: {refusal.value}"),
            ]
        return [
            *self._start_recording(("mediation",)),
            self._feedback(True),
            self._log("recording for mediation, at the agent's request"),
        ]
