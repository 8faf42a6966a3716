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
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.keys import KeyMatcher
from controller.config.model import Agent, AgentKeys, PaymentSettings, Service
from controller.payments import ivr as i
from controller.payments.gateway import APPROVED, DECLINED, ChargeRequest, ChargeResult
from controller.policy import Reason, Verdict, decide, on_demand_refusal
from controller.store.records import CallStart, ConsentEvent, Decision, PaymentRecord

AGENT_TIMER = "agent-answer"
ENDING_TIMER = "ending"
PAUSE_TIMER = "pause"
RECORDING_FAILED = "recording_failed"
"""Alert kind of a recording that stopped without being asked to, or never started."""
IVR_TIMER = "payment-entry"
AMOUNT = re.compile(r"\d{1,7}(\.\d{1,2})?")
ORDER_REFERENCE = re.compile(r"[A-Za-z0-9._-]{1,64}")
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


@dataclass
class Payment:
    """One pass of the caller through the secure payment IVR (M1)."""

    payment_id: str
    started_at: dt.datetime
    stage: str = "fetching"
    """fetching -> ivr -> submitting -> result -> (back with the agent)."""
    amount: Decimal = Decimal(0)
    order_reference: str = ""
    ivr: i.PaymentIvr | None = None
    prompt_id: str = ""
    result_id: str = ""


