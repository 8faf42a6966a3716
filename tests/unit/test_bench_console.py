"""The web console bench (``bench/console.py``): the calls it generates for the S1
listing and the P3 report, the memory figure of a streamed recording (S2), and how its
section reaches the printed table and the figures compared from run to run."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from typing import Any

import pytest

from bench.console import (
    AGENTS,
    FILTER_REASON,
    REASONS,
    SERVICES,
    SPREAD_DAYS,
    copied_row,
    generated_call,
    growth_mib,
    reason_at,
    shifted_key,
    status_kib,
)
from bench.report import key_figures, render
from bench.run import parse_args

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
STATUS = "Name:\tpython\nVmPeak:\t  812344 kB\nVmHWM:\t  104332 kB\nVmRSS:\t   98304 kB\n"


def test_s1_p3_reasons_come_in_their_proportions_and_interleave() -> None:
    counts = Counter(reason_at(i) for i in range(1000))
    assert counts == {reason: weight * 10 for reason, weight in REASONS}
    # The rare reason the listing is filtered on is spread along the calls, not bunched.
    first = [i for i in range(200) if reason_at(i) == FILTER_REASON]
    assert len(first) == 4 and max(b - a for a, b in itertools.pairwise(first)) < 100


def test_s1_p3_calls_spread_newest_first_inside_the_report_with_agents_in_turn() -> None:
    calls = [generated_call(i, 1000, NOW) for i in range(1000)]
    starts = [c.started_at for c in calls]
    assert starts == sorted(starts, reverse=True)
    assert NOW - dt.timedelta(days=SPREAD_DAYS) <= starts[-1] and starts[0] < NOW
    assert len({c.call_id for c in calls}) == 1000
    assert Counter(c.agent for c in calls) == {agent: 1000 // len(AGENTS) for agent in AGENTS}
    assert Counter(c.service for c in calls) == {service: 500 for service in SERVICES}
    assert all(60 <= c.seconds < 660 and c.number.startswith("+336") for c in calls)


def test_s1_a_copied_call_is_the_call_further_down_with_its_times_moved() -> None:
    """The copies of the template keep each row's shape; only ids and times move, so the
    copy of call i is call i + offset, in the listing's order."""
    first = generated_call(3, 100_000, NOW)
    assert shifted_key(first.call_id, 2000) == f"{2003:08x}{first.call_id[8:]}"
    assert shifted_key(first.call_id + "r", 0x10) == f"{0x13:08x}{first.call_id[8:]}r"
    row = {
        "id": "00000003aabbccdd",
        "call_id": "00000003aabbccdd",
        "name": "00000003aabbccddr",
        "state": "stored",
        "created_at": "2026-12-07T09:00:00.000+00:00",
        "expires_at": "2027-03-07T09:00:00.000+00:00",
        "ended_at": None,
    }
    copy = copied_row("recordings", row, 1000, dt.timedelta(hours=25))
    assert copy == row | {
        "id": "000003ebaabbccdd",
        "call_id": "000003ebaabbccdd",
        "name": "000003ebaabbccddr",
        "created_at": "2026-12-06T08:00:00.000+00:00",
        "expires_at": "2027-03-06T08:00:00.000+00:00",
    }


def test_s2_peak_rss_is_read_from_proc_status_and_its_growth_never_negative() -> None:
    assert status_kib(STATUS, "VmHWM") == 104332
    assert status_kib(STATUS, "VmRSS") == 98304
    with pytest.raises(ValueError, match="no VmSwap line"):
        status_kib(STATUS, "VmSwap")
    assert growth_mib(98304, 104332) == pytest.approx(5.88671875)
    assert growth_mib(104332, 98304) == 0


def summary(median: float) -> dict[str, Any]:
    return {"n": 5, "median": median, "p95": median * 2, "max": median * 3, "min": 0.1}


def console_results(stream_ms: float) -> dict[str, Any]:
    names = (
        "calls_first_page calls_by_agent calls_by_reason calls_deep_page call_page "
        "report_30_days metrics readyz"
    ).split()
    return {
        "meta": {
            "mode": "full",
            "started": "2026-12-07T10:00:00+00:00",
            "commit": "abc1234",
            "python": "3.11.9",
            "cpus": 2,
            "loadavg_start": [1.0, 1.0, 1.0],
            "loadavg_end": [1.0, 1.0, 1.0],
            "console_only": True,
        },
        "reaction": None,
        "hot_path": {},
        "memory": {},
        "console": {
            "calls": 100000,
            "requests": 5,
            "generation_seconds": 12.5,
            "requests_ms": {name: summary(float(i + 1)) for i, name in enumerate(names)},
            "audio": {
                "bytes": 50 * 2**20,
                "wall_ms": summary(stream_ms),
                "mib_per_s": 250.0,
                "rss_growth_mib": summary(0.25),
                "peak_reset": True,
                "range_mib_ms": summary(4.0),
            },
        },
    }


def test_s1_console_section_is_printed_alone_and_compared_with_the_previous_run() -> None:
    text = render(console_results(200.0), console_results(100.0))
    assert "skipped (--console)" in text and "2. Hot path" not in text
    assert "4. Web console" in text and "100000 generated calls" in text
    row = next(line for line in text.splitlines() if "GET /api/report, 30 days" in line)
    assert row.split()[-4:] == ["5", "6.00", "12.00", "18.00"]
    assert "50 MiB WAV" in text and "median 0.25 MiB, max 0.75 MiB" in text
    change = next(line for line in text.splitlines() if "audio stream median" in line)
    assert change.split()[-3:] == ["100.000", "200.000", "+100%"]
    figures = key_figures(console_results(200.0))
    assert figures["console calls_first_page median (ms)"] == 1.0
    assert figures["console audio peak RSS growth (MiB)"] == 0.75


def test_s1_console_flag_sizes_the_store_and_refuses_one_too_small() -> None:
    args = parse_args(["--console"])
    assert (args.console, args.console_calls, args.console_requests) == (True, 100_000, 50)
    quick = parse_args(["--console", "--quick"])
    assert (quick.console_calls, quick.console_requests) == (10_000, 20)
    with pytest.raises(SystemExit):
        parse_args(["--console", "--console-calls", "100"])
