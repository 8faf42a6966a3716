"""The results: one JSON document per run, and the table printed from it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

BUDGET_MS = 2.0


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _kb(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value / 1024:.1f} KiB"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * 100:.0f}%"


def _times(value: Any) -> str:
    text = _fmt(value)
    return text if text == "-" else f"{text}x"


def _table(header: list[str], rows: Iterable[list[str]], indent: str = "  ") -> list[str]:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append(indent + "  ".join(cells).rstrip())
        if index == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return lines


def render(results: dict[str, Any], previous: dict[str, Any] | None) -> str:
    meta = results["meta"]
    lines = [
        f"reccontrol bench ({meta['mode']}): {meta['started']}, commit {meta['commit']}, "
        f"Python {meta['python']}, {meta['cpus']} CPU(s)"
        + (f", Asterisk {meta['asterisk']}" if meta.get("asterisk") else ""),
        f"load average (1, 5, 15 min) at start {meta['loadavg_start']}, "
        f"at end {meta.get('loadavg_end')}",
        "",
    ]
    reaction = results.get("reaction")
    lines.append(
        "1. Protective-key reaction: DTMF frame read -> 204 of POST /recordings/live/{name}/pause"
    )
    if reaction is None:
        why = "--console" if meta.get("console_only") else "no Asterisk: --no-asterisk"
        lines += [f"  skipped ({why})", ""]
    else:
        lines.append(
            f"   {reaction['calls']} call(s) each, {reaction['cycles']} pause/resume cycles "
            "per call, calls alternating; milliseconds"
        )
        rows = []
        for key, label in (
            ("reccontrol", "reccontrol daemon"),
            ("baseline", "baseline raw aiohttp"),
        ):
            s = reaction[key]
            rows.append(
                [
                    label,
                    str(s["n"]),
                    _fmt(s["median"], 3),
                    _fmt(s["p95"], 3),
                    _fmt(s["max"], 3),
                    _pct(reaction[f"{key}_under_budget"]),
                ]
            )
        lines += _table(["", "n", "median", "p95", "max", f"< {BUDGET_MS:g} ms"], rows)
        lines.append(
            f"  ratio reccontrol / baseline: median {_fmt(reaction['ratio_median'])}x, "
            f"p95 {_fmt(reaction['ratio_p95'])}x"
        )
        split = reaction["split_ms"]
        lines.append("  where the time goes (medians, ms):")
        lines += _table(
            ["", "reccontrol", "baseline"],
            [
                [
                    "frame read -> calls (decode; armed pause key: first look)",
                    _fmt(split["frame_to_manager"], 3),
                    "-",
                ],
                [
                    "calls -> POST issued (router, machine or armed pause)",
                    _fmt(split["manager_to_post"], 3),
                    "-",
                ],
                [
                    "frame read -> POST issued",
                    _fmt(split["frame_to_post"], 3),
                    _fmt(split["baseline_frame_to_post"], 3),
                ],
                [
                    "POST issued -> 204",
                    _fmt(split["post_to_204"], 3),
                    _fmt(split["baseline_post_to_204"], 3),
                ],
            ],
            indent="    ",
        )
        collected = reaction["gc"]
        lines.append(
            f"  pauses with a garbage collection inside: reccontrol "
            f"{collected['reccontrol_pauses_with_gc']} of {reaction['reccontrol']['n']} "
            f"(max {_fmt(collected['reccontrol_gc_ms_max'], 3)} ms), baseline "
            f"{collected['baseline_pauses_with_gc']} of {reaction['baseline']['n']} "
            f"(max {_fmt(collected['baseline_gc_ms_max'], 3)} ms)"
        )
        for failure in reaction["failures"]:
            lines.append(f"  ! {failure}")
        lines.append("")
    lines += _flood_lines(results.get("agi_flood"))
    lines += _agi_key_lines(results.get("agi_keys"))

    if meta.get("console_only"):
        lines += _console_lines(results.get("console"))
        if previous is not None:
            lines += _comparison(results, previous)
        return "\n".join(lines)
    lines.append(
        "2. Hot path, no I/O: ns per operation (tight loop: median and min of the repeats; "
        "after idle: one run after 200 ms asleep, median)"
    )
    lines += _table(
        ["", "median ns", "min ns", "repeats x n", "after idle ns"],
        [
            [
                name,
                _fmt(cost["median_ns"], 0),
                _fmt(cost["min_ns"], 0),
                f"{cost['repeats']} x {cost['number']}",
                _fmt(cost["after_idle_ns"], 0),
            ]
            for name, cost in results["hot_path"].items()
        ],
    )
    lines.append("")

    lines.append("3. Memory per concurrent call")
    memory = results["memory"]
    rows = []
    labels = {
        "machine": "pure state machines (tracemalloc)",
        "manager": "call manager, no ARI I/O (tracemalloc, RSS)",
        "live": "daemon on Asterisk (RSS)",
    }
    for view, label in labels.items():
        m = memory.get(view)
        if m is None:
            continue
        rows.append(
            [
                label,
                str(m["calls"]),
                _kb(m["per_call_bytes"]),
                _kb(m["rss_per_call_bytes"]),
                _kb(m["left_per_call_bytes"])
                if view != "live"
                else _kb(m["rss_left_per_call_bytes"]),
            ]
        )
    lines += _table(["", "calls", "heap/call", "RSS/call", "left/call"], rows)
    manager = memory.get("manager")
    if manager:
        lines.append(
            "  left/call: heap growth over a second round of calls (manager), RSS still held "
            "after the calls ended (daemon)"
        )
        lines.append("  largest heap sites per call (manager):")
        for site in manager["top_sites"][:5]:
            lines.append(f"    {_kb(site['per_call_bytes']):>10}  {site['site']}")
    if "live" in memory:
        lines.append(f"  daemon process RSS, idle: {_kb(memory['live']['rss_idle_bytes'])}")
    lines.append("")
    lines += _two_channel_lines(results.get("two_channels"))
    lines += _encryption_lines(results.get("encryption"))
    lines += _console_lines(results.get("console"))

    if previous is not None:
        lines += _comparison(results, previous)
    return "\n".join(lines)


CONSOLE_REQUESTS = {
    "calls_first_page": "GET /api/calls, first page of 50",
    "calls_by_agent": "GET /api/calls?agent=, one agent of 20",
    "calls_by_reason": "GET /api/calls?reason=, 2% of calls",
    "calls_deep_page": "GET /api/calls?after=, 100 pages in",
    "call_page": "GET /api/calls/{id}",
    "report_30_days": "GET /api/report, 30 days",
    "metrics": "GET /metrics",
    "readyz": "GET /readyz",
}


def _console_lines(console: dict[str, Any] | None) -> list[str]:
    """4: the web console on a large store, through the daemon's application."""
    if console is None:
        return []
    lines = [
        f"4. Web console: daemon's application (fake ARI) on {console['calls']} generated "
        f"calls (written in {_fmt(console['generation_seconds'], 1)} s), a token person's "
        f"requests over loopback; {console['requests']} requests each, milliseconds",
    ]
    rows = []
    for key, label in CONSOLE_REQUESTS.items():
        s = console["requests_ms"][key]
        rows.append([label, str(s["n"]), _fmt(s["median"]), _fmt(s["p95"]), _fmt(s["max"])])
    audio = console["audio"]
    for key, label in (
        ("wall_ms", f"GET /api/recordings/{{id}}/audio, {audio['bytes'] / 2**20:.0f} MiB WAV"),
        ("range_mib_ms", "the same, Range: 1 MiB near the end (206)"),
    ):
        s = audio[key]
        rows.append([label, str(s["n"]), _fmt(s["median"]), _fmt(s["p95"]), _fmt(s["max"])])
    lines += _table(["", "n", "median", "p95", "max"], rows)
    growth = audio["rss_growth_mib"]
    lines.append(
        f"  streaming: {_fmt(audio['mib_per_s'], 1)} MiB/s (median); process peak RSS above "
        f"its RSS before: median {_fmt(growth['median'])} MiB, max {_fmt(growth['max'])} MiB"
        + ("" if audio["peak_reset"] else " (peak could not be reset: lifetime peak)")
    )
    lines.append("")
    return lines