@dataclass(frozen=True)
class CallSettings:
    """What every call needs from the configuration, besides its service."""

    timezone: ZoneInfo
    recording_format: str
    agent_keys: AgentKeys = field(default_factory=AgentKeys)
    payment: PaymentSettings | None = None


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
        self.recording_retries = 0
        self.keys = KeyMatcher(
            settings.agent_keys.sequences(), settings.agent_keys.inter_digit_timeout
        )
        self.pause: Pause | None = None
        self.private = False
        self._feedbacks = 0
        self.payment: Payment | None = None
        self._ivr_playbacks = 0
        self.hold_music = False

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
                if self.payment is not None:
                    # In the payment IVR the caller's keys are card data, nothing else.
                    return self._ivr_key(digit, now)
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
                if self.payment is not None:
                    return self._payment_playback_done(playback_id, now)
                return []
            case m.PaymentDetails(amount=amount, order_reference=order):
                return self._payment_details(amount, order, now)
            case m.PaymentRequested(amount=amount, order_reference=order):
                if self.payment_refusal() is not None:
                    return []
                started = self._start_payment(now, fetch=False)
                return started + self._payment_details(amount, order, now)
            case m.PaymentDone(result=result):
                return self._payment_done(result, now)
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
            commands += self._recording_lost(
                f"Asterisk reported a failure: {cause or 'no cause given'}", keep_file=False
            )
        elif self.phase is Phase.CONNECTED:
            # Nobody asked it to stop: Asterisk could not write the file (it reports
            # that as a finished recording of 0 s) or ended it on its own.
            commands += self._recording_lost("it ended by itself mid-call", keep_file=True)
        else:
            rec.state = RecState.DONE
            commands.append(
                c.AdoptRecording(rec.recording_id, rec.name, self.settings.recording_format)
            )
        if self.phase is Phase.ENDING:
            commands += self._end_if_settled(now)
        return commands

    def _recording_lost(
        self, why: str, *, keep_file: bool, started: bool = True
    ) -> list[c.Command]:
        """A recording stopped, or never started, without being asked to. The call goes
        on; the failure is an alert row on the call at once. The first loss of a call is
        retried with a new file, unless a pause is open: a new file would record what
        the pause keeps out."""
        rec = self.recording
        assert rec is not None
        paused = self.pause is not None
        commands = self._close_pause("recording_failed")
        if keep_file:
            # Whatever Asterisk wrote goes to the vault; no file at all marks it missing.
            rec.state = RecState.DONE
            commands.append(
                c.AdoptRecording(rec.recording_id, rec.name, self.settings.recording_format)
            )
        else:
            rec.state = RecState.FAILED
            commands.append(c.CloseRecording(rec.recording_id, "failed"))
            if started:
                # A partial file must not stay in Asterisk's folder, outside retention.
                commands.append(c.DiscardIncoming(rec.name, self.settings.recording_format))
        retry = (
            self.recording_retries == 0
            and not paused
            and self.payment is None
            and self.phase is Phase.CONNECTED
            and not (self.caller_gone or self.agent_gone)
        )
        then = "retrying once with a new file" if retry else "the call goes on unrecorded"
        message = f"recording {rec.recording_id} failed: {why}; {then}"
        commands += [
            c.AddAlert(self.call_id, RECORDING_FAILED, message),
            self._log(message, "error"),
        ]
        if retry:
            self.recording_retries += 1
            commands += self._start_recording(rec.purposes)
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
            if self.payment is not None:
                if who == "agent":
                    # The caller is in the payment IVR: let them finish, then end.
                    return [self._log("agent hung up during the payment")]
                return [
                    *self._abandon_payment(now),
                    self._log("caller hung up during the payment"),
                    *self._wind_down(now),
                ]
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
        # Seen on Asterisk 22: a recorded bridge still playing hold music outlives
        # DELETE /bridges. Stopping the music first lets it go.
        commands += self._stop_hold_music()
        commands.append(c.DestroyBridge(self.bridge_id))
        grace = ENDING_GRACE_SECONDS
        if self.payment is not None and self.settings.payment is not None:
            # A payment already sent: wait for the API's answer so it reaches the store.
            settings = self.settings.payment
            grace += settings.timeout * settings.max_attempts + 2 * settings.max_attempts
        commands.append(c.StartTimer(ENDING_TIMER, grace))
        return commands + self._end_if_settled(now)

    def _end_if_settled(self, now: dt.datetime) -> list[c.Command]:
        recording_settled = self.recording is None or self.recording.state is not RecState.STOPPING
        channels_settled = self.caller_gone and (self.agent_gone or not self.agent_channel_up)
        if recording_settled and channels_settled and self.payment is None:
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
                why = f"it could not start ({error_id} {status or ''})".replace(" )", ")")
                return self._recording_lost(why, keep_file=False, started=False)
            return []
        if isinstance(command, c.Play) and command.playback_id == self.playback_id:
            return self._playback_done(True, now)
        if isinstance(command, c.Originate):
            if self.phase is Phase.DIALING:
                self.agent_gone = True
                return self._hand_back(f"the agent could not be dialled ({error_id})", now)
            return []
        if isinstance(command, (c.CreateBridge, c.AddToBridge)) and self.phase is Phase.CONNECTED:
            if (
                isinstance(command, c.AddToBridge)
                and command.channel_id == self.caller.id
                and (self.caller_gone)
            ):
                return []
            return self._hand_back(f"caller and agent could not be bridged ({error_id})", now)
        if isinstance(command, c.Answer) and self.phase is Phase.ANNOUNCING:
            self.outcome = "answer_failed"
            self.caller_gone = True
            return [self._log(f"could not answer ({error_id})", "error"), *self._end(now)]
        return [self._log(f"{what} failed ({error_id} {status or ''})".strip(), "warning")]

    def _hand_back(self, why: str, now: dt.datetime) -> list[c.Command]:
        """Something on reccontrol's side failed: the caller goes back to the dialplan
        (its fallback reaches the agents, unrecorded) rather than being hung up. A call
        may be lost from the recording, never from the telephony."""
        commands: list[c.Command] = [
            self._log(f"{why}; the caller goes on through the dialplan, unrecorded", "error")
        ]
        rec = self.recording
        if rec is not None and rec.live:
            rec.state = RecState.DISCARDED
            commands += [
                c.CancelRecording(rec.name),
                c.CloseRecording(rec.recording_id, "failed"),
            ]
        commands += self._close_pause("call_end")
        commands.append(c.CancelTimer(AGENT_TIMER))
        if self.agent_originated and not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands += self._stop_hold_music()
        if self.phase is Phase.CONNECTED:
            commands.append(c.DestroyBridge(self.bridge_id))
        if not self.caller_gone:
            commands.append(c.ContinueInDialplan(self.caller.id))
        self.outcome = "handed_back"
        return commands + self._end(now)

    def _timer(self, name: str, now: dt.datetime) -> list[c.Command]:
        if name == PAUSE_TIMER and self.pause is not None and self.payment is None:
            card = self.pause.reason == "card"
            limit = self.service.pause.card_max_seconds if card else self.service.pause.max_seconds
            kind = "card_pause_timeout" if card else "pause_timeout"
            what = "card-entry pause" if card else "pause"
            message = f"{what} lasted more than {limit} s: recording resumed automatically"
            return [
                *self._resume("timeout", now),
                c.AddAlert(self.call_id, kind, message),
                self._log(message, "warning"),
            ]
        if name == IVR_TIMER and self.payment is not None and self.payment.ivr is not None:
            return self._ivr_actions(self.payment.ivr.timed_out(), now)
        if name == AGENT_TIMER and self.phase is Phase.DIALING:
            return self._no_agent(f"no answer within {self.service.answer_timeout} s")
        if name == ENDING_TIMER and self.phase is Phase.ENDING:
            commands: list[c.Command] = []
            if self.payment is not None and self.payment.stage == "submitting":
                commands += self._payment_result("unknown", "", 0, "no answer before the end", now)
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
        if self.payment is not None and action != "private":
            # While the caller is in the payment IVR the recording stays paused.
            return [self._feedback(False)]
        if action == "payment":
            return self._start_payment(now)
        if action == "pause":
            return self._pause("agent_key", now)
        if action == "card":
            return self._pause("card", now)
        if action == "resume":
            if self.pause is None:
                return [self._feedback(False)]
            if self.pause.reason == "card" and self.service.pause.card_resume == "timeout":
                return [
                    self._feedback(False),
                    self._log("card-entry pause: resume refused, it ends by timeout only"),
                ]
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
            c.StartTimer(
                PAUSE_TIMER,
                self.service.pause.card_max_seconds
                if reason == "card"
                else self.service.pause.max_seconds,
            ),
            self._feedback(True),
            self._log(f"recording paused ({reason})"),
        ]

    def _resume(self, by: str, now: dt.datetime, feedback: bool = True) -> list[c.Command]:
        pause = self.pause
        if pause is None:
            return []
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.live:
            commands.append(c.ResumeRecording(rec.name, pause.mute))
        commands += self._close_pause(by)
        if feedback:
            commands.append(self._feedback(True))
        commands.append(self._log(f"recording resumed ({by})"))
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

    # -- payment IVR (M1) ------------------------------------------------------------
    def payment_refusal(self) -> str | None:
        """Why this call cannot go to the payment IVR now, or None."""
        if self.settings.payment is None or not self.service.payments:
            return "payments are not enabled for this service"
        if self.phase is not Phase.CONNECTED or self.caller_gone:
            return "the caller is not talking with an agent"
        if self.payment is not None:
            return "a payment is already in progress"
        return None

    def _start_payment(self, now: dt.datetime, fetch: bool = True) -> list[c.Command]:
        refusal = self.payment_refusal()
        if refusal is not None:
            return [self._feedback(False), self._log(f"payment refused: {refusal}")]
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.live:
            if self.pause is None:
                # First, before the caller hears anything: skip mode, whatever the service's
                # pause mode, so not even silence marks the payment in the file (M1).
                commands.append(c.PauseRecording(rec.name, mute=False))
                muted = False
            else:
                # An agent's pause becomes the payment's: its timer must not resume the
                # recording while the agent hears hold music.
                muted = self.pause.mute
                commands += self._close_pause("payment")
            self.pause = Pause(new_id(self.rng), "payment_ivr", muted)
            commands.append(
                c.OpenPause(
                    self.pause.pause_id,
                    rec.recording_id,
                    self.call_id,
                    self.agent.id if self.agent else "unknown",
                    "payment_ivr",
                )
            )
        self.payment = Payment(new_id(self.rng), now)
        if fetch:
            commands += [
                c.FetchPaymentDetails(self.caller.id),
                self._log("payment requested: recording paused, reading the amount"),
            ]
        else:
            commands.append(self._log("payment requested through the API: recording paused"))
        return commands

    def _payment_details(self, amount: str, order: str, now: dt.datetime) -> list[c.Command]:
        payment, settings = self.payment, self.settings.payment
        if payment is None or payment.stage != "fetching" or settings is None:
            return []
        value = Decimal(amount) if AMOUNT.fullmatch(amount) else Decimal(0)
        if value <= 0 or value > settings.max_amount or not ORDER_REFERENCE.fullmatch(order):
            self.payment = None
            return [
                *self._resume("payment", now, feedback=False),
                self._feedback(False),
                self._log(
                    "payment refused: the call carries no valid amount (RECCONTROL_PAYMENT_AMOUNT"
                    ") or order reference (RECCONTROL_PAYMENT_ORDER)",
                    "warning",
                ),
            ]
        payment.amount, payment.order_reference, payment.stage = value, order, "ivr"
        today = now.astimezone(self.settings.timezone).date()
        payment.ivr = i.PaymentIvr(
            i.IvrSettings(
                prompt_number=settings.prompts.number,
                prompt_expiry=settings.prompts.expiry,
                prompt_cvv=settings.prompts.cvv,
                prompt_invalid=settings.prompts.invalid,
                first_digit_timeout=settings.first_digit_timeout,
                digit_timeout=settings.digit_timeout,
                max_attempts=settings.max_entry_attempts,
            ),
            today,
        )
        return [
            # The caller leaves the agent; the agent hears hold music, not the digits.
            c.RemoveFromBridge(self.bridge_id, self.caller.id),
            self._hold_music(settings.hold_music_class),
            *self._ivr_actions(payment.ivr.start(), now),
            self._log(f"caller in the payment IVR ({value} {settings.currency})"),
        ]

    def _ivr_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        payment = self.payment
        if payment is None or payment.ivr is None or payment.stage != "ivr":
            return []
        return self._ivr_actions(payment.ivr.digit(digit), now)

    def _ivr_actions(self, actions: list[i.Action], now: dt.datetime) -> list[c.Command]:
        payment, settings = self.payment, self.settings.payment
        if payment is None or settings is None:
            return []
        commands: list[c.Command] = []
        for action in actions:
            match action:
                case i.Prompt(sounds=sounds):
                    payment.prompt_id = self._ivr_playback_id()
                    commands.append(self._play_to_caller(sounds, payment.prompt_id))
                case i.StopPrompt():
                    commands.append(c.StopPlayback(payment.prompt_id))
                case i.Wait(seconds=seconds):
                    commands.append(c.StartTimer(IVR_TIMER, seconds))
                case i.Collected(card=card):
                    payment.stage = "submitting"
                    commands += [
                        c.CancelTimer(IVR_TIMER),
                        c.SubmitPayment(
                            ChargeRequest(
                                amount=payment.amount,
                                currency=settings.currency,
                                order_reference=payment.order_reference,
                                idempotency_key=new_id(self.rng),
                                card=card,
                            )
                        ),
                        self._log("card data collected and checked; sending to the payment API"),
                    ]
                case i.GaveUp(reason=reason):
                    commands.append(c.CancelTimer(IVR_TIMER))
                    commands += self._payment_result(reason, "", 0, "caller entry", now)
        return commands

    def _hold_music(self, moh_class: str) -> c.StartHoldMusic:
        self.hold_music = True
        return c.StartHoldMusic(self.bridge_id, moh_class)

    def _stop_hold_music(self) -> list[c.Command]:
        if not self.hold_music:
            return []
        self.hold_music = False
        return [c.StopHoldMusic(self.bridge_id)]

    def _ivr_playback_id(self) -> str:
        self._ivr_playbacks += 1
        return f"rc-{self.call_id}-i{self._ivr_playbacks}"

    def _play_to_caller(self, sounds: tuple[str, ...], playback_id: str) -> c.Play:
        media = ",".join(f"sound:{sound}" for sound in sounds)
        return c.Play(self.caller.id, media, playback_id, self.service.language)

    def _payment_done(self, result: ChargeResult, now: dt.datetime) -> list[c.Command]:
        if self.payment is None or self.payment.stage != "submitting":
            return []
        return self._payment_result(
            result.status, result.reference, result.attempts, result.detail, now
        )

    def _payment_result(
        self, status: str, reference: str, attempts: int, detail: str, now: dt.datetime
    ) -> list[c.Command]:
        payment, settings = self.payment, self.settings.payment
        assert payment is not None and settings is not None
        payment.stage = "result"
        commands: list[c.Command] = [
            c.RecordPayment(
                PaymentRecord(
                    payment_id=payment.payment_id,
                    call_id=self.call_id,
                    started_at=payment.started_at,
                    ended_at=now,
                    amount=f"{payment.amount:.2f}",
                    currency=settings.currency,
                    order_reference=payment.order_reference,
                    status=status,
                    provider_reference=reference,
                    attempts=attempts,
                    detail=detail,
                )
            ),
            self._log(f"payment {status} ({detail})"),
        ]
        if self.caller_gone:
            self.payment = None
            if self.phase is Phase.ENDING:
                commands += self._end_if_settled(now)
            return commands
        prompts = settings.prompts
        sound = {APPROVED: prompts.approved, DECLINED: prompts.declined}.get(
            status, prompts.unavailable
        )
        payment.result_id = self._ivr_playback_id()
        commands.append(self._play_to_caller((sound,), payment.result_id))
        if not self.agent_gone:
            commands.append(self._feedback(status == APPROVED))
        return commands

    def _payment_playback_done(self, playback_id: str, now: dt.datetime) -> list[c.Command]:
        payment = self.payment
        assert payment is not None
        if playback_id == payment.prompt_id and payment.ivr is not None and payment.stage == "ivr":
            return self._ivr_actions(payment.ivr.prompt_finished(), now)
        if playback_id == payment.result_id and payment.stage == "result":
            return self._return_from_payment(now)
        return []

    def _return_from_payment(self, now: dt.datetime) -> list[c.Command]:
        self.payment = None
        if self.agent_gone:
            return self._wind_down(now)
        commands: list[c.Command] = [
            *self._stop_hold_music(),
            c.AddToBridge(self.bridge_id, self.caller.id),
        ]
        # Only once the caller is back with the agent does the recording resume (M1).
        commands += self._resume("payment", now, feedback=False)
        commands.append(self._log("caller back with the agent"))
        return commands

    def _abandon_payment(self, now: dt.datetime) -> list[c.Command]:
        payment = self.payment
        if payment is None:
            return []
        commands: list[c.Command] = [c.CancelTimer(IVR_TIMER)]
        if payment.ivr is not None:
            payment.ivr.abandon()
        if payment.stage in ("fetching", "ivr"):
            commands += self._payment_result("abandoned", "", 0, "caller hung up", now)
        self.payment = None if payment.stage != "submitting" else payment
        return commands
