"""A call that came over FastAGI, pure: what its hooks on the site's dialplan decide.

A dialplan-only site keeps its own ``Queue()`` or ``Dial()``: Asterisk, not reccontrol,
connects the caller to the agent, and each step reaches the daemon as a separate AGI
session (``inbound``, then ``connected`` on the agent's channel, then ``hangup``). So
nothing lives in memory between the steps: the store is the call's state, and each step
rebuilds what it needs from the call's open row (:class:`~controller.records.OpenCall`).

The decision (P1-P4, A1, A3, A8, C1, C2, C4) is :func:`decide_and_start`, and the
recording is :class:`RecordingControl`, the very code the ARI path's
:class:`~controller.calls.call.Call` runs; only where the commands go differs (MixMonitor
on the agent's channel instead of a bridge recording, see :mod:`controller.agi.recorder`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from controller.calls import commands as c
from controller.calls.call_settings import CallSettings
from controller.calls.conversation import Conversation
from controller.calls.deciding import decide_and_start
from controller.calls.outbound import NUMBER
from controller.calls.parties import Outcome
from controller.calls.recording import (
    PAUSE_TIMER,
    Pause,
    Recording,
    RecordingControl,
    RecordingSnapshot,
    RecState,
)
from controller.config.model import Agent, Service
from controller.records import OpenCall

INFORMED = "informed"
"""``RECCONTROL_CONSENT`` of a caller who heard the announcement and did not object."""
OBJECTED = "objected"
ACTION_OF_SCRIPT = {
    "pause": "pause",
    "resume": "resume",
    "record": "start",
    "private": "private",
    "card": "card",
}
"""The agents' keys of this path, each a FastAGI script the shipped feature map runs on
the agent's channel (``dialplan/reccontrol-features.conf``), to the ``agent_keys``
action the ARI path's conversation knows it by. The payment key is not one of them: the
payment IVR needs the caller in a bridge of the daemon's."""
KEY_ACTIONS = tuple(ACTION_OF_SCRIPT)
AGENT_CHANNEL = "agent"
"""Where the conversation's feedback sounds go: the recorder plays them on the session
of the agent's channel, the only one a key script runs on."""


@dataclass(frozen=True)
class Connected:
    """What the ``connected`` hook knows when the agent answers."""

    call: OpenCall
    service: Service
    agent: Agent | None
    """Identified from the answering channel's name (A3, A7); None: not a known agent."""
    consent: str | None
    """``RECCONTROL_CONSENT`` as the agent's channel inherited it (None: not set)."""
    remembered_objection: bool
    """The number's objection from an earlier call still stands (C4)."""