AGI_MODES = {
    "skip": "FastAGI, skip: daemon's answer (pause row, key's sound)",
    "silence": "FastAGI, silence: AMI MixMonitorMute read (protective)",
}


AGI_FIGURES = {
    # Not "key -> pause" since the subroutine stops first: earlier runs' skip figure
    # timed another command, and is not compared with this one.
    "skip": "FastAGI key -> daemon's answer median, skip (ms)",
    "silence": "FastAGI key -> pause median, silence (ms)",
}


def _agi_key_lines(keys: dict[str, Any] | None) -> list[str]:
    """1c: key -> pause on the FastAGI path, beside section 1's ARI figure."""
    if keys is None:
        return []
    lines = [
        "1c. Key -> pause on the FastAGI path, same run and daemon, timed by the Asterisk "
        "stand-in (another process) from the key's FastAGI header written",
        "   skip: protection in the dialplan (StopMixMonitor before the connection), 0 round "
        "trips to the daemon; the figure is the daemon's answer: header -> the key's sound "
        "read, after the pause row is written",
        "   silence: header -> MixMonitorMute read (the protective command, which only the "
        "daemon can send)",
        f"   {keys['calls']} call(s) per pause mode, {keys['cycles']} pause/resume cycles "
        f"per call, keys {keys['key_gap_seconds'] * 1000:g} ms apart; milliseconds",
    ]
    rows = []
    for mode, label in AGI_MODES.items():
        s = keys["modes"][mode]
        rows.append(
            [
                label,
                str(s["n"]),
                _fmt(s["median"], 3),
                _fmt(s["p95"], 3),
                _fmt(s["max"], 3),
                _times(s["ratio_median"]),
                _times(s["ratio_p95"]),
                _pct(s["under_budget"]),
            ]
        )
    ari = keys["ari"]
    rows.append(
        [
            "ARI (section 1): frame read -> 204",
            str(ari["n"]),
            _fmt(ari["median"], 3),
            _fmt(ari["p95"], 3),
            _fmt(ari["max"], 3),
            "",
            "",
            _pct(keys["ari_under_budget"]),
        ]
    )
    header = ["", "n", "median", "p95", "max", "/ARI med", "/ARI p95", f"< {BUDGET_MS:g} ms"]
    lines += _table(header, rows)
    split = {mode: keys["modes"][mode]["split_ms"] for mode in AGI_MODES}
    lines.append("  where the FastAGI time goes (medians, ms):")
    lines += _table(
        ["", *AGI_MODES],
        [
            [
                "header written -> daemon's first AGI command read",
                *(_fmt(split[m]["header_to_first_command"], 3) for m in AGI_MODES),
            ],
            [
                "first AGI command -> the figure's end (negative: before it)",
                *(_fmt(split[m]["first_command_to_end"], 3) for m in AGI_MODES),
            ],
        ],
        indent="    ",
    )
    for failure in keys["failures"]:
        lines.append(f"  ! {failure}")
    lines.append("")
    return lines


