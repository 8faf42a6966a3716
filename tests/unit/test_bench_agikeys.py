"""The FastAGI key bench (``bench/agikeys.py``), which times the A5 pause on the FastAGI
path: its Asterisk stand-in answers as Asterisk does, so the daemon's pause takes its
ordinary way (not a refusal or a fallback), and its figures reach the report."""

from __future__ import annotations

import math
import os
import wave
from pathlib import Path
from typing import Any

from bench.agikeys import MODES, AgiChannel, AgiKeyRun, Session, _reached, key_subroutine
from bench.report import key_figures, render
from bench.run import _json_safe


def test_a5_stand_in_channel_answers_as_asterisk_and_hands_inherited_variables_on() -> None:
    caller = AgiChannel("PJSIP/trunk-00000001", "1765000000.0")
    assert caller.answer('SET VARIABLE "__RECCONTROL_CALL_ID" "ab12"') == "200 result=1"
    assert caller.answer('SET VARIABLE "CHANNEL(language)" "fr"') == "200 result=1"
    assert caller.answer('GET VARIABLE "RECCONTROL_CALL_ID"') == "200 result=1 (ab12)"
    assert caller.answer("CHANNEL STATUS") == "200 result=6"
    assert caller.answer('STREAM FILE "bench-announce" "#"') == "200 result=0 endpos=8000"

    agent = caller.dial("Local/alice-agi@sim-agent-00000000;1", "1765000000.1")
    assert agent.answer('GET VARIABLE "RECCONTROL_CALL_ID"') == "200 result=1 (ab12)"
    # Not inherited: set without the prefix.
    assert agent.answer('GET VARIABLE "CHANNEL(language)"') == "200 result=0"


def test_a5_stand_in_mixmonitor_leaves_its_file_and_id_and_an_append_keeps_the_file(
    tmp_path: Path,
) -> None:
    if os.geteuid() == 0:
        # Asterisk's recording folder, as in the sandbox: the file must be Asterisk's too.
        os.chown(tmp_path, 4242, 4242)
    agent = AgiChannel("Local/alice-agi@sim-agent-00000000;1", "1765000000.1")
    path = tmp_path / "f00d.wav"
    answer = agent.answer(f'EXEC MixMonitor "{path},i(RECCONTROL_MIXMONITOR)"')

    assert answer == "200 result=0"
    first = agent.answer('GET VARIABLE "RECCONTROL_MIXMONITOR"')
    assert first.startswith("200 result=1 (0x")
    with wave.open(str(path)) as made:
        assert (made.getframerate(), made.getnframes()) == (8000, 4000)
    assert path.stat().st_uid == tmp_path.stat().st_uid

    path.write_bytes(b"what the first MixMonitor wrote")
    agent.answer(f'EXEC MixMonitor "{path},ai(RECCONTROL_MIXMONITOR)"')
    assert path.read_bytes() == b"what the first MixMonitor wrote"
    assert agent.answer('GET VARIABLE "RECCONTROL_MIXMONITOR"') != first
    assert agent.answer('EXEC StopMixMonitor "0x7f0000000001"') == "200 result=0"


def test_a5_the_protective_command_is_the_one_of_the_mode_on_the_agents_channel() -> None:
    session = Session(sent=10.0, first=10.001, watched=10.003)
    mutes = [(10.002, "PJSIP/other-00000001", "1"), (10.004, "Local/a;1", "0")]
    mutes.append((10.005, "Local/a;1", "1"))

    assert _reached(session, "skip", mutes, "Local/a;1") == 10.003
    assert _reached(session, "silence", mutes, "Local/a;1") == 10.005
    assert _reached(session, "silence", mutes[:2], "Local/a;1") is None


def _results(keys: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "mode": "quick", "started": "2026-12-07T06:00:00+00:00", "commit": "abc1234",
        "python": "3.11.2", "cpus": 2, "asterisk": None, "loadavg_start": [0.0, 0.0, 0.0],
        "loadavg_end": [0.0, 0.0, 0.0],
    }  # fmt: skip
    results: dict[str, Any] = _json_safe(
        {"meta": meta, "reaction": None, "agi_keys": keys, "hot_path": {}, "memory": {}}
    )
    return results


def test_a5_the_report_sets_each_modes_figure_beside_the_ari_one_with_their_ratio() -> None:
    run = AgiKeyRun(calls=1, cycles=2, ari_ms=[1.0, 1.0, 1.0])
    run.pause_ms = {"skip": [3.0, 3.0, 3.0], "silence": [1.5, 2.5, 2.5]}
    run.first_ms = {"skip": [0.5, 0.5, 0.5], "silence": [0.5, 0.5, 0.5]}
    results = _results(run.as_dict())

    text = render(results, None)

    (skip,) = [line for line in text.splitlines() if "skip: daemon's answer" in line]
    assert skip.split()[-7:] == ["3", "3.000", "3.000", "3.000", "3.00x", "3.00x", "0%"]
    (silence,) = [line for line in text.splitlines() if "silence: AMI MixMonitorMute read" in line]
    assert silence.split()[-7:] == ["3", "2.500", "2.500", "2.500", "2.50x", "2.50x", "33%"]
    figures = key_figures(results)
    assert figures["FastAGI key -> daemon's answer median, skip (ms)"] == 3.0
    assert "protection in the dialplan" in text and "0 round trips to the daemon" in text
    assert figures["FastAGI / ARI, medians, silence"] == 2.5


def test_a5_a_run_that_measured_no_pause_is_reported_with_its_failures_not_a_crash() -> None:
    run = AgiKeyRun(calls=1, cycles=2, failures=["FastAGI skip call 1: no call id"])
    keys = run.as_dict()
    assert all(math.isnan(keys["modes"][m]["median"]) for m in MODES)
    results = _results(keys)

    text = render(results, results)

    assert "  ! FastAGI skip call 1: no call id" in text.splitlines()
    assert not any(k.startswith("FastAGI") for k in key_figures(results))


def test_a5_the_stand_in_runs_the_key_subroutine_stopping_first_in_skip_mode_only() -> None:
    """As the shipped ``[reccontrol-agi-key]``: a pause or card key in skip mode, and a
    private key in any mode, stops the recording before the daemon is asked; the key's
    URL carries the channel's state, which lets the daemon mute first in silence mode."""
    agent = AgiChannel("Local/alice-agi@sim-agent-00000000;1", "1765000000.1")
    agent.variables |= {"RECCONTROL_MIXMONITOR": "0x7f01", "RECCONTROL_PAUSE_MODE": "skip"}
    agent.variables["RECCONTROL_KEY"] = "done"

    assert key_subroutine(agent, "pause") == "pause?live=1&mode=skip&paused="
    assert agent.variables.get("RECCONTROL_STOPPED") == "yes"
    assert "RECCONTROL_KEY" not in agent.variables
    agent.variables["RECCONTROL_PAUSED"] = "stop"
    assert key_subroutine(agent, "resume") == "resume?live=1&mode=skip&paused=stop"
    assert "RECCONTROL_STOPPED" not in agent.variables

    agent.variables |= {"RECCONTROL_PAUSE_MODE": "silence", "RECCONTROL_PAUSED": ""}
    assert key_subroutine(agent, "card") == "card?live=1&mode=silence&paused="
    assert "RECCONTROL_STOPPED" not in agent.variables
    key_subroutine(agent, "private")
    assert agent.variables.get("RECCONTROL_STOPPED") == "yes"
