"""``python -m bench --cpu``: what recording costs in CPU per call-minute, reccontrol
against native ``MixMonitor``, on the same calls.

The same N calls of S seconds (Local channels with audio, :mod:`bench.cpu_calls`) are
recorded five ways, one after the other, in rounds: A B C D E, A B C D E... so that other
work on the machine weighs on every way alike:

* **A** ``reccontrol``: the daemon, as in production;
* **B** ``native``: a dialplan ``MixMonitor``, no controller at all;
* **C** ``snoop`` and **D** ``bridge``: a minimal ARI application recording a snoop
  channel on the caller, or the bridge;
* **E** ``whisper``: the same application recording the bridge, with the whisper snoop
  the daemon keeps on the agent's channel (A10).

The figures, each the median over the rounds (one run against the next moves by ±15%
on a shared machine: a single run says little):

* ``cpu_ratio_vs_native``: (Asterisk + daemon CPU) of A over Asterisk's of B, the median
  of each round's ratio (the two runs of a round saw the same machine);
* ``cpu.reccontrol_ms_per_call_minute``, ``cpu.native_ms_per_call_minute``: CPU
  milliseconds per minute of call;
* ``cpu.asterisk_ratio``: Asterisk's CPU alone, A over B (what recording the bridge over
  ARI costs Asterisk against MixMonitor);
* ``cpu.daemon_share``: the daemon's part of A's total;
* ``cpu.snoop_vs_bridge_asterisk_ratio``: Asterisk's CPU, C over D;
* ``cpu.whisper_vs_bridge_asterisk_ratio``: Asterisk's CPU, E over D.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench import results_file, snoop_checks
from bench.asterisk import bench_instance
from bench.cpu_calls import RunCost, run_minimal, run_native, run_reccontrol
from bench.reaction import progress
from controller.ari.client import AriClient
from controller.demo.site import Switchboard
from controller.sandbox import SandboxError, SandboxInstance

VARIANTS = ("reccontrol", "native", "snoop", "bridge", "whisper")
"""A, B, C, D, E: the order of every round."""
CALLS, SECONDS, RUNS = 15, 60, 5
MIN_RUNS = 5
REQUEST_TIMEOUT = 30.0
"""ARI requests of the switchboard: a loaded machine answers slowly, never a failure."""


def schedule(runs: int, variants: Sequence[str] = VARIANTS) -> list[tuple[int, str]]:
    """(round, variant) in the order they run: every variant once per round, in the
    same order, round after round (A B C D E A B C D E ...)."""
    return [(index, variant) for index in range(runs) for variant in variants]


def ms_per_call_minute(cpu_s: float, calls: int, seconds: int) -> float:
    """CPU milliseconds per minute of call: ``calls`` calls of ``seconds`` each."""
    minutes = calls * seconds / 60
    return cpu_s * 1000 / minutes if minutes > 0 else math.nan


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Each round's ratio (round i of one against round i of the other)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} runs against {len(denominators)}")
    return [n / d if d > 0 else math.nan for n, d in zip(numerators, denominators, strict=True)]


def median(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def ratio_of_medians(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of one over the median of the other (unpaired: a check on the median
    of the rounds' ratios)."""
    low = median(denominators)
    return median(numerators) / low if low > 0 else math.nan


Rounds = dict[int, float]
"""Round index -> CPU ms per call-minute: a failed run leaves its round out, and pairs
are made by round, never by position."""