def _flood_lines(flood: dict[str, Any] | None) -> list[str]:
    """1b: the same reaction with the FastAGI server flooded by a second process."""
    if flood is None:
        return []
    lines = [
        "1b. Protective-key reaction while the FastAGI server is flooded "
        f"({flood['idle_connections']} idle connections, {flood['junk_workers']} junk and "
        "half-header senders, from another process); milliseconds",
    ]
    rows = []
    for key, label in (("quiet", "reccontrol, no flood"), ("flooded", "reccontrol, flooded")):
        s = flood[key]
        rows.append(
            [label, str(s["n"]), _fmt(s["median"], 3), _fmt(s["p95"], 3), _fmt(s["max"], 3)]
        )
    lines += _table(["", "n", "median", "p95", "max"], rows)
    lines.append(
        f"  ratio flooded / no flood: median {_fmt(flood['ratio_median'])}x, "
        f"p95 {_fmt(flood['ratio_p95'])}x; during the flood the server refused "
        f"{flood['agi_refused']} connection(s) at the cap and closed "
        f"{flood['agi_bad_headers']} for a bad or late header"
    )
    for failure in flood["failures"]:
        lines.append(f"  ! {failure}")
    lines.append("")
    return lines


def _two_channel_lines(cost: dict[str, Any] | None) -> list[str]:
    """3b: a stereo recording (two snoops, two files joined) against a mono one (R5)."""
    if cost is None:
        return []
    lines = [
        f"3b. Two-channel recordings against one channel ({cost['calls']} calls at once, "
        f"median of {cost['rounds']} round(s) each)"
    ]
    asterisk = cost["asterisk_cpu_ms_per_call_second"]
    daemon = cost["daemon_cpu_ms_per_call"]
    vault = cost["vault_bytes_per_call_second"]
    rows = [
        [
            layout,
            _fmt(asterisk.get(layout), 2),
            _fmt(daemon.get(layout), 1),
            _fmt(vault.get(layout), 0),
        ]
        for layout in ("mono", "stereo")
    ]
    lines += _table(
        ["", "Asterisk CPU ms/call-s", "daemon CPU ms/call", "vault bytes/call-s"], rows
    )
    for failure in cost["failures"]:
        lines.append(f"  ! {failure}")
    lines.append("")
    return lines


