"""The concurrent-calls bench (``bench/load.py``): its pure parts. A key the daemon did
not act on is a pause that never happened (A5: every pause and resume key is stored);
the figures name the sizes measured."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.load import (
    LoadRun,
    Observer,
    SizeResult,
    agent_starts,
    asterisk_time,
    calls_per_second,
    key_controls,
    lost_keys,
    memory_figures,
    p50_p99,
    parse_sizes,
    setup_times_ms,
    size_figures,
    whole_number,
)
from bench.load_sip import AGENT_VOICE, PAUSE_MARKER, ManyCalls, agent_media, leak_ms, sip_figures
from tests.sip.media import Key, tone


def test_sizes_are_read_sorted_and_deduplicated() -> None:
    assert parse_sizes("200, 50,100,50") == [50, 100, 200]


@pytest.mark.parametrize(
    ("text", "message"),
    [("50,abc", "'abc' is not a number of calls"), ("0", "0 calls: at least 1 is needed")],
)
def test_a_wrong_size_is_named(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_sizes(text)


def test_asterisk_timestamps_keep_their_milliseconds() -> None:
    start = asterisk_time("2026-12-07T18:20:00.123+0000")
    end = asterisk_time("2026-12-07T19:20:00.150+0100")
    assert round((end - start) * 1000, 3) == 27.0


def test_a5_pauses_and_resumes_are_read_from_the_keys_in_order() -> None:
    assert key_controls("*2*3*2*3") == (2, 2)
    # A lone 2 or 3, or a star followed by another key, is no control.
    assert key_controls("2*3*4*2") == (1, 1)
    assert key_controls("") == (0, 0)


def test_a5_a_key_not_acted_on_is_lost_per_call() -> None:
    pressed = {"a": (3, 3), "b": (3, 3), "c": (1, 0)}
    # Call b got an extra pause stored: it does not make up for call a's lost resume.
    effected = {"a": (3, 2), "b": (4, 3)}
    assert lost_keys(pressed, effected) == 1 + 1


def test_a5_every_key_acted_on_loses_none() -> None:
    assert lost_keys({"a": (2, 2)}, {"a": (2, 2)}) == 0


def test_setup_is_timed_for_calls_seen_at_both_moments() -> None:
    starts = {"a": 10.0, "b": 20.0, "c": 30.0}
    recording = {"a": 10.012, "b": 20.040, "d": 1.0}
    assert [round(v, 3) for v in setup_times_ms(starts, recording)] == [12.0, 40.0]


def test_percentiles_interpolate_between_ranks() -> None:
    p50, p99 = p50_p99([float(v) for v in range(1, 101)])
    assert p50 == 50.5
    assert p99 == pytest.approx(99.01)
    assert p50_p99([]) == (None, None)


def test_the_observer_keeps_agent_keys_and_recording_starts_per_call() -> None:
    observer = Observer(instance=None, session=None)  # type: ignore[arg-type]
    leg = {"id": "rc-ab12-agent", "name": "Local/alice-loadkeys-l3@sim-agent-0001;1"}
    for digit in "*2*3":
        observer.seen({"type": "ChannelDtmfReceived", "digit": digit, "channel": leg})
    # The caller's keys are not the agent's.
    observer.seen(
        {"type": "ChannelDtmfReceived", "digit": "9", "channel": {"id": "1733.2", "name": "x"}}
    )
    observer.seen(
        {
            "type": "RecordingStarted",
            "timestamp": "2026-12-07T18:20:00.123+0000",
            "recording": {"target_uri": "bridge:rc-ab12"},
        }
    )
    assert observer.agent_digits == {"ab12": "*2*3"}
    assert observer.recording_started == {"ab12": asterisk_time("2026-12-07T18:20:00.123+0000")}


def test_agent_starts_come_from_the_event_log_and_skip_other_channels() -> None:
    def line(channel: str, stamp: str, kind: str = "StasisStart") -> str:
        return json.dumps({"type": kind, "timestamp": stamp, "channel": {"id": channel}})

    lines = [
        line("1733.2", "2026-12-07T18:20:00.000+0000"),
        line("rc-ab12-agent", "2026-12-07T18:20:01.000+0000"),
        line("rc-ab12-agent", "2026-12-07T18:20:02.000+0000", "StasisEnd"),
        '{"type": "StasisSt',  # a line still being written
    ]
    assert agent_starts(lines) == {"ab12": asterisk_time("2026-12-07T18:20:01.000+0000")}


def test_figures_are_flat_named_by_size_with_ratios_to_one_call() -> None:
    anchor = SizeResult(1, setup_ms=[10.0], key_ms=[1.0])
    held = SizeResult(100, setup_ms=[20.0, 30.0], key_ms=[1.5, 2.5], lost_keys=2, held_min=100)
    held.errors.append("call x: no recording stored")
    figures = size_figures("concurrent_100", held, anchor)
    assert figures == {
        "concurrent_100.setup_p50_ms": 25.0,
        "concurrent_100.setup_p99_ms": pytest.approx(29.9),
        "concurrent_100.key_p50_ms": 2.0,
        "concurrent_100.key_p99_ms": pytest.approx(2.49),
        "concurrent_100.lost_keys": 2,
        "concurrent_100.errors": 1,
        "concurrent_100.setup_p50_ratio": 2.5,
        "concurrent_100.key_p50_ratio": 2.0,
        "concurrent_100.held_min": 100,
    }


def test_memory_per_call_is_in_kibibytes() -> None:
    assert memory_figures(200, 100 * 2**20, 110 * 2**20) == {"memory.per_call_200_kib": 51.2}


# -- over real SIP (bench/load_sip.py) -------------------------------------------------------
def test_m3_the_marker_is_hummed_only_between_the_pause_and_the_resume() -> None:
    """M3's method: the marker the agent hums while paused must not be in the file; the
    media says it right after each *2 and stops before each *3, and the keys start only
    once every call should be up (50 calls at 10 a second: 5 s, plus 4 s)."""
    media = agent_media(calls=50, rate=10.0, cycles=2)
    assert media[0] == tone(AGENT_VOICE, 9000)
    keyed = [p.key for p in media if isinstance(p, Key)]
    assert keyed == list("*2*3*2*3")
    for index, part in enumerate(media):
        if part == tone(PAUSE_MARKER, 1000):
            assert media[index - 1] == Key("2") and media[index + 1] == Key("*")


def test_m3_the_leak_is_the_most_marker_in_any_file() -> None:
    assert leak_ms([0.0, 0.02, 0.0]) == pytest.approx(20.0)
    assert leak_ms([]) is None


def test_sip_figures_are_named_by_the_calls_over_sip() -> None:
    result = SizeResult(50, setup_ms=[12.0], key_ms=[1.0], held_min=50)
    figures = sip_figures(50, result, [0.0, 0.01, 0.0])
    assert figures["sip_50.pause_leak_ms"] == pytest.approx(10.0)
    assert figures["sip_50.leaking_calls"] == 1
    assert figures["sip_50.key_p99_ms"] == 1.0
    assert figures["sip_50.held_min"] == 50
    assert not any("ratio" in name for name in figures)


def test_one_sipp_places_every_call_at_the_rate_and_holds_them_all(tmp_path: Path) -> None:
    phone = ManyCalls("trunk", "<scenario/>", 5070, tmp_path, calls=50, rate=10.0)
    command = phone.command()
    assert command[command.index("-m") + 1] == "50"
    assert command[command.index("-r") + 1 :][:5] == ["10", "-rp", "1000", "-l", "50"]


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (whole_number(1), "0", "0: at least 1 is needed"),
        (whole_number(0), "two", "'two' is not a whole number"),
        (calls_per_second, "0", "0: the rate must be above 0"),
        (calls_per_second, "nan", "nan: the rate must be above 0"),
        (calls_per_second, "fast", "'fast' is not a number of calls a second"),
    ],
)
def test_a_wrong_cycle_count_sip_calls_or_rate_is_named(
    parse: Callable[[str], float], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_memory_is_divided_by_the_calls_really_recording_and_named_by_the_size() -> None:
    held = SizeResult(200, rss_idle=100 * 2**20, rss_held=110 * 2**20, recording_at_rss=100)
    run = LoadRun(sizes={200: held})
    assert run.figures()["memory.per_call_200_kib"] == pytest.approx(102.4)


@pytest.mark.parametrize(("calls", "rate"), [(3, 20.0), (7, 3.0), (50, 20.0)])
def test_the_agents_media_lasts_whole_rtp_packets_at_any_rate(calls: int, rate: float) -> None:
    media = agent_media(calls, rate, cycles=1)
    assert all(part.ms % 20 == 0 for part in media)
    # Long enough for the last call to be up: placed at (calls - 1) / rate seconds.
    assert media[0].ms >= (calls - 1) / rate * 1000 + 4000
