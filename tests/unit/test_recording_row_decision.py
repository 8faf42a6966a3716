"""R1, P3: a call's decision to record and its recording's row are written in one
transaction, so a process killed at any point leaves both or neither; and a restarted
controller tells a recording Asterisk never started (no file anywhere) from a file that
was lost."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from controller.calls import commands as c
from controller.calls.store_writes import with_decisions, write_of
from controller.recordings import LocalVault
from controller.recordings.names import recording_halves, stereo_name
from controller.recordings.stereo import nothing_written
from controller.records import CallStart, Decision
from controller.store import SqliteStore

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
CALL = "c0ffee"
DECISION = Decision(CALL, NOW, True, "sampled", 1.0, 0.0, True, "", "alice")
OPENED = c.OpenRecording("r1", CALL, "name1", "wav", ("quality",), 30, 1, "alice")
START = c.StartRecording(f"rc-{CALL}", "name1", "wav")


def test_r1_a_decision_to_record_goes_with_its_recordings_row() -> None:
    """R1: the decision just before its recording's row is written with it."""
    fused = with_decisions([c.RecordDecision(DECISION), OPENED, START])
    assert fused == [c.OpenRecording(**{**OPENED.__dict__, "decision": DECISION}), START]


def test_r1_other_decisions_are_written_on_their_own() -> None:
    """P3: a decision not to record, or one not followed by its call's recording row,
    stays its own write."""
    alone: list[c.Command] = [c.RecordDecision(DECISION), c.Log(c.Level.INFO, "not recorded")]
    assert with_decisions(alone) == alone
    other = c.OpenRecording("r2", "beef", "name2", "wav", ("quality",), 30)
    assert with_decisions([c.RecordDecision(DECISION), other]) == [
        c.RecordDecision(DECISION),
        other,
    ]
    assert with_decisions([OPENED, START]) == [OPENED, START]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore.open(tmp_path / "store.sqlite3")
    store.begin_call(CallStart(CALL, "sales", "inbound", NOW, None, "caller-1"), "v1")
    return store


def decisions(store: SqliteStore) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in store.db.execute("SELECT call_id, record FROM decisions")]


def fused() -> c.OpenRecording:
    (opened,) = with_decisions([c.RecordDecision(DECISION), OPENED])
    assert isinstance(opened, c.OpenRecording)
    return opened


def test_r1_p3_the_row_and_its_decision_are_stored_together(store: SqliteStore) -> None:
    write_of(fused(), NOW, 365)(store)
    assert decisions(store) == [(CALL, 1)]
    recordings = store.db.execute("SELECT id, state FROM recordings").fetchall()
    assert [tuple(r) for r in recordings] == [("r1", "live")]


def test_r1_a_row_that_cannot_be_written_takes_its_decision_with_it(store: SqliteStore) -> None:
    """One transaction: a recording row refused (here, its id already taken) leaves no
    decision behind either."""
    store.open_recording("r1", CALL, "other", "wav", ("quality",), NOW, 30)
    with pytest.raises(sqlite3.IntegrityError):
        write_of(fused(), NOW, 365)(store)
    assert decisions(store) == []


@pytest.fixture
def vault(tmp_path: Path) -> LocalVault:
    vault = LocalVault(tmp_path / "asterisk", tmp_path / "vault")
    vault.asterisk_dir.mkdir()
    vault.prepare()
    return vault


def test_r1_a_recording_with_no_file_anywhere_was_never_written(vault: LocalVault) -> None:
    assert nothing_written(vault, "name1", "wav")
    assert nothing_written(vault, stereo_name("b" * 40), "wav")


@pytest.mark.parametrize("where", ["incoming", "vault", "stereo half"])
def test_r1_any_file_of_the_recording_means_it_was_written(vault: LocalVault, where: str) -> None:
    name = stereo_name("a" * 40) if where == "stereo half" else "name1"
    if where == "stereo half":
        file = vault.asterisk_dir / f"{recording_halves(name)[1]}.wav"
    else:
        file = (vault.asterisk_dir if where == "incoming" else vault.vault_dir) / "name1.wav"
    file.write_bytes(b"RIFF")
    assert not nothing_written(vault, name, "wav")