def _encryption_lines(cost: dict[str, Any] | None) -> list[str]:
    """3c: the vault sealed at rest (S10) against plaintext, in the same run."""
    if cost is None:
        return []
    lines = [
        f"3c. Encryption at rest: sealed vault against plaintext (median of "
        f"{cost['rounds']} round(s) each)"
    ]
    minutes = cost["recording_seconds"] / 60
    rows = [
        [
            f"stream a {minutes:.0f}-minute recording (ms)",
            _fmt(cost["stream_ms"]["plaintext"], 1),
            _fmt(cost["stream_ms"]["sealed"], 1),
            _times(cost["stream_ratio"]),
        ],
        [
            "Range request of 64 KiB, file opened (us)",
            _fmt(cost["range_us"]["plaintext"], 0),
            _fmt(cost["range_us"]["sealed"], 0),
            _times(cost["range_ratio"]),
        ],
        [
            f"purge, {cost['purge_files']} recordings (files/s)",
            _fmt(cost["purge_files_per_second"]["plaintext"], 0),
            _fmt(cost["purge_files_per_second"]["sealed"], 0),
            _times(cost["purge_ratio"]),
        ],
    ]
    lines += _table(["", "plaintext", "sealed", "sealed/plain"], rows)
    lines.append("")
    return lines


def key_figures(results: dict[str, Any]) -> dict[str, float]:
    """The figures worth following from run to run."""
    figures: dict[str, float] = {}
    reaction = results.get("reaction")
    if reaction:
        figures["reaction median reccontrol (ms)"] = reaction["reccontrol"]["median"]
        figures["reaction median baseline (ms)"] = reaction["baseline"]["median"]
        figures["reaction ratio of medians"] = reaction["ratio_median"]
    keys = results.get("agi_keys")
    if keys:
        for mode in AGI_MODES:
            measured = keys["modes"][mode]
            # null when nothing was measured (a failed run): nothing to compare.
            if measured["median"] is not None:
                figures[AGI_FIGURES[mode]] = measured["median"]
            if measured["ratio_median"] is not None:
                figures[f"FastAGI / ARI, medians, {mode}"] = measured["ratio_median"]
    flood = results.get("agi_flood")
    if flood:
        figures["reaction median, FastAGI flooded (ms)"] = flood["flooded"]["median"]
        figures["reaction flooded / no flood, medians"] = flood["ratio_median"]
    for name, cost in results["hot_path"].items():
        figures[f"{name} (ns)"] = cost["median_ns"]
        if cost.get("after_idle_ns"):
            figures[f"{name}, after idle (ns)"] = cost["after_idle_ns"]
    console = results.get("console")
    if console:
        for key in CONSOLE_REQUESTS:
            figures[f"console {key} median (ms)"] = console["requests_ms"][key]["median"]
        figures["console audio stream median (ms)"] = console["audio"]["wall_ms"]["median"]
        figures["console audio peak RSS growth (MiB)"] = console["audio"]["rss_growth_mib"]["max"]
    sealed = results.get("encryption")
    if sealed:
        figures["sealed / plaintext stream, medians"] = sealed["stream_ratio"]
        figures["sealed purge (files/s)"] = sealed["purge_files_per_second"]["sealed"]
    for view, m in results["memory"].items():
        if m.get("per_call_bytes") is not None:
            figures[f"memory {view} heap/call (B)"] = m["per_call_bytes"]
        if m.get("rss_per_call_bytes") is not None:
            figures[f"memory {view} RSS/call (B)"] = m["rss_per_call_bytes"]
    return figures


def _comparison(results: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    now, before = key_figures(results), key_figures(previous)
    common = [k for k in now if k in before]
    if not common:
        return []
    meta = previous.get("meta", {})
    lines = [
        f"Against the previous run ({meta.get('mode', '?')}, {meta.get('started', '?')}, "
        f"commit {meta.get('commit', '?')}):"
    ]
    rows = []
    for key in common:
        old, new = before[key], now[key]
        change = "-" if not old else f"{(new - old) / old * 100:+.0f}%"
        rows.append([key, _fmt(float(old), 3), _fmt(float(new), 3), change])
    lines += _table(["", "previous", "now", "change"], rows)
    lines.append("")
    return lines