class AgiOpening:
    """One AGI call's recording, rebuilt from its open row at each hook."""

    def __init__(
        self, call: OpenCall, service: Service, settings: CallSettings, rng: random.Random
    ) -> None:
        self.call = call
        self.service = service
        self.settings = settings
        self.rng = rng
        self.log_prefix = f"call {call.call_id} ({service.name}, agi)"
        self.rec = RecordingControl(
            call_id=call.call_id,
            # MixMonitor runs on the agent's channel, not on a bridge of ours: the
            # recorder ignores this target.
            bridge_id="",
            # A file is taken in under the format it was started with.
            fmt=call.recording.format if call.recording else settings.recording_format,
            retention_days=service.retention_days,
            pause_settings=service.pause,
            rng=rng,
            log_prefix=self.log_prefix,
            snapshot=_snapshot(call, service),
            interleaved=settings.recording_channels == "stereo",
        )

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self.log_prefix}: {message}")

    # -- the agent answered ----------------------------------------------------------
    def connected(self, hook: Connected, now: dt.datetime) -> list[c.Command]:
        """The decision row, then the recording's start when the verdict allows it.

        The caller's objection counts if either the stored consent or the channel says
        so; the announcement counts only if both say it was heard (C1, C2)."""
        call = self.call
        if call.decision is not None:
            # A second agent on the same call (a transfer, a second queue): the call was
            # decided once, with its first agent, and is not decided again.
            return [self._log("already decided; this agent's leg is not recorded")]
        objected = call.objected or hook.consent == OBJECTED
        announced = call.announcement_completed and hook.consent == INFORMED
        _, commands = decide_and_start(
            call.call_id, self.service, hook.agent, self.rec, self._log,
            announced=announced, objected=objected,
            remembered_objection=hook.remembered_objection, now=now,
            timezone=self.settings.timezone, rng=self.rng,
            staff_informed=self.settings.staff_informed,
        )  # fmt: skip
        return commands

    # -- the agent's keys (A2, A4, A5) ----------------------------------------------------
    def conversation(self, agent: Agent | None) -> Conversation:
        """The ARI path's conversation over this call's recording: its key handling is
        the policy on both paths (what may pause, resume or start, the pause rows, the
        private call's count)."""
        talk = Conversation(
            call_id=self.call.call_id, service=self.service, settings=self.settings,
            caller_id="", agent_channel_id=AGENT_CHANNEL, bridge_id="", recording=self.rec,
            rng=self.rng, log_prefix=self.log_prefix,
        )  # fmt: skip
        talk.meet(agent)
        return talk

    def key(
        self,
        script: str,
        agent: Agent | None,
        *,
        caller_objected: bool,
        now: dt.datetime,
        holds_recording: bool = True,
    ) -> list[c.Command]:
        """A key script (``pause``, ``resume``, ``record``, ``private``, ``card``) run by the
        feature map on the agent's channel. A call never decided (no agent answered
        through the shipped subroutine) takes no key; the payment IVR is the ARI path's
        alone, so there is no payment to refuse here. ``holds_recording``: the channel
        runs the call's MixMonitor; a second agent's channel (a transfer) does not, and
        its keys are refused while a recording runs elsewhere, since a pause row there
        would claim a pause the recording never took."""
        if self.call.decision is None:
            return [self._log(f"key '{script}' before the call was decided: ignored")]
        talk = self.conversation(agent)
        if self.rec.live and not holds_recording:
            return [talk.feedback(False), self._log(f"key '{script}' from a channel not recorded")]
        return sound_before_recording(
            talk.action(
                ACTION_OF_SCRIPT[script],
                now,
                payment_refusal=lambda: "payments are not taken over FastAGI",
                caller_objected=caller_objected,
            )
        )

    def pause_timer(self, pause_id: str, now: dt.datetime) -> list[c.Command]:
        """The pause ``pause_id`` reached its limit (A5): the same forced resume and alert
        as on the ARI path, unless that pause is over already."""
        pause = self.rec.pause
        if pause is None or pause.pause_id != pause_id:
            return []
        commands = self.conversation(None).timer(PAUSE_TIMER, now)
        return commands or []

    def pause_left(self, now: dt.datetime) -> float | None:
        """Seconds the open pause has left before its limit (0 if past it); None without
        an open pause. The stored start is known, so a restart does not lengthen a
        pause."""
        pause = self.rec.pause
        if pause is None:
            return None
        (start,) = self.rec.restart_timer()
        assert isinstance(start, c.StartTimer)
        if pause.opened_at is None:
            return float(start.seconds)
        return max(0.0, start.seconds - (now - pause.opened_at).total_seconds())

    def start_failed(self, name: str, error_id: str) -> list[c.Command]:
        """Asterisk refused the MixMonitor: an alert, the call goes on unrecorded (no
        retry: the agent is already talking, a second attempt would fail alike)."""
        return self.rec.start_failed(name, error_id, None, may_retry=False)

    # -- a channel of the call hung up -------------------------------------------------
    def hung_up(
        self, *, holds_recording: bool, entry: bool, dial_status: str | None = None
    ) -> list[c.Command]:
        """``holds_recording``: the channel that hung up is the one MixMonitor records
        (the agent's); ``entry``: it is the channel the call began on (the caller's, or
        the agent's on an outbound call), whose end closes the call row;
        ``dial_status``: that channel's ``DIALSTATUS``, which tells how an outbound call
        nobody decided ended.

        The recording stops and goes to the vault through the ARI path's intake
        (:class:`~controller.calls.commands.TakeInRecording`); a caller who objected
        leaves no file (C2)."""
        commands: list[c.Command] = []
        rec = self.rec.recording
        if holds_recording and rec is not None and rec.live:
            if self.call.objected:
                discarded = self.rec.discard(c.Closed.DISCARDED)
                commands += [*discarded, c.DiscardIncoming(rec.name, self.rec.fmt)]
            else:
                commands += self.rec.stop()
                commands += self.rec.ended(False, "", may_retry=False)
        if entry:
            commands.append(self.end(self._outcome(dial_status)))
        return commands

    def _outcome(self, dial_status: str | None) -> Outcome:
        if self.call.decision is not None:
            return Outcome.COMPLETED
        if self.call.direction == "outbound":
            return not_answered(dial_status)
        return Outcome.CALLER_HUNG_UP

    def end(self, outcome: Outcome) -> c.EndCall:
        decision = self.call.decision
        agent_id = decision.agent_id if decision is not None else None
        return c.EndCall(self.call.call_id, outcome, agent_id, self.call.announcement_completed)


def sound_before_recording(commands: list[c.Command]) -> list[c.Command]:
    """The key's sound moved ahead of a recording that (re)starts in the same answer.

    The ARI path records the bridge, which never hears what is played to the agent
    alone; MixMonitor records the agent's channel, what the agent hears included. Played
    first, the ok sound of a resume or of a record on demand stays out of the file,
    which misses the sound's length of the conversation instead. A pause's sound already
    comes after the pause."""
    restarts = (c.StartRecording, c.ResumeRecording)
    first = next((i for i, x in enumerate(commands) if isinstance(x, restarts)), None)
    if first is None:
        return commands
    sounds = [x for x in commands[first:] if isinstance(x, c.Play)]
    rest = [x for x in commands[first:] if not isinstance(x, c.Play)]
    return [*commands[:first], *sounds, *rest]


