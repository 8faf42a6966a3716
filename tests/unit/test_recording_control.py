"""The recording controller on its own: start, pauses, discard, stop, Asterisk's
answers, and a controller rebuilt from its snapshot."""

from __future__ import annotations

import random

from controller.calls import commands as c
from controller.calls.recording import (
    PAUSE_TIMER,
    RECORDING_FAILED,
    Pause,
    Recording,
    RecordingControl,
    RecordingSnapshot,
    RecState,
)
from controller.config.service_model import PauseSettings


def control(
    pause: PauseSettings | None = None, snapshot: RecordingSnapshot | None = None
) -> RecordingControl:
    return RecordingControl(
        call_id="c0ffee",
        bridge_id="rc-c0ffee",
        fmt="wav",
        retention_days=90,
        pause_settings=pause or PauseSettings(),
        rng=random.Random(3),
        log_prefix="call c0ffee (sales)",
        snapshot=snapshot,
    )


def kinds(commands: list[c.Command]) -> list[str]:
    return [type(cmd).__name__ for cmd in commands]


def started(pause: PauseSettings | None = None) -> tuple[RecordingControl, Recording]:
    rc = control(pause)
    rc.start(("training",))
    assert rc.recording is not None
    rc.started(rc.recording.name)
    return rc, rc.recording


def test_start_opens_the_row_then_records_under_an_unguessable_name_S4() -> None:
    rc = control()
    out = rc.start(("training", "quality"))
    assert kinds(out) == ["OpenRecording", "StartRecording"]
    opened, start = out
    assert isinstance(opened, c.OpenRecording) and isinstance(start, c.StartRecording)
    assert opened.name == start.name and len(start.name) == 40  # 160 bits
    assert (opened.call_id, opened.retention_days, start.bridge_id) == ("c0ffee", 90, "rc-c0ffee")
    rec = rc.recording
    assert rc.live and rec is not None and rec.state is RecState.STARTING
    rc.started(start.name)
    assert rc.snapshot().recording == Recording(
        rec.recording_id, rec.name, RecState.ACTIVE, rec.purposes
    )


def test_pause_in_skip_mode_goes_first_A5() -> None:
    rc, rec = started()
    assert rc.can_pause()
    out = rc.pause_for("agent_key", "alice")
    assert out[0] == c.PauseRecording(rec.name, mute=False)
    assert kinds(out) == ["PauseRecording", "OpenPause", "StartTimer"]
    assert out[2] == c.StartTimer(PAUSE_TIMER, 120)
    assert not rc.can_pause()
    resumed = rc.resume(c.PauseEnd.AGENT)
    assert resumed[0] == c.ResumeRecording(rec.name, mute=False)
    assert kinds(resumed) == ["ResumeRecording", "ClosePause", "CancelTimer"]
    assert rc.pause is None and rc.resume(c.PauseEnd.AGENT) == []


def test_silence_mode_mutes_and_card_pauses_have_their_own_limit_M2() -> None:
    rc, rec = started(PauseSettings(mode="silence", card_max_seconds=45))
    out = rc.pause_for("card", "alice")
    assert out[0] == c.PauseRecording(rec.name, mute=True)
    assert out[2] == c.StartTimer(PAUSE_TIMER, 45)


def test_card_pause_resume_refused_when_it_ends_by_timeout_only_M2() -> None:
    rc, _ = started(PauseSettings(card_resume="timeout"))
    assert rc.resume_refusal() == "nothing to resume"
    rc.pause_for("card", "alice")
    assert "timeout only" in (rc.resume_refusal() or "")


def test_timeout_alert_names_the_limit_A5() -> None:
    rc, _ = started(PauseSettings(max_seconds=60))
    assert rc.timeout_alert() == []
    opened = rc.pause_for("agent_key", "alice")[1]
    assert isinstance(opened, c.OpenPause)
    alert, log = rc.timeout_alert()
    message = "pause lasted more than 60 s: recording resumed automatically"
    assert alert == c.AddAlert("c0ffee", c.AlertKind.PAUSE_TIMEOUT, message)
    assert isinstance(log, c.Log) and log.level == "warning"
    assert rc.resume(c.PauseEnd.TIMEOUT)[1] == c.ClosePause(opened.pause_id, c.PauseEnd.TIMEOUT)


def test_payment_pause_is_skip_mode_and_takes_over_an_agent_pause_M1() -> None:
    rc, rec = started(PauseSettings(mode="silence"))
    out = rc.pause_for_payment("alice")
    assert out[0] == c.PauseRecording(rec.name, mute=False)
    assert rc.pause is not None and rc.pause.reason == "payment_ivr"

    rc, rec = started(PauseSettings(mode="silence"))
    agent_pause = rc.pause_for("agent_key", "alice")[1]
    assert isinstance(agent_pause, c.OpenPause)
    out = rc.pause_for_payment("alice")
    # Already paused: no second pause request, and the agent's pause timer is cancelled.
    assert kinds(out) == ["ClosePause", "CancelTimer", "OpenPause"]
    assert out[0] == c.ClosePause(agent_pause.pause_id, c.PauseEnd.PAYMENT)
    assert rc.pause is not None and rc.pause.mute