@dataclasses.dataclass(frozen=True)
class Costs:
    """Per variant and round: CPU ms per call-minute."""

    asterisk: dict[str, Rounds]
    daemon: Rounds
    """A's daemon."""
    recorded: dict[str, Rounds] = dataclasses.field(default_factory=dict)
    """The share of the calls' time in the recordings: a loaded machine starts the
    daemon's recordings later than MixMonitor's, and a shorter file costs less."""

    @classmethod
    def of(cls, runs: Sequence[RunCost], calls: int, seconds: int) -> Costs:
        asterisk: dict[str, Rounds] = {v: {} for v in VARIANTS}
        recorded: dict[str, Rounds] = {v: {} for v in VARIANTS}
        daemon: Rounds = {}
        for run in runs:
            asterisk[run.variant][run.round] = ms_per_call_minute(run.asterisk_s, calls, seconds)
            recorded[run.variant][run.round] = _div(run.recorded_s, calls * seconds)
            if run.variant == "reccontrol":
                daemon[run.round] = ms_per_call_minute(run.daemon_s, calls, seconds)
        return cls(asterisk, daemon, recorded)

    @property
    def reccontrol(self) -> Rounds:
        """A's total per round: Asterisk and the daemon."""
        return {i: a + self.daemon[i] for i, a in self.asterisk["reccontrol"].items()}

    def figures(self) -> dict[str, float]:
        """The flat keys of ``bench/results.json``."""
        native, total, daemon = self.asterisk["native"], self.reccontrol, self.daemon
        snoop, bridge = self.asterisk["snoop"], self.asterisk["bridge"]
        whisper = self.asterisk["whisper"]
        return {
            "cpu_ratio_vs_native": median(ratios(*paired(total, native))),
            "cpu.ratio_of_medians_vs_native": ratio_of_medians(*paired(total, native)),
            "cpu.reccontrol_ms_per_call_minute": median(list(total.values())),
            "cpu.native_ms_per_call_minute": median(list(native.values())),
            "cpu.daemon_ms_per_call_minute": median(list(daemon.values())),
            "cpu.asterisk_ratio": median(ratios(*paired(self.asterisk["reccontrol"], native))),
            "cpu.daemon_share": median(ratios(*paired(daemon, total))),
            "cpu.snoop_ms_per_call_minute": median(list(snoop.values())),
            "cpu.bridge_ms_per_call_minute": median(list(bridge.values())),
            "cpu.snoop_vs_bridge_asterisk_ratio": median(ratios(*paired(snoop, bridge))),
            "cpu.whisper_ms_per_call_minute": median(list(whisper.values())),
            "cpu.whisper_vs_bridge_asterisk_ratio": median(ratios(*paired(whisper, bridge))),
            "cpu.reccontrol_recorded_share": self._recorded("reccontrol"),
            "cpu.native_recorded_share": self._recorded("native"),
        }

    def _recorded(self, variant: str) -> float:
        return median(list(self.recorded.get(variant, {}).values()))

    def round_lines(self) -> list[str]:
        """One line per round: each way's ms per call-minute and the round's ratios."""
        lines = []
        rounds = sorted(set().union(*(self.asterisk[v] for v in VARIANTS)))
        for index in rounds:
            a = self.reccontrol.get(index, math.nan)
            cells = {v: self.asterisk[v].get(index, math.nan) for v in VARIANTS}
            native, snoop, bridge = cells["native"], cells["snoop"], cells["bridge"]
            whisper = cells["whisper"]
            lines.append(
                f"  round {index + 1}: A {a:.0f} (Asterisk {cells['reccontrol']:.0f} + daemon "
                f"{self.daemon.get(index, math.nan):.0f}), B {native:.0f}, C {snoop:.0f}, "
                f"D {bridge:.0f}, E {whisper:.0f} ms/call-min; A/B {_div(a, native):.3f}, "
                f"C/D {_div(snoop, bridge):.3f}, E/D {_div(whisper, bridge):.3f}; recorded "
                + " ".join(
                    f"{label} {self.recorded.get(v, {}).get(index, math.nan):.0%}"
                    for v, label in zip(VARIANTS, "ABCDE", strict=True)
                )
            )
        return lines


def paired(a: Rounds, b: Rounds) -> tuple[list[float], list[float]]:
    """The rounds both have, in order: (a's, b's)."""
    common = sorted(a.keys() & b.keys())
    return [a[i] for i in common], [b[i] for i in common]


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


