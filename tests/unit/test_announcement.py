"""The announcement on its own: what the caller hears first and the keys they may
press (C1-C4)."""

from __future__ import annotations

import datetime as dt

from controller.calls import commands as c
from controller.calls.announcement import Announcement, Stage
from tests.factories import make_service

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def announcement(caller_hash: str | None = "h1") -> Announcement:
    return Announcement(
        call_id="c0ffee",
        service=make_service(),
        caller_id="caller-1",
        caller_hash=caller_hash,
        log_prefix="call c0ffee (sales)",
    )


def test_the_announcement_plays_first_to_the_caller_C1() -> None:
    a = announcement()
    assert a.start() == [c.Play("caller-1", "sound:reccontrol/fr/announce", "rc-c0ffee-p1", "fr")]
    assert a.playback_id == "rc-c0ffee-p1"
    heard = a.playback_done(failed=False)
    # Stored at once: a controller restarted mid-call must know it (C1, R1).
    assert heard == [c.AnnouncementHeard("c0ffee")] and a.stage is Stage.OVER and a.completed


def test_an_announcement_that_failed_does_not_count_as_heard_C1() -> None:
    a = announcement()
    a.start()
    (log,) = a.playback_done(failed=True)
    assert isinstance(log, c.Log) and log.level == "warning"
    assert a.stage is Stage.OVER and not a.completed


def test_full_notice_on_request_then_over_C3() -> None:
    a = announcement()
    a.start()
    out = a.notice_key("0", NOW)
    assert out[0] == c.StopPlayback("rc-c0ffee-p1")
    assert isinstance(out[1], c.AddConsent) and out[1].event.kind == "full_notice"
    assert a.notice_key("0", NOW) == []
    assert a.playback_done(failed=False) == [
        c.Play("caller-1", "sound:reccontrol/fr/notice", "rc-c0ffee-p2", "fr")
    ]
    assert a.stage is Stage.FULL_NOTICE and a.notice_key("0", NOW) == []
    a.playback_done(failed=False)
    assert (a.stage, a.completed) == (Stage.OVER, True)


def test_objection_during_the_announcement_is_stored_and_remembered_C2_C4() -> None:
    a = announcement()
    a.start()
    assert a.wants_to_object("9")
    out = a.object(NOW, [])
    assert [type(cmd).__name__ for cmd in out] == [
        "StopPlayback",
        "AddConsent",
        "RememberObjection",
        "Log",
    ]
    assert not a.wants_to_object("9")
    # Stopped by the key: the caller heard what the key does.
    a.playback_done(failed=False)
    assert a.completed


def test_objection_in_conversation_keeps_the_discard_first_C2() -> None:
    a = announcement(caller_hash=None)
    a.start()
    a.playback_done(failed=False)
    discard: list[c.Command] = [c.CancelRecording("n"), c.CloseRecording("r", c.Closed.DISCARDED)]
    out = a.object(NOW, discard)
    assert out[:2] == discard
    assert isinstance(out[2], c.AddConsent) and out[2].event.phase == "conversation"
    assert not any(isinstance(cmd, (c.RememberObjection, c.StopPlayback)) for cmd in out)
    assert isinstance(out[-1], c.Log) and "discarded the live recording" in out[-1].message