def test_discard_cancels_first_and_closes_the_row_once_C2() -> None:
    rc, rec = started()
    out = rc.discard(c.Closed.DISCARDED)
    closed = c.CloseRecording(rec.recording_id, c.Closed.DISCARDED)
    assert out == [c.CancelRecording(rec.name), closed]
    assert rec.state is RecState.DISCARDED and not rc.live
    # Nothing left to discard; a late RecordingFinished only cleans up the folder.
    assert rc.discard(c.Closed.DISCARDED) == []
    assert rc.ended(failed=False, cause="", may_retry=False) == [c.DiscardIncoming(rec.name, "wav")]


def test_discard_for_a_private_call_leaves_the_rows_to_the_call_A2() -> None:
    rc, rec = started()
    rc.pause_for("agent_key", "alice")
    out = rc.discard(None) + rc.drop_pause()
    assert out == [c.CancelRecording(rec.name), c.CancelTimer(PAUSE_TIMER)]


def test_stop_keeps_the_file_and_closes_the_pause() -> None:
    rc, rec = started()
    rc.pause_for("agent_key", "alice")
    out = rc.stop()
    assert kinds(out) == ["StopRecording", "ClosePause", "CancelTimer"]
    assert not rc.settled
    assert rc.ended(failed=False, cause="", may_retry=False) == [
        c.TakeInRecording(rec.recording_id, rec.name, "wav")
    ]
    assert rc.settled and rc.ended(failed=False, cause="", may_retry=False) == []


def test_failed_recording_is_closed_as_failed() -> None:
    rc, rec = started()
    out = rc.ended(failed=True, cause="disk full", may_retry=False)
    assert kinds(out) == ["CloseRecording", "DiscardIncoming", "AddAlert", "Log"]
    assert out[0] == c.CloseRecording(rec.recording_id, c.Closed.FAILED)
    assert out[1] == c.DiscardIncoming(rec.name, "wav")
    assert rec.state is RecState.FAILED


def test_r1_lost_recording_is_alerted_and_started_again_once() -> None:
    """R1: a recording that fails mid-call is an alert on the call at once, and a new
    recording (new file, same purposes) is started once; a second loss is not retried."""
    rc, rec = started()
    out = rc.ended(failed=True, cause="disk full", may_retry=True)
    assert kinds(out) == [
        "CloseRecording",
        "DiscardIncoming",
        "AddAlert",
        "Log",
        "OpenRecording",
        "StartRecording",
    ]
    alert = out[2]
    assert isinstance(alert, c.AddAlert) and alert.kind == RECORDING_FAILED
    assert "disk full" in alert.message and "retrying once" in alert.message
    retry = rc.recording
    assert retry is not None and retry.name != rec.name and retry.purposes == rec.purposes
    rc.started(retry.name)
    # Ended by itself (nobody stopped it): whatever was written is kept, not retried twice.
    out = rc.ended(failed=False, cause="", may_retry=True)
    assert kinds(out) == ["TakeInRecording", "AddAlert", "Log"]
    alert = out[1]
    assert isinstance(alert, c.AddAlert) and "goes on unrecorded" in alert.message


def test_r1_no_new_recording_while_a_pause_is_open() -> None:
    """A new file would record what the open pause keeps out."""
    rc, _ = started()
    rc.pause_for("agent_key", "alice")
    out = rc.ended(failed=True, cause="write error", may_retry=True)
    assert "StartRecording" not in kinds(out) and "ClosePause" in kinds(out)


def test_start_failure_only_for_the_recording_that_was_starting() -> None:
    rc = control()
    rc.start(("training",))
    assert rc.recording is not None
    assert rc.start_failed("another-name", "ari-conflict", 409, may_retry=False) == []
    out = rc.start_failed(rc.recording.name, "ari-conflict", 409, may_retry=False)
    assert kinds(out) == ["CloseRecording", "AddAlert", "Log"]
    assert rc.recording.state is RecState.FAILED


def test_give_up_waiting_adopts_a_stopping_recording() -> None:
    rc, rec = started()
    assert rc.give_up_waiting() == []
    rc.stop()
    assert rc.give_up_waiting() == [c.TakeInRecording(rec.recording_id, rec.name, "wav")]


def test_a_controller_rebuilt_from_its_snapshot_carries_on() -> None:
    rc, rec = started()
    rc.pause_for("agent_key", "alice")
    snapshot = rc.snapshot()
    rebuilt = control(snapshot=snapshot)
    assert rebuilt.snapshot() == snapshot
    # The snapshot is a copy: the original moving on does not change it.
    rc.discard(c.Closed.DISCARDED)
    assert snapshot.recording is not None and snapshot.recording.state is RecState.ACTIVE
    resumed = rebuilt.resume(c.PauseEnd.AGENT)
    assert resumed[0] == c.ResumeRecording(rec.name, mute=False)
    assert snapshot.pause is not None
    assert resumed[1] == c.ClosePause(snapshot.pause.pause_id, c.PauseEnd.AGENT)


def test_snapshot_of_a_paused_recording_discards_like_a_live_one_C2() -> None:
    snapshot = RecordingSnapshot(
        Recording("r1", "n" * 40, RecState.ACTIVE, ("quality",)), Pause("p1", "agent_key", False)
    )
    rc = control(snapshot=snapshot)
    out = rc.discard(c.Closed.DISCARDED) + rc.close_pause(c.PauseEnd.DISCARDED)
    assert out == [
        c.CancelRecording("n" * 40),
        c.CloseRecording("r1", c.Closed.DISCARDED),
        c.ClosePause("p1", c.PauseEnd.DISCARDED),
        c.CancelTimer(PAUSE_TIMER),
    ]