# -- the run -----------------------------------------------------------------------------------
async def measure(
    instance: SandboxInstance,
    workdir: Path,
    calls: int,
    seconds: int,
    runs: int,
    profile: Path | None = None,
) -> tuple[list[RunCost], list[str]]:
    """Every variant ``runs`` times, interleaved; returns the runs and the failures."""
    costs: list[RunCost] = []
    failures: list[str] = []
    async with aiohttp.ClientSession() as session:
        board = Switchboard(instance, session)
        settings = dataclasses.replace(board.client.settings, request_timeout=REQUEST_TIMEOUT)
        board.client = AriClient(settings, session)
        for index, variant in schedule(runs):
            progress(
                f"cpu: round {index + 1}/{runs}, {variant}: {calls} calls of {seconds} s "
                f"(load {_load()})"
            )
            try:
                if variant == "reccontrol":
                    # The profile, when asked for, is of the first round only.
                    cost = await run_reccontrol(
                        instance, board, workdir / f"a-{index}", calls, seconds,
                        profile if index == 0 else None,
                    )
                elif variant == "native":
                    cost = await run_native(instance, board, calls, seconds)
                else:
                    cost = await run_minimal(instance, board, session, variant, calls, seconds)
            except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
                failures.append(f"round {index + 1}, {variant}: {exc}")
                continue
            cost = dataclasses.replace(cost, round=index)
            if cost.recordings != calls:
                # A run that recorded fewer calls did less work: its round's ratio would
                # flatter it, so the round goes without it.
                failures.append(
                    f"round {index + 1}, {variant}: {cost.recordings} of {calls} recordings, "
                    "left out"
                )
                continue
            costs.append(cost)
    return costs, failures


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="the CPU per call-minute section alone: reccontrol against native MixMonitor "
        "(sandbox Asterisk, root)",
    )
    parser.add_argument(
        "--cpu-calls", type=int, default=CALLS, help=f"calls at once, each run (default {CALLS})"
    )
    parser.add_argument(
        "--cpu-seconds", type=int, default=SECONDS, help=f"seconds of each call (default {SECONDS})"
    )
    parser.add_argument(
        "--cpu-runs",
        type=int,
        default=RUNS,
        help=f"rounds, each way once per round (default {RUNS}; fewer than {MIN_RUNS} is "
        "reported but not written to bench/results.json; 0: only the snoop checks)",
    )
    parser.add_argument(
        "--cpu-profile",
        type=Path,
        help="also profile the daemon's first run with cProfile into this file (the "
        "figures are then not written: the profiler costs CPU)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.cpu_calls < 1 or args.cpu_runs < 0 or args.cpu_seconds < 5:
        parser.error(
            "--cpu-calls must be at least 1, --cpu-runs at least 0, --cpu-seconds at least 5"
        )


def report(costs: Costs, failures: list[str], figures: dict[str, float]) -> list[str]:
    lines = ["CPU per call-minute (Asterisk + daemon), A reccontrol, B native MixMonitor, "
             "C snoop, D bridge, E bridge + whisper snoop (minimal ARI app):"]
    lines += costs.round_lines()
    lines += [f"  {key}: {value:.4g}" for key, value in figures.items()]
    lines += [f"  FAILED: {failure}" for failure in failures]
    return lines


def run_section(args: argparse.Namespace) -> int:
    """Runs the section on a sandbox Asterisk of its own; merges the figures into
    ``bench/results.json`` (unless profiled or too few rounds). Exit status 1 when a
    run failed, 2 without the sandbox."""
    calls, seconds, runs = args.cpu_calls, args.cpu_seconds, args.cpu_runs
    load_before = os.getloadavg()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="reccontrol-bench-cpu-") as folder,
            bench_instance() as instance,
        ):
            runs_done, failures = asyncio.run(
                measure(instance, Path(folder), calls, seconds, runs, args.cpu_profile)
            )
            progress("cpu: what the snoop way records of a pause, hold music, a muted caller")
            findings, failed = asyncio.run(snoop_checks.run(instance))
    except SandboxError as exc:
        progress(f"error: {exc}\n(run as root)")
        return 2
    load = [round((a + b) / 2, 2) for a, b in zip(load_before, os.getloadavg(), strict=True)]
    costs = Costs.of(runs_done, calls, seconds)
    figures = costs.figures() | {f.key: f.figure for f in findings}
    print("\n".join(report(costs, failures + failed, figures)))
    print("\n".join(f"  {f.way}, {f.check}: {f.detail}" for f in findings))
    print(f"  load average (1, 5, 15 min), mean of start and end: {load}")
    if args.cpu_profile is not None or runs < MIN_RUNS:
        print("  not written to bench/results.json (profiled, or fewer than "
              f"{MIN_RUNS} rounds)")
    else:
        results = getattr(args, "results", results_file.RESULTS)
        before, after = results_file.update(
            "cpu", figures, results, at=dt.datetime.now(dt.UTC), load=load
        )
        print("\n".join(results_file.comparison(before, after)))
    return 1 if failures or failed else 0
