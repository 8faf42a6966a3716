"""One call's recording and its pauses, as a pure state machine.

Start, pause (skip or silence mode), resume (by the agent, by timeout, by the payment),
discard and stop, and Asterisk's answers to them. A recording lost without being asked
(refused at start, failed, or ended by itself mid-call) is an alert on the call at once
and is started once more with a new file, unless a pause is open. Each method returns
the commands to carry out, the protective one (pause, discard) always first. Inbound, outbound and
adopted calls all drive their recording through this one class; a call rebuilt after a
restart starts from a :class:`RecordingSnapshot`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from controller.calls import commands as c
from controller.calls.ids import (
    half_side,
    interleaved_name,
    is_stereo,
    new_id,
    recording_halves,
    stereo_name,
    whole_recording,
)
from controller.calls.recording_parts import Pause as Pause
from controller.calls.recording_parts import Recording as Recording
from controller.calls.recording_parts import RecordingSnapshot as RecordingSnapshot
from controller.calls.recording_parts import RecState as RecState
from controller.calls.two_channels import StartStereoRecording
from controller.config.service_model import PauseSettings

PAUSE_TIMER = "pause"
RECORDING_FAILED = c.AlertKind.RECORDING_FAILED
"""Alert kind of a recording that stopped without being asked to, or never started."""
KEYS_UNHEARD = c.AlertKind.KEYS_UNHEARD
"""Alert kind of a recording discarded because the daemon could not hear the keys."""


class RecordingControl:
    def __init__(
        self,
        *,
        call_id: str,
        bridge_id: str,
        fmt: str,
        retention_days: int,
        pause_settings: PauseSettings,
        rng: random.Random,
        log_prefix: str,
        snapshot: RecordingSnapshot | None = None,
        sides: Callable[[], tuple[str, str]] | None = None,
        interleaved: bool = False,
    ) -> None:
        """``sides``: for a two-channel recording (R5), the channels whose voices go
        left (the caller's) and right (the agent's), asked for at each start;
        ``interleaved``: a two-channel recording in one file (MixMonitor's ``D``)."""
        self.call_id = call_id
        self.bridge_id = bridge_id
        self.fmt = fmt
        self.retention_days = retention_days
        self.pause_settings = pause_settings
        self.rng = rng
        self._log_prefix = log_prefix
        self.recording: Recording | None = snapshot.recording if snapshot else None
        self.pause: Pause | None = snapshot.pause if snapshot else None
        self.retries = 0
        """Recordings started again after one was lost: at most one per call."""
        self.segment = 1
        """The part of the call the next recording belongs to: one more per transfer (R3)."""
        self.agent_id: str | None = None
        """The agent of the current segment, stored with its recording (A7)."""
        self.earlier: list[Recording] = []
        """Earlier segments' recordings whose end Asterisk has not reported yet."""
        self.sides = sides
        self.interleaved = interleaved
        self._halves_ended: set[str] = set()
        """The halves of two-channel recordings (R5) whose end Asterisk reported."""

    def snapshot(self) -> RecordingSnapshot:
        rec = self.recording
        copy = Recording(rec.recording_id, rec.name, rec.state, rec.purposes) if rec else None
        return RecordingSnapshot(copy, self.pause)

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    # -- questions -------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.recording is not None and self.recording.live

    @property
    def settled(self) -> bool:
        """Nothing left to wait for from Asterisk about the file."""
        current = self.recording is None or self.recording.state is not RecState.STOPPING
        return current and not self.earlier

    def owns(self, name: str) -> bool:
        """The current recording's name, or an earlier segment's not ended yet; or one
        of their halves' (R5)."""
        whole = whole_recording(name)
        current = self.recording is not None and self.recording.name == whole
        return current or any(rec.name == whole for rec in self.earlier)

    def can_pause(self) -> bool:
        return self.live and self.pause is None

    def paused_since(self, moment: dt.datetime) -> bool:
        """True if a pause open now was already open at ``moment``: nothing was
        recorded since."""
        pause = self.pause
        return pause is not None and pause.opened_at is not None and pause.opened_at <= moment

    def resume_refusal(self) -> str | None:
        """Why the agent's resume key does nothing now, or None."""
        if self.pause is None:
            return "nothing to resume"
        if self.pause.reason == c.PauseReason.HOLD:
            return "on hold: the recording resumes when the agent takes the call back (A9)"
        if self.pause.reason == c.PauseReason.CARD and self.pause_settings.card_resume == "timeout":
            return "card-entry pause: resume refused, it ends by timeout only"
        return None

    # -- start -----------------------------------------------------------------------
    def start(self, purposes: tuple[str, ...]) -> list[c.Command]:
        # The name is the only handle on the file: 160 random bits, so nobody can
        # guess it (S4).
        name = new_id(self.rng, 160)
        start = c.StartRecording(self.bridge_id, name, self.fmt)
        if self.sides is not None:
            left, right = self.sides()
            name = stereo_name(name)
            start = StartStereoRecording(self.bridge_id, name, self.fmt, left, right)
        elif self.interleaved:
            name = interleaved_name(name)
            start = c.StartRecording(self.bridge_id, name, self.fmt)
        rec = Recording(new_id(self.rng), name, RecState.STARTING, purposes)
        self.recording = rec
        return [
            c.OpenRecording(
                rec.recording_id, self.call_id, rec.name, self.fmt, purposes, self.retention_days,
                segment=self.segment, agent_id=self.agent_id,
            ),
            start,
        ]

    def started(self, name: str) -> None:
        rec = self.recording
        current = rec is not None and rec.name == whole_recording(name)
        if current and rec is not None and rec.state is RecState.STARTING:
            rec.state = RecState.ACTIVE

    def start_failed(
        self, name: str, error_id: str, status: int | None, *, may_retry: bool
    ) -> list[c.Command]:
        """Asterisk refused to start it. ``may_retry``: the call is still one where a new
        recording could start (both parties talking, no payment under way)."""
        rec = self.recording
        if rec is None or rec.name != name or rec.state is not RecState.STARTING:
            return []
        why = f"it could not start ({error_id} {status or ''})".replace(" )", ")")
        return self._lost(why, keep_file=False, started=False, may_retry=may_retry)

    def _lost(
        self, why: str, *, keep_file: bool, may_retry: bool, started: bool = True
    ) -> list[c.Command]:
        """A recording stopped, or never started, without being asked to. The call goes
        on; the failure is an alert row on the call at once. The first loss of a call is
        retried with a new file, unless a pause is open: a new file would record what
        the pause keeps out."""
        rec = self.recording
        assert rec is not None
        paused = self.pause is not None
        commands = self.close_pause(c.PauseEnd.RECORDING_FAILED)
        if keep_file:
            # Whatever Asterisk wrote goes to the vault; no file at all marks it missing.
            rec.state = RecState.DONE
            commands.append(c.TakeInRecording(rec.recording_id, rec.name, self.fmt))
        else:
            rec.state = RecState.FAILED
            commands.append(c.CloseRecording(rec.recording_id, c.Closed.FAILED))
            if started:
                # A partial file must not stay in Asterisk's folder, outside retention.
                commands.append(c.DiscardIncoming(rec.name, self.fmt))
        retry = self.retries == 0 and not paused and may_retry
        then = "retrying once with a new file" if retry else "the call goes on unrecorded"
        message = f"recording {rec.recording_id} failed: {why}; {then}"
        commands += [
            c.AddAlert(self.call_id, RECORDING_FAILED, message),
            self._log(message, c.Level.ERROR),
        ]
        if retry:
            self.retries += 1
            commands += self.start(rec.purposes)
        return commands

    # -- pause and resume (A5, M1, M2) -----------------------------------------------
    def pause_for(
        self, reason: str, paused_by: str, now: dt.datetime | None = None
    ) -> list[c.Command]:
        """Pauses in the service's mode; check :meth:`can_pause` first."""
        rec = self.recording
        first = self.pause_command()
        assert rec is not None and first is not None
        self.pause = Pause(new_id(self.rng), reason, first.mute, now)
        return [
            # First: nothing said after the key may reach the file.
            first,
            c.OpenPause(self.pause.pause_id, rec.recording_id, self.call_id, paused_by, reason),
            c.StartTimer(PAUSE_TIMER, self._limit(reason)),
        ]

    def pause_command(self) -> c.PauseRecording | None:
        """The request :meth:`pause_for` starts with, in the service's mode; None if
        nothing can be paused now."""
        rec = self.recording
        if rec is None or not rec.live or self.pause is not None:
            return None
        return c.PauseRecording(rec.name, self.pause_settings.mode == "silence")

    def pause_for_payment(self, paused_by: str, now: dt.datetime | None = None) -> list[c.Command]:
        """The payment IVR's pause, with no time limit: it ends when the caller is back
        with the agent. Nothing to do if nothing is recording."""
        rec = self.recording
        if rec is None or not rec.live:
            return []
        commands: list[c.Command] = []
        if self.pause is None:
            # First, before the caller hears anything: skip mode, whatever the service's
            # pause mode, so not even silence marks the payment in the file (M1).
            commands.append(c.PauseRecording(rec.name, mute=False))
            muted = False
        else:
            # An agent's pause becomes the payment's: its timer must not resume the
            # recording while the agent hears hold music.
            muted = self.pause.mute
            commands += self.close_pause(c.PauseEnd.PAYMENT)
        pause = self.pause = Pause(new_id(self.rng), c.PauseReason.PAYMENT_IVR, muted, now)
        commands.append(
            c.OpenPause(pause.pause_id, rec.recording_id, self.call_id, paused_by, pause.reason)
        )
        return commands

    def resume(self, by: c.PauseEnd) -> list[c.Command]:
        """``by``: ``agent``, ``timeout`` or ``payment``."""
        pause = self.pause
        if pause is None:
            return []
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.live:
            commands.append(c.ResumeRecording(rec.name, pause.mute))
        return commands + self.close_pause(by)

    def close_pause(self, by: c.PauseEnd) -> list[c.Command]:
        if self.pause is None:
            return []
        pause, self.pause = self.pause, None
        return [c.ClosePause(pause.pause_id, by), c.CancelTimer(PAUSE_TIMER)]

    def drop_pause(self) -> list[c.Command]:
        """Forgets the pause without closing its row: the call's rows are going (A2)."""
        if self.pause is None:
            return []
        self.pause = None
        return [c.CancelTimer(PAUSE_TIMER)]

    def restart_timer(self) -> list[c.Command]:
        """The open pause's timer, at its full length: for a controller rebuilt from a
        snapshot, which cannot know how long the pause already lasted."""
        if self.pause is None:
            return []
        return [c.StartTimer(PAUSE_TIMER, self._limit(self.pause.reason))]

    def _limit(self, reason: str) -> int:
        card = reason == c.PauseReason.CARD
        return self.pause_settings.card_max_seconds if card else self.pause_settings.max_seconds

    def timeout_alert(self) -> list[c.Command]:
        """What to tell a supervisor when the pause lasted its limit (A5); call it
        before resuming."""
        if self.pause is None:
            return []
        card = self.pause.reason == c.PauseReason.CARD
        limit = self._limit(self.pause.reason)
        kind = c.AlertKind.CARD_PAUSE_TIMEOUT if card else c.AlertKind.PAUSE_TIMEOUT
        what = "card-entry pause" if card else "pause"
        message = f"{what} lasted more than {limit} s: recording resumed automatically"
        return [c.AddAlert(self.call_id, kind, message), self._log(message, c.Level.WARNING)]

    # -- discard, stop, end ----------------------------------------------------------
    def discard(self, row_state: c.Closed | None) -> list[c.Command]:
        """Stops the live recording and throws its audio away (C2, A2), the cancel
        first. ``row_state`` closes the stored row (``discarded``, ``failed``); None
        leaves it to whoever forgets the whole call. Nothing if nothing is live."""
        rec = self.recording
        if rec is None or not rec.live:
            return []
        rec.state = RecState.DISCARDED
        commands: list[c.Command] = [c.CancelRecording(rec.name)]
        if row_state is not None:
            commands.append(c.CloseRecording(rec.recording_id, row_state))
        return commands

    def discard_unheard(
        self, since: dt.datetime, now: dt.datetime, *, caller_unheard: bool
    ) -> list[c.Command]:
        """The keys of the call went unheard from ``since`` to ``now``: a key meant to
        pause the recording or make the call private may have been pressed. A recording
        that ran during any of that span is discarded, the cancel first. ``caller_unheard``:
        the announced party was in the call, so an opt-out key may have been pressed too
        (C2): a recording paused throughout goes as well, since an objection keeps no
        audio of the call, before the pause or after it. Otherwise one paused throughout
        stays as it is (its pause timer still runs). Nothing is started again: the call
        may have been declared private, or the caller may have objected."""
        if not self.live or (self.paused_since(since) and not caller_unheard):
            return []
        rec = self.recording
        assert rec is not None
        commands = [*self.discard(c.Closed.DISCARDED), *self.close_pause(c.PauseEnd.DISCARDED)]
        span = max(0.0, (now - since).total_seconds())
        message = (
            f"recording {rec.recording_id} discarded: the call's keys went unheard for "
            f"{span:.1f} s (ARI events lost); the call goes on unrecorded"
        )
        return [
            *commands,
            c.AddAlert(self.call_id, KEYS_UNHEARD, message),
            self._log(message, c.Level.WARNING),
        ]

    def stop(self) -> list[c.Command]:
        """The call is ending: stop (keeping the file) and close any pause."""
        commands: list[c.Command] = []
        rec = self.recording
        if rec is not None and rec.live:
            rec.state = RecState.STOPPING
            commands.append(c.StopRecording(rec.name))
        return commands + self.close_pause(c.PauseEnd.CALL_END)

    def ended(
        self, failed: bool, cause: str, *, may_retry: bool, name: str = ""
    ) -> list[c.Command]:
        """Asterisk finished the recording (``name``: or one half of it) or gave up on
        it (check :meth:`owns`). ``may_retry`` as for :meth:`start_failed`."""
        rec = self.recording
        assert rec is not None
        if is_stereo(rec.name) and half_side(name):
            return self._half_ended(name, failed, cause, may_retry=may_retry)
        if rec.state in (RecState.DISCARDED, RecState.FAILED):
            # Make sure nothing of a discarded recording is left behind.
            return [c.DiscardIncoming(rec.name, self.fmt)]
        if rec.state is RecState.DONE:
            return []
        if failed:
            why = f"Asterisk reported a failure: {cause or 'no cause given'}"
            return self._lost(why, keep_file=False, may_retry=may_retry)
        if rec.live:
            # Nobody asked it to stop: Asterisk could not write the file (it reports
            # that as a finished recording of 0 s) or ended it on its own.
            return self._lost("it ended by itself mid-call", keep_file=True, may_retry=may_retry)
        rec.state = RecState.DONE
        return [c.TakeInRecording(rec.recording_id, rec.name, self.fmt)]

    def _half_ended(
        self, half: str, failed: bool, cause: str, *, may_retry: bool
    ) -> list[c.Command]:
        """One side of a two-channel recording ended (R5). The file is whole once both
        have: a side that fails takes the other with it (no file keeps one voice without
        the other); a side that ends by itself, its party gone, stops the other."""
        rec = self.recording
        assert rec is not None
        self._halves_ended.add(half)
        both = set(recording_halves(rec.name)) <= self._halves_ended
        if rec.state in (RecState.DISCARDED, RecState.FAILED):
            return [c.DiscardIncoming(rec.name, self.fmt)]
        if rec.state is RecState.DONE:
            return []
        if failed:
            why = f"Asterisk reported a failure on one side: {cause or 'no cause given'}"
            lost = self._lost(why, keep_file=False, may_retry=may_retry)
            # The other side first: nothing more of it may be written.
            return [c.CancelRecording(rec.name), *lost]
        commands: list[c.Command] = []
        if rec.live:
            commands = self.stop()
            if may_retry:
                message = (
                    f"recording {rec.recording_id}: one side ended by itself mid-call; "
                    "what was recorded is kept, the call goes on unrecorded"
                )
                commands += [
                    c.AddAlert(self.call_id, RECORDING_FAILED, message),
                    self._log(message, c.Level.ERROR),
                ]
        if both:
            rec.state = RecState.DONE
            commands.append(c.TakeInRecording(rec.recording_id, rec.name, self.fmt))
        return commands

    def give_up_waiting(self) -> list[c.Command]:
        """RecordingFinished never came: try to keep the file anyway."""
        earlier = [cmd for rec in list(self.earlier) for cmd in self.earlier_ended(rec.name) or []]
        rec = self.recording
        if rec is None or rec.state is not RecState.STOPPING:
            return earlier
        rec.state = RecState.DONE
        return [*earlier, c.TakeInRecording(rec.recording_id, rec.name, self.fmt)]

    # -- segments of a transferred call (R3) -----------------------------------------
    def next_segment(self) -> list[c.Command]:
        """The agent transferred the call: the live recording stops, its file kept and
        vaulted once Asterisk reports its end, any pause closes. Nothing is recorded until
        a new decision starts the next segment's recording."""
        rec = self.recording
        commands: list[c.Command] = []
        if rec is not None and rec.live:
            rec.state = RecState.STOPPING
            commands.append(c.StopRecording(rec.name))
        if rec is not None and rec.state is RecState.STOPPING:
            # Its end (RecordingFinished) is awaited; a discarded one was dealt with.
            self.earlier.append(rec)
        self.recording, self.retries, self.agent_id = None, 0, None
        self.segment += 1
        return commands + self.close_pause(c.PauseEnd.TRANSFER)

    def earlier_ended(self, name: str, failed: bool = False) -> list[c.Command] | None:
        """Asterisk finished an earlier segment's recording: its file goes to the vault
        (a failed one's row closes, nothing of it left behind). None: not an earlier
        segment's."""
        rec = next((r for r in self.earlier if r.name == whole_recording(name)), None)
        if rec is None:
            return None
        if half_side(name) and not failed:
            # A two-channel recording's file is whole once both its sides ended (R5).
            self._halves_ended.add(name)
            if not set(recording_halves(rec.name)) <= self._halves_ended:
                return []
        self.earlier.remove(rec)
        if failed:
            rec.state = RecState.FAILED
            closed = c.CloseRecording(rec.recording_id, c.Closed.FAILED)
            # A two-channel recording's other side goes too, the cancel first (R5).
            cancel = [c.CancelRecording(rec.name)] if half_side(name) else []
            return [*cancel, closed, c.DiscardIncoming(rec.name, self.fmt)]
        rec.state = RecState.DONE
        return [c.TakeInRecording(rec.recording_id, rec.name, self.fmt)]
