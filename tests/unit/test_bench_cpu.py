"""The CPU per call-minute bench (``bench/cpu.py``): its order of runs, its arithmetic and
the names of the figures it writes. Speed itself is measured by the bench
(``python -m bench --cpu``), never here."""

from __future__ import annotations

import argparse
import math

import pytest

from bench import cpu, snoop_checks
from bench.cpu_calls import RunCost, wav_seconds, within
from bench.run import parse_args
from tests.audio import concat, silence, tone


def test_every_round_runs_each_way_once_in_the_same_order() -> None:
    order = cpu.schedule(3)
    assert [variant for _, variant in order] == [
        "reccontrol", "native", "snoop", "bridge", "whisper",
    ] * 3
    assert [index for index, _ in order] == [0] * 5 + [1] * 5 + [2] * 5
    assert cpu.schedule(2, ("a", "b")) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]


def test_cpu_per_call_minute_counts_every_call() -> None:
    # 15 calls of 60 s are 15 call-minutes: 30 CPU-seconds are 2000 ms a call-minute.
    assert cpu.ms_per_call_minute(30.0, 15, 60) == pytest.approx(2000.0)
    assert cpu.ms_per_call_minute(1.0, 2, 30) == pytest.approx(1000.0)
    assert math.isnan(cpu.ms_per_call_minute(1.0, 0, 60))


def test_rounds_are_paired_and_their_median_ratio_differs_from_the_ratio_of_medians() -> None:
    a = [110.0, 230.0, 120.0]
    b = [100.0, 200.0, 150.0]
    assert cpu.ratios(a, b) == pytest.approx([1.1, 1.15, 0.8])
    assert cpu.median(cpu.ratios(a, b)) == pytest.approx(1.1)
    assert cpu.ratio_of_medians(a, b) == pytest.approx(120.0 / 150.0)
    with pytest.raises(ValueError, match="3 runs against 2"):
        cpu.ratios(a, b[:2])
    # A round whose reference cost nothing says nothing, and is left out of the median.
    assert cpu.median(cpu.ratios([1.0, 2.0, 3.0], [0.0, 1.0, 1.0])) == pytest.approx(2.5)
    assert math.isnan(cpu.median([]))


def rounds(*values: tuple[float, float, float, float, float]) -> list[RunCost]:
    """Per round: A's Asterisk, A's daemon, B, C, D (CPU seconds); E is D + 10%."""
    out = []
    for index, (a, daemon, b, c, d) in enumerate(values):
        out += [
            RunCost("reccontrol", a, index, daemon_s=daemon, recorded_s=45.0),
            RunCost("native", b, index, recorded_s=60.0),
            RunCost("snoop", c, index),
            RunCost("bridge", d, index),
            RunCost("whisper", d * 1.1, index),
        ]
    return out


def test_the_figures_written_are_named_as_the_results_file_expects() -> None:
    costs = cpu.Costs.of(rounds((10.0, 1.0, 10.0, 8.0, 10.0)), calls=10, seconds=60)
    figures = costs.figures()
    assert set(figures) == {
        "cpu_ratio_vs_native",
        "cpu.ratio_of_medians_vs_native",
        "cpu.reccontrol_ms_per_call_minute",
        "cpu.native_ms_per_call_minute",
        "cpu.daemon_ms_per_call_minute",
        "cpu.asterisk_ratio",
        "cpu.daemon_share",
        "cpu.snoop_ms_per_call_minute",
        "cpu.bridge_ms_per_call_minute",
        "cpu.snoop_vs_bridge_asterisk_ratio",
        "cpu.whisper_ms_per_call_minute",
        "cpu.whisper_vs_bridge_asterisk_ratio",
        "cpu.reccontrol_recorded_share",
        "cpu.native_recorded_share",
    }
    # 10 call-minutes: 11 CPU-s are 1100 ms a call-minute, 1.1x native's 1000.
    assert figures["cpu.reccontrol_ms_per_call_minute"] == pytest.approx(1100.0)
    assert figures["cpu.native_ms_per_call_minute"] == pytest.approx(1000.0)
    assert figures["cpu_ratio_vs_native"] == pytest.approx(1.1)
    assert figures["cpu.asterisk_ratio"] == pytest.approx(1.0)
    assert figures["cpu.daemon_share"] == pytest.approx(1.0 / 11.0)
    assert figures["cpu.snoop_vs_bridge_asterisk_ratio"] == pytest.approx(0.8)
    assert figures["cpu.whisper_vs_bridge_asterisk_ratio"] == pytest.approx(1.1)
    # Of the 600 s of calls, 45 s in the daemon's recordings, 60 in MixMonitor's.
    assert figures["cpu.reccontrol_recorded_share"] == pytest.approx(45.0 / 600)
    assert figures["cpu.native_recorded_share"] == pytest.approx(0.1)


