"""``python -m bench``: runs every benchmark, prints the table, writes the JSON results."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import os
import platform
import signal
import subprocess
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from bench import (
    agiflood,
    agikeys,
    chores,
    console,
    cpu,
    encryption,
    events,
    hotpath,
    load,
    memory,
    reaction,
    restart,
    results_file,
    stereo,
)
from bench.asterisk import bench_instance
from bench.reaction import progress
from bench.report import BUDGET_MS, render
from bench.stats import fraction_below, ratio, summarize
from controller.demo.site import SandboxSite
from controller.logs import setup_logging
from controller.sandbox import SandboxError, SandboxInstance

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Reaction time on a real Asterisk, hot-path costs, memory per call and the "
            "web console on a large store."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="a short run (fewer calls and keys)")
    parser.add_argument(
        "--calls", type=int, help="calls per side for the reaction time (default 4, quick 2)"
    )
    parser.add_argument(
        "--cycles",
        type=int,
        help=f"*2*3 cycles per call, 1 to {reaction.max_cycles()} (default 16, quick 6)",
    )
    parser.add_argument(
        "--concurrent",
        type=int,
        default=50,
        help="calls held at once in the state machines and call manager (default 50)",
    )
    parser.add_argument(
        "--live-calls",
        type=int,
        default=20,
        help="real calls held at once on the sandbox Asterisk for memory (default 20)",
    )
    parser.add_argument(
        "--flood-idle",
        type=int,
        default=3000,
        help="idle FastAGI connections held by the flooding process (default 3000)",
    )
    parser.add_argument(
        "--flood-junk",
        type=int,
        default=20,
        help="FastAGI connections sending junk and half headers in a loop (default 20)",
    )
    parser.add_argument(
        "--stereo-calls",
        type=int,
        default=5,
        help="calls held at once for the two-channel cost, each layout (default 5)",
    )
    parser.add_argument(
        "--no-asterisk",
        action="store_true",
        help="skip what needs the sandbox Asterisk (root): reaction time, live memory",
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="the web console section alone (no Asterisk needed)",
    )
    parser.add_argument(
        "--reaction",
        action="store_true",
        help="the protective key's reaction time alone (section 1, sandbox Asterisk)",
    )
    parser.add_argument(
        "--console-calls",
        type=int,
        help="generated calls in the console's store (default 100000, quick 10000)",
    )
    parser.add_argument(
        "--console-requests",
        type=int,
        help="requests timed per console figure (default 50, quick 20)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="JSON results (default bench/results/latest.json)",
    )
    chores.add_arguments(parser)
    events.add_arguments(parser)
    restart.add_arguments(parser)
    load.add_arguments(parser)
    cpu.add_arguments(parser)
    args = parser.parse_args(argv)
    cpu.check_arguments(parser, args)
    args.calls = args.calls or (2 if args.quick else 4)
    args.cycles = args.cycles or (6 if args.quick else 16)
    if not 1 <= args.cycles <= reaction.max_cycles():
        parser.error(f"--cycles must be between 1 and {reaction.max_cycles()}")
    args.console_calls = args.console_calls or (10_000 if args.quick else 100_000)
    args.console_requests = args.console_requests or (20 if args.quick else 50)
    if min(args.calls, args.concurrent, args.live_calls) < 1:
        parser.error("--calls, --concurrent and --live-calls must be at least 1")
    # The deep page is 200 pages of 50 in: the store must hold more calls than that.
    if args.console_calls < console.MIN_CALLS or args.console_requests < 1:
        parser.error(
            f"--console-calls must be at least {console.MIN_CALLS}, "
            "--console-requests at least 1"
        )
    return args


def _commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _reaction_results(run: reaction.ReactionRun) -> dict[str, Any]:
    ours = summarize(run.reccontrol_ms)
    theirs = summarize(run.baseline_ms)
    ms = 1000.0
    splits = run.reccontrol_splits
    baseline_http = [r - s for r, s in zip(run.baseline_ms, run.baseline_sent_ms, strict=True)]
    return {
        "calls": run.calls,
        "cycles": run.cycles,
        "reccontrol": ours.as_dict(),
        "baseline": theirs.as_dict(),
        "ratio_median": ratio(ours.median, theirs.median),
        "ratio_p95": ratio(ours.p95, theirs.p95),
        "reccontrol_under_budget": fraction_below(run.reccontrol_ms, BUDGET_MS),
        "baseline_under_budget": fraction_below(run.baseline_ms, BUDGET_MS),
        "budget_ms": BUDGET_MS,
        "split_ms": {
            "frame_to_manager": summarize([(s.handled - s.received) * ms for s in splits]).median,
            "manager_to_post": summarize([(s.sent - s.handled) * ms for s in splits]).median,
            "frame_to_post": summarize([(s.sent - s.received) * ms for s in splits]).median,
            "post_to_204": summarize([(s.done - s.sent) * ms for s in splits]).median,
            "baseline_frame_to_post": summarize(run.baseline_sent_ms).median,
            "baseline_post_to_204": summarize(baseline_http).median,
        },
        "gc": {
            "reccontrol_pauses_with_gc": sum(1 for v in run.reccontrol_gc_ms if v > 0),
            "reccontrol_gc_ms_max": max(run.reccontrol_gc_ms, default=0.0),
            "baseline_pauses_with_gc": sum(1 for v in run.baseline_gc_ms if v > 0),
            "baseline_gc_ms_max": max(run.baseline_gc_ms, default=0.0),
        },
        "samples_ms": {
            "reccontrol": [round(v, 4) for v in run.reccontrol_ms],
            "baseline": [round(v, 4) for v in run.baseline_ms],
            # Per split reccontrol pause: frame -> manager, manager -> POST, POST -> 204.
            "reccontrol_split": [
                [
                    round((s.handled - s.received) * ms, 4),
                    round((s.sent - s.handled) * ms, 4),
                    round((s.done - s.sent) * ms, 4),
                ]
                for s in splits
            ],
        },
        "failures": run.failures,
    }


async def _on_asterisk(
    instance: SandboxInstance, args: argparse.Namespace, workdir: Path, results: dict[str, Any]
) -> None:
    site = SandboxSite(instance, workdir / "site")
    with (workdir / "reccontrol.log").open("a", encoding="utf-8") as log_file:
        # The daemon logs as in production (INFO), to a file rather than the terminal.
        handler = setup_logging("INFO", log_file)
        try:
            # Asterisk's side of the FastAGI calls, and the AMI the daemon is pointed at.
            stand_in = await agikeys.StandIn.start()
            try:
                await _with_daemon(site, stand_in, instance, args, results)
            finally:
                await stand_in.stop()
            rounds = 1 if args.quick else 2
            cost = await stereo.measure(instance, workdir / "channels", args.stereo_calls, rounds)
            results["two_channels"] = cost.as_dict()
            if not args.quick:
                # Its figures go into bench/results.json (bench/load.py).
                await load.section(instance, workdir / "load", args)
        finally:
            logging.getLogger().removeHandler(handler)


async def _with_daemon(
    site: SandboxSite,
    stand_in: agikeys.StandIn,
    instance: SandboxInstance,
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    ami = agikeys.ami_section(site, stand_in.ami_port)
    draws = 3 * args.calls + len(agikeys.MODES) * args.calls + args.live_calls + 10
    daemon = await reaction.start_daemon(site, args.cycles, draws=draws, ami=ami)
    try:
        progress(f"reaction time: {args.calls} call(s) x {args.cycles} pauses, each side")
        run = await reaction.measure(daemon, site, args.calls, args.cycles)
        results["meta"]["asterisk"] = run.asterisk_version
        results["reaction"] = _reaction_results(run)
        progress(
            f"key -> pause on the FastAGI path: {args.calls} call(s) x {args.cycles} "
            f"pauses in each of {', '.join(agikeys.MODES)}, alternating"
        )
        keys = await agikeys.measure(
            daemon, site, stand_in, args.calls, args.cycles, run.reccontrol_ms
        )
        results["agi_keys"] = keys.as_dict()
        progress(
            f"reaction time with FastAGI flooded ({args.flood_idle} idle connections, "
            f"{args.flood_junk} junk senders): {args.calls} call(s) each way"
        )
        flooded = await agiflood.measure(
            daemon, site, args.calls, args.cycles, args.flood_idle, args.flood_junk
        )
        results["agi_flood"] = flooded.as_dict()
        progress(f"memory: {args.live_calls} concurrent calls on Asterisk")
        live = await memory.live_footprint(daemon, instance, args.live_calls)
        results["memory"]["live"] = live.as_dict()
    finally:
        await daemon.stop()


def _loadavg() -> list[float]:
    """Other work on the host skews timings: the load is kept with the results."""
    return [round(x, 2) for x in os.getloadavg()]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds through the clean-up that stops the sandbox instance.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.chores:
        return chores.main(args)
    if args.reaction:
        return _reaction_alone(args)
    if args.events:
        return events.main(args)
    if args.restart:
        return restart.main(args)
    if args.load:
        return load.main(args)
    if args.cpu:
        return cpu.run_section(args)
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "asterisk": None,
            "calls": args.calls,
            "cycles": args.cycles,
            "concurrent": args.concurrent,
            "live_calls": args.live_calls,
            "console_only": args.console,
            "loadavg_start": _loadavg(),
        },
        "reaction": None,
        "agi_keys": None,
        "agi_flood": None,
        "hot_path": {},
        "memory": {},
        "console": None,
        "two_channels": None,
        "encryption": None,
    }
    events_failed = 0
    if not args.console:
        progress("hot path")
        for cost in hotpath.measure(args.quick):
            results["hot_path"][cost.name] = cost.as_dict()
        progress(f"memory: {args.concurrent} calls in the state machines and the call manager")
        results["memory"]["machine"] = memory.machine_footprint(args.concurrent).as_dict()
        manager = asyncio.run(memory.manager_footprint(args.concurrent))
        results["memory"]["manager"] = manager.as_dict()
        results["encryption"] = encryption.measure(args.quick)
        # Its own table and figures in bench/results.json, as with --events.
        events_failed = events.main(args)
    progress(
        f"web console: {args.console_calls} generated calls, "
        f"{args.console_requests} requests per figure"
    )
    results["console"] = asyncio.run(
        console.measure(args.console_calls, args.console_requests)
    )
    restart_status = 0
    if not (args.no_asterisk or args.console):
        try:
            with (
                tempfile.TemporaryDirectory(prefix="reccontrol-bench-") as folder,
                bench_instance() as instance,
            ):
                asyncio.run(_on_asterisk(instance, args, Path(folder), results))
                if not args.quick:
                    progress(f"restart under load: {args.restart_calls} calls, kill -9")
                    workdir = Path(folder) / "restart"
                    calls = args.restart_calls
                    restart_status = restart.run(instance, workdir, calls, args.results)
        except SandboxError as exc:
            progress(f"error: {exc}\n(run as root, or pass --no-asterisk)")
            return 2
    # CPU per call-minute on a sandbox instance of its own (bench/cpu.py): minutes long.
    cpu_status = 0 if args.no_asterisk or args.console or args.quick else cpu.run_section(args)

    results["meta"]["loadavg_end"] = _loadavg()
    if results["reaction"] is not None:
        _merge_reaction(results, args.results)
    previous = None
    if args.output.is_file():
        try:
            previous = json.loads(args.output.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    results = _json_safe(results)
    args.output.write_text(json.dumps(results, indent=2, allow_nan=False) + "\n")
    print(render(results, previous))
    print(f"results written to {args.output}")
    failures = (results["reaction"] or {}).get("failures", [])
    failures += (results["agi_keys"] or {}).get("failures", [])
    failures += (results["agi_flood"] or {}).get("failures", [])
    failures += (results["two_channels"] or {}).get("failures", [])
    return 1 if failures or events_failed or cpu_status or restart_status else 0


def _merge_reaction(results: dict[str, Any], path: Path) -> None:
    """The reaction's headline figures into ``bench/results.json``, the previous beside."""
    figures = reaction.figures(_json_safe(results["reaction"]))
    before, after = results_file.update("reaction", figures, path, load=_loadavg())
    print("\n".join(results_file.comparison(before, after)))
    print(f"figures merged into {path}")


