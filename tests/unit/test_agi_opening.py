"""The FastAGI call's opening, pure: at each dialplan hook it rebuilds the call from its
open row and runs the ARI path's decision and recording machines (P1, P3, A3, C1, C2,
C4); after a restart, a call whose caller is still up is left to its hooks, one whose
caller left has its file taken in (R1)."""

from __future__ import annotations

import dataclasses
import random

from controller.calls import commands as c
from controller.calls.adoption import Released
from controller.calls.agi_opening import AgiOpening, Connected, LeftRunning, after_restart
from controller.calls.recording import RecState
from controller.config.model import Agent
from controller.records import OpenCall
from tests.factories import make_agent, make_service
from tests.unit.test_adoption import NAME, decision, plan, recording_row, view
from tests.unit.test_inbound_call import CALLER, NOW, SETTINGS, kinds, of

CALL = "c0ffee"


def fresh_call(**changes: object) -> OpenCall:
    """As the inbound script leaves it at hand-back: announced, no decision yet."""
    call = OpenCall(
        call_id=CALL, service="sales", direction="inbound", channel_id=CALLER.id,
        caller_hash="h1", announcement_completed=True, objected=False, notice_given=False,
        decision=None, has_recordings=False, recording=None, path="agi",
    )  # fmt: skip
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


def connect(
    call: OpenCall,
    *,
    draw: float = 0.1,
    consent: str | None = "informed",
    agent: Agent | None = None,
    remembered: bool = False,
) -> tuple[AgiOpening, list[c.Command]]:
    rng = random.Random(1)
    rng.random = lambda: draw  # type: ignore[method-assign]
    opening = AgiOpening(call, make_service(), SETTINGS, rng)
    hook = Connected(call, opening.service, agent or make_agent(), consent, remembered)
    return opening, opening.connected(hook, NOW)


def test_p1_p3_t1_sampled_the_decision_row_then_the_recording_row_then_mixmonitor() -> None:
    _, commands = connect(fresh_call())
    assert kinds(commands)[:3] == ["RecordDecision", "OpenRecording", "StartRecording"]
    (row,) = of(commands, c.RecordDecision)
    assert (row.decision.record, row.decision.reason, row.decision.agent_id) == (
        True, "sampled", "alice",
    )  # fmt: skip
    (opened,) = of(commands, c.OpenRecording)
    assert opened.purposes == ("training", "quality") and opened.retention_days == 90
    assert len(opened.name) == 40 and opened.fmt == "wav"
    (start,) = of(commands, c.StartRecording)
    assert start.name == opened.name


def test_p1_not_sampled_no_recording() -> None:
    _, commands = connect(fresh_call(), draw=0.9)
    (row,) = of(commands, c.RecordDecision)
    assert row.decision.reason == "not_sampled"
    assert of(commands, c.OpenRecording) == [] and of(commands, c.StartRecording) == []


def test_c2_an_objection_stored_or_on_the_channel_is_not_recorded() -> None:
    for call, consent in ((fresh_call(objected=True), "informed"), (fresh_call(), "objected")):
        _, commands = connect(call, consent=consent)
        (row,) = of(commands, c.RecordDecision)
        assert row.decision.reason == "caller_objected" and of(commands, c.StartRecording) == []


def test_c4_a_remembered_objection_is_not_recorded() -> None:
    _, commands = connect(fresh_call(), remembered=True)
    (row,) = of(commands, c.RecordDecision)
    assert row.decision.reason == "remembered_objection"


def test_c1_unannounced_on_the_channel_or_in_the_row_is_not_recorded() -> None:
    for call, consent in (
        (fresh_call(), "unannounced"),
        (fresh_call(), None),
        (fresh_call(announcement_completed=False), "informed"),
    ):
        _, commands = connect(call, consent=consent)
        (row,) = of(commands, c.RecordDecision)
        assert row.decision.reason == "announcement_not_played", consent


def test_a3_a_protected_agent_or_an_unknown_channel_is_not_recorded() -> None:
    protected = make_agent(protected=True, protection_reason="staff representative")
    _, commands = connect(fresh_call(), agent=protected)
    assert of(commands, c.RecordDecision)[0].decision.reason == "protected_agent"
    opening = AgiOpening(fresh_call(), make_service(), SETTINGS, random.Random(1))
    hook = Connected(fresh_call(), opening.service, None, "informed", False)
    (row,) = of(opening.connected(hook, NOW), c.RecordDecision)
    assert row.decision.reason == "unknown_agent"


def test_a_call_decided_once_is_not_decided_again_by_a_second_agent() -> None:
    _, commands = connect(fresh_call(decision=decision()))
    assert kinds(commands) == ["Log"]


def test_a_refused_mixmonitor_closes_the_row_failed_with_an_alert() -> None:
    opening, commands = connect(fresh_call())
    (start,) = of(commands, c.StartRecording)
    failed = opening.start_failed(start.name, "agi-mixmonitor-refused")
    assert kinds(failed)[:2] == ["CloseRecording", "AddAlert"]
    assert of(failed, c.StartRecording) == []


def recording_call(**changes: object) -> OpenCall:
    row = recording_row()
    return fresh_call(decision=decision(), has_recordings=True, recording=row, **changes)


def hang_up(call: OpenCall, *, holds: bool, entry: bool) -> list[c.Command]:
    return AgiOpening(call, make_service(), SETTINGS, random.Random(1)).hung_up(
        holds_recording=holds, entry=entry
    )


def test_t1_the_agent_hanging_up_stops_the_recording_and_takes_the_file_in() -> None:
    commands = hang_up(recording_call(), holds=True, entry=False)
    assert commands == [c.StopRecording(NAME), c.TakeInRecording("r1", NAME, "wav")]


def test_the_caller_hanging_up_closes_the_call() -> None:
    assert hang_up(recording_call(), holds=False, entry=True) == [
        c.EndCall(CALL, "completed", "alice", True)
    ]
    assert hang_up(fresh_call(), holds=False, entry=True) == [
        c.EndCall(CALL, "caller_hung_up", None, True)
    ]


def test_c2_a_recording_of_a_caller_who_objected_leaves_no_file() -> None:
    commands = hang_up(recording_call(objected=True), holds=True, entry=False)
    assert kinds(commands) == ["CancelRecording", "CloseRecording", "DiscardIncoming"]
    assert of(commands, c.CloseRecording)[0].state == "discarded"


def test_r1_after_a_restart_a_caller_still_up_keeps_the_call_open() -> None:
    assert after_restart(recording_call(), True) == LeftRunning(CALL)
    assert plan(recording_call(), view(channels=(CALLER,), bridge=False)) == LeftRunning(CALL)


def test_r1_after_a_restart_a_caller_gone_has_the_file_taken_in_and_the_call_closed() -> None:
    result = plan(recording_call(), view(channels=(), bridge=False))
    assert isinstance(result, Released)
    assert result.commands[:2] == [
        c.TakeInRecording("r1", NAME, "wav"),
        c.EndCall(CALL, "interrupted", "alice", True),
    ]
    # The caller had objected: the file is deleted, never kept.
    objected = after_restart(recording_call(objected=True), False)
    assert isinstance(objected, list)
    assert kinds(objected)[:3] == ["CloseRecording", "DiscardIncoming", "EndCall"]


def test_the_rebuilt_recording_is_the_live_row() -> None:
    opening = AgiOpening(recording_call(), make_service(), SETTINGS, random.Random(1))
    assert opening.rec.recording is not None
    assert (opening.rec.recording.name, opening.rec.recording.state) == (NAME, RecState.ACTIVE)