# -- an agent's outbound call (C6) ----------------------------------------------------------
class OutboundRefusal(StrEnum):
    """Why the ``outbound`` script opened no call; the value is the error id the
    dialplan reads in ``RECCONTROL_ERROR``. The call goes on, unannounced and
    unrecorded, as the site's dialplan dials it."""

    UNKNOWN_SERVICE = "unknown-service"
    NOT_OUTBOUND = "not-outbound"
    """The service has no ``outbound`` section: it takes no outbound calls."""
    BAD_NUMBER = "bad-number"
    """No ``number`` argument, or not a phone number (digits, an optional leading +)."""


@dataclass(frozen=True)
class OutboundAsk:
    """What the agent's channel asked the ``outbound`` script for, checked."""

    service: Service
    number: str = field(repr=False)
    """The number dialled: hashed for the row, never stored nor logged."""


def outbound_ask(
    services: Mapping[str, Service], service_name: str, number: str
) -> OutboundAsk | OutboundRefusal:
    """The service and number of an outbound call over FastAGI, checked as the ARI
    path checks them (:class:`~controller.calls.starting.OutboundRequest`): a service
    that takes outbound calls, a number made of digits."""
    service = services.get(service_name)
    if service is None:
        return OutboundRefusal.UNKNOWN_SERVICE
    if service.outbound is None:
        return OutboundRefusal.NOT_OUTBOUND
    if NUMBER.fullmatch(number) is None:
        return OutboundRefusal.BAD_NUMBER
    return OutboundAsk(service, number)


_DIAL_OUTCOMES = {
    "ANSWER": Outcome.COMPLETED,
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.AGENT_HUNG_UP,
    "CONGESTION": Outcome.FAILED,
    "CHANUNAVAIL": Outcome.FAILED,
}
"""Dial()'s ``DIALSTATUS`` to the outcome stored, as the ARI path's outbound outcomes."""


def not_answered(dial_status: str | None) -> Outcome:
    """How an outbound call that was never decided ended, from the agent channel's
    ``DIALSTATUS``. ``ANSWER``: answered, but the announcement's script never ran (the
    daemon unreachable), so the call went on unrecorded. No status: the agent hung up
    before ``Dial()``."""
    if not dial_status:
        return Outcome.AGENT_HUNG_UP
    return _DIAL_OUTCOMES.get(dial_status, Outcome.FAILED)


def _snapshot(call: OpenCall, service: Service) -> RecordingSnapshot | None:
    """The live recording the store knows, as recording (MixMonitor keeps writing until
    its channel hangs up, whatever happened to the daemon meanwhile), with its open
    pause, muted or skipped as the service's mode says."""
    row = call.recording
    if row is None:
        return None
    rec = Recording(row.recording_id, row.name, RecState.ACTIVE, row.purposes)
    pause = None
    if row.pause_id is not None:
        mute = service.pause.mode == "silence"
        pause = Pause(row.pause_id, row.pause_reason or "", mute, row.pause_started)
    return RecordingSnapshot(rec, pause)


# -- after a restart (R1) -----------------------------------------------------------------
@dataclass(frozen=True)
class LeftRunning:
    """An AGI call whose caller is still on Asterisk: it stays open, its hang-up hook
    will close it (and vault its recording)."""

    call_id: str


def after_restart(call: OpenCall, channel_up: bool) -> LeftRunning | list[c.Command]:
    """An AGI call a previous run left open. Its channels are the site dialplan's, never
    touched: a caller still there keeps the call open; a caller gone means the hang-up
    hook could not reach the daemon, so the file MixMonitor wrote goes to the vault now
    (deleted if the caller objected), and the row is closed."""
    if channel_up:
        return LeftRunning(call.call_id)
    commands: list[c.Command] = []
    row = call.recording
    if row is not None:
        if call.objected:
            commands += [
                c.CloseRecording(row.recording_id, c.Closed.DISCARDED),
                c.DiscardIncoming(row.name, row.format),
            ]
        else:
            commands.append(c.TakeInRecording(row.recording_id, row.name, row.format))
    agent_id = call.decision.agent_id if call.decision is not None else None
    commands += [
        c.EndCall(call.call_id, Outcome.INTERRUPTED, agent_id, call.announcement_completed),
        c.Log(
            c.Level.WARNING,
            f"call {call.call_id} (agi): its caller left while the daemon was away; "
            + ("its recording taken in" if row is not None else "nothing was recording"),
        ),
    ]
    return commands