def test_the_headline_ratio_is_the_median_of_the_rounds_ratios() -> None:
    # The machine got busier round after round: each round's ratio holds, the unpaired
    # ratio of medians does not.
    costs = cpu.Costs.of(
        rounds(
            (10.0, 1.0, 10.0, 9.0, 10.0),
            (20.0, 2.0, 20.0, 18.0, 20.0),
            (40.0, 4.0, 38.0, 36.0, 40.0),
            (11.0, 1.0, 12.0, 9.0, 10.0),
            (30.0, 3.0, 40.0, 27.0, 30.0),
        ),
        calls=1,
        seconds=60,
    )
    figures = costs.figures()
    assert cpu.ratios(*cpu.paired(costs.reccontrol, costs.asterisk["native"])) == pytest.approx(
        [1.1, 1.1, 44 / 38, 1.0, 33 / 40]
    )
    assert figures["cpu_ratio_vs_native"] == pytest.approx(1.1)
    assert figures["cpu.snoop_vs_bridge_asterisk_ratio"] == pytest.approx(0.9)
    assert len(costs.round_lines()) == 5
    assert "A/B 1.100" in costs.round_lines()[0]


def test_a_failed_run_leaves_its_round_out_of_the_pairs() -> None:
    runs = rounds(
        (10.0, 1.0, 10.0, 8.0, 10.0), (20.0, 2.0, 20.0, 16.0, 20.0), (30.0, 0.0, 40.0, 1, 1)
    )
    del runs[1]  # round 1's native run failed: round 2's must not stand in for it
    costs = cpu.Costs.of(runs, calls=1, seconds=60)
    assert cpu.paired(costs.reccontrol, costs.asterisk["native"]) == (
        [22_000.0, 30_000.0],
        [20_000.0, 40_000.0],
    )
    assert costs.figures()["cpu_ratio_vs_native"] == pytest.approx((1.1 + 0.75) / 2)
    assert "B nan" in costs.round_lines()[0]


def test_a_recording_file_is_timed_by_its_samples() -> None:
    assert wav_seconds(44 + 16000 * 60) == pytest.approx(60.0)
    assert wav_seconds(10) == 0.0
    # No short deadline: a full-size run may take as long as its calls and more.
    assert within(15, 60) > 60 + 15


def test_sizes_out_of_range_are_refused() -> None:
    parser = argparse.ArgumentParser()
    cpu.add_arguments(parser)
    args = parser.parse_args(["--cpu", "--cpu-runs", "-1"])
    with pytest.raises(SystemExit):
        cpu.check_arguments(parser, args)
    args = parser.parse_args([])
    cpu.check_arguments(parser, args)
    assert (args.cpu_calls, args.cpu_seconds, args.cpu_runs) == (15, 60, 5)


def test_the_muted_stretch_is_the_longest_run_without_the_tone_once_heard() -> None:
    on, off = True, False
    # Frames dropped here and there by a loaded machine do not hide a 4 s mute.
    frames = [off] * 30 + [on, on, off, on] + [off] * 40 + [on, off, on]
    assert snoop_checks.longest_absence(frames, 0.1) == pytest.approx(4.0)
    assert snoop_checks.longest_absence([off, off], 0.1) == 0.0


def test_sound_is_counted_in_frames_that_carry_it() -> None:
    audio = concat(silence(2.0), tone(440.0, 1.5), silence(0.5))
    assert snoop_checks.sound_seconds(audio) == pytest.approx(1.5)
    assert snoop_checks.sound_seconds(silence(0.05)) == 0.0
    finding = snoop_checks.Finding("hold_music", "snoop", 3.4, "s", "")
    assert finding.key == "cpu.snoop_hold_music_s"


def test_python_m_bench_takes_the_sections_sizes() -> None:
    args = parse_args(["--cpu", "--cpu-calls", "3", "--cpu-seconds", "10", "--cpu-runs", "0"])
    assert (args.cpu, args.cpu_calls, args.cpu_seconds, args.cpu_runs) == (True, 3, 10, 0)
    assert args.cpu_profile is None
    with pytest.raises(SystemExit):
        parse_args(["--cpu", "--cpu-seconds", "2"])