def _reaction_alone(args: argparse.Namespace) -> int:
    """``--reaction``: section 1 alone, on a sandbox Asterisk of its own (the daemon on
    the instance's own AMI: no FastAGI stand-in is needed)."""
    results: dict[str, Any] = {
        "meta": {
            "mode": "reaction",
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "asterisk": None,
            "loadavg_start": _loadavg(),
            # render() then prints section 1 and none of the sections not run.
            "console_only": True,
        },
        "reaction": None,
    }

    async def measure(instance: SandboxInstance, workdir: Path) -> None:
        site = SandboxSite(instance, workdir / "site")
        with (workdir / "reccontrol.log").open("a", encoding="utf-8") as log_file:
            handler = setup_logging("INFO", log_file)
            try:
                daemon = await reaction.start_daemon(site, args.cycles, draws=args.calls + 10)
                progress(f"reaction time: {args.calls} call(s) x {args.cycles} pauses, each side")
                try:
                    run = await reaction.measure(daemon, site, args.calls, args.cycles)
                finally:
                    await daemon.stop()
            finally:
                logging.getLogger().removeHandler(handler)
        results["meta"]["asterisk"] = run.asterisk_version
        results["reaction"] = _reaction_results(run)

    try:
        with (
            tempfile.TemporaryDirectory(prefix="reccontrol-bench-") as folder,
            bench_instance() as instance,
        ):
            asyncio.run(measure(instance, Path(folder)))
    except SandboxError as exc:
        progress(f"error: {exc}\n(run as root)")
        return 2
    results["meta"]["loadavg_end"] = _loadavg()
    results = _json_safe(results)
    print(render(results, None))
    _merge_reaction(results, args.results)
    return 1 if results["reaction"]["failures"] else 0


def _json_safe(value: Any) -> Any:
    """NaN (nothing measured) becomes null, which JSON can carry."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
