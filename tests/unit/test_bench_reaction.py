"""The reaction section's headline figures (A5, A2: the protective key's pause),
named as ``bench/results.json`` keeps them, taken from the section's results."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from bench import reaction, results_file
from bench.stats import summarize


def _results() -> dict[str, object]:
    ours = summarize([0.9, 1.0, 1.1, 2.5])
    theirs = summarize([0.8, 0.9, 1.0, 1.2])
    return {
        "reccontrol": ours.as_dict(),
        "baseline": theirs.as_dict(),
        "ratio_median": ours.median / theirs.median,
        "ratio_p95": ours.p95 / theirs.p95,
        "reccontrol_under_budget": 0.75,
        "split_ms": {"frame_to_post": 0.12, "baseline_frame_to_post": 0.05},
    }


def test_a5_the_reaction_figures_are_the_ratios_and_timings_of_the_same_run() -> None:
    figures = reaction.figures(_results())
    assert figures == pytest.approx({
        "key_ratio_median": 1.05 / 0.95,
        "key_ratio_p95": summarize([0.9, 1.0, 1.1, 2.5]).p95 / summarize([0.8, 0.9, 1.0, 1.2]).p95,
        "key_median_ms": 1.05,
        "key_p95_ms": summarize([0.9, 1.0, 1.1, 2.5]).p95,
        "key_under_2ms_fraction": 0.75,
        "key_frame_to_post_ms": 0.12,
        "baseline_key_median_ms": 0.95,
        "baseline_key_frame_to_post_ms": 0.05,
    })


def test_a5_a_run_that_measured_nothing_leaves_the_earlier_figures_in_place() -> None:
    """A failed run's figures are null (NaN in the run): the file keeps the earlier ones."""
    empty = {**_results(), "reccontrol": {"median": None, "p95": None}, "ratio_median": None}
    earlier = {"figures": {"key_median_ms": 1.1, "key_ratio_median": 1.2}, "measured": {}}
    host = {"cores": 2}
    at = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    after = results_file.merged(
        earlier, "reaction", reaction.figures(empty), at=at, code="x", host=host, load=[0.0]
    )
    assert after["figures"]["key_median_ms"] == 1.1
    assert after["figures"]["key_ratio_median"] == 1.2
    assert after["figures"]["key_under_2ms_fraction"] == 0.75
    assert not math.isnan(after["figures"]["baseline_key_median_ms"])
