"""``python -m bench --chores``: the store's chores on a year of a large centre (T4, S3,
S7, C5).

A site is generated in bulk (:mod:`tests.site_bulk`): expired recordings with their files
(1M by default; sealed, each with its data key in the keyring, as the default site keeps
them, or plaintext with ``--chores-plaintext``) and a month of call metadata (10M calls
by default). Then, each through the product's own code:

- ``reccontrol purge`` deletes the expired recordings (files, data keys, rows, a receipt
  naming a thousand of them at a time): the command as a person runs it, a process of
  its own, timed from start to exit, with its CPU time (user and system, all its
  threads: on a shared machine the wall time follows the load, the CPU time much less)
  and its peak memory;
- ``reccontrol audit verify`` checks the access log those receipts went into, timed the
  same way, with its peak memory (a streamed verification stays flat);
- the access log's head (what ``reccontrol audit head`` prints), the calls of one caller
  (``reccontrol subject find``, through the access service, access logged) and the
  console's call list (its first page, each filter the console offers, and 100 pages in
  by cursor, of all calls and of one agent's), each timed in this process, the median of
  several.

The figures go into ``bench/results.json`` beside the other sections' (see
:mod:`bench.results_file`), named by the sizes measured: ``purge_1m_s`` for a million
recordings, ``purge_100k_s`` for a hundred thousand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import results_file
from bench.reaction import progress
from controller.access.service import AccessService
from controller.clock import SystemClock
from controller.config.model import Config
from controller.recordings.vault import LocalVault
from controller.store.call_views import NO_PAYMENT, CallFilters
from controller.store.sqlite import SqliteStore
from tests.site_bulk import bulk_calls, bulk_log_entries, bulk_recordings, subject_number
from tests.sites import ENV, load_site, open_site, write_site

REPO = Path(__file__).resolve().parents[1]
REPEATS = 20
PAGE = 50
DEEP_PAGES = 100


def size_label(count: int) -> str:
    """``1m`` for 1,000,000, ``10m``, ``100k``, ``2500`` otherwise: the figures' names."""
    for unit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if count >= unit and count % unit == 0:
            return f"{count // unit}{suffix}"
    return str(count)


def console_filters(
    services: list[str], now: dt.datetime
) -> dict[str, tuple[list[str] | None, CallFilters]]:
    """Each filter the console's call list offers, by the name of its figure: no filter
    (the first page), a service, a person's scope of services, a day, an agent, a
    decision's reason, with or without a recording, paused, a payment status, no
    payment. Each as a person sets it alone."""
    day = now - dt.timedelta(days=3)
    return {
        "": (None, CallFilters()),
        "service": (None, CallFilters(service=services[0])),
        "scope": (services[:2], CallFilters()),
        "day": (None, CallFilters(start=day, end=day + dt.timedelta(days=1))),
        "agent": (None, CallFilters(agent="agent03")),
        "reason": (None, CallFilters(reason="sampled")),
        "recorded": (None, CallFilters(recorded=True)),
        "unrecorded": (None, CallFilters(recorded=False)),
        "paused": (None, CallFilters(paused=True)),
        "payment": (None, CallFilters(payment="approved")),
        "no_payment": (None, CallFilters(payment=NO_PAYMENT)),
    }


def list_figure(name: str, size: str) -> str:
    """``call_list_10m_ms`` for the first page, ``call_list_agent_10m_ms`` for a filter."""
    return f"call_list_{name}_{size}_ms" if name else f"call_list_{size}_ms"


SLOW_MS = 1000.0
"""A reading slower than this is timed 3 times, not :data:`REPEATS`: a filter no index
serves would otherwise hold the bench for minutes at 10M calls."""


def median_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """The median wall time of ``action`` in milliseconds, after one untimed warm-up
    (the first read pulls the pages from disk)."""
    started = time.perf_counter()
    action()
    if (time.perf_counter() - started) * 1000 > SLOW_MS:
        repeats = min(repeats, 3)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@dataclass(frozen=True)
class CommandRun:
    seconds: float
    cpu_seconds: float
    """User and system time of the command (all its threads)."""
    peak_rss_mib: float
    output: str


def run_timed(args: list[str], config: Path) -> CommandRun:
    """Runs ``python -m controller ARGS -c CONFIG``, timed. Exits the bench if the
    command fails."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", *args, "-c", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode != 0:
        raise SystemExit(f"reccontrol {' '.join(args)} failed ({process.returncode}):\n{output}")
    return CommandRun(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def run_command(args: list[str], config: Path) -> tuple[float, float, str]:
    """:func:`run_timed`: (seconds, peak RSS MiB, output)."""
    run = run_timed(args, config)
    return run.seconds, run.peak_rss_mib, run.output


def measure(
    root: Path, recordings: int, calls: int, *, sealed: bool = True, entries: int = 0
) -> dict[str, float]:
    figures: dict[str, float] = {}
    config_path = write_site(root)
    config = load_site(config_path)
    store, vault = open_site(config, sealed=sealed)
    now = dt.datetime.now(dt.UTC)
    kind = "sealed" if sealed else "plaintext"
    progress(f"chores: generating {recordings} expired recordings with their files ({kind})")
    started = time.perf_counter()
    bulk_recordings(store, vault, config, count=recordings, newest=now - dt.timedelta(days=100))
    figures["generate_recordings_per_s"] = recordings / (time.perf_counter() - started)
    progress(f"chores: generating {calls} calls")
    started = time.perf_counter()
    bulk_calls(store, config, count=calls, newest=now)
    figures["generate_calls_per_s"] = calls / (time.perf_counter() - started)
    if entries:
        progress(f"chores: appending {entries} access-log entries")
        started = time.perf_counter()
        bulk_log_entries(store, count=entries, newest=now)
        figures["generate_entries_per_s"] = entries / (time.perf_counter() - started)
    store.close()

    r, c = size_label(recordings), size_label(calls)
    # A size of 0 leaves its part out: the purge and verify with no recordings, the
    # readings with no calls (each part can then be measured in a run of its own).
    if recordings or entries:
        # The verification is named by the entries it reads: those appended, and the
        # purge's receipts (a thousand recordings each) after them.
        v = size_label(entries or recordings)
        figures.update(purge_and_verify(config_path, recordings, r, v))
    progress("chores: audit head" + (", subject find, call list" if calls else ""))
    store, vault = open_site(config)
    try:
        figures["audit_head_ms"] = median_ms(store.audit_head)
        if calls:
            figures.update(readings(config, store, vault, now, c))
    finally:
        store.close()
    return figures


def purge_and_verify(config_path: Path, recordings: int, r: str, v: str) -> dict[str, float]:
    """``reccontrol purge`` of the ``recordings`` expired ones (if any), then ``reccontrol
    audit verify`` of the access log their receipts went into (figures named ``v``)."""
    figures: dict[str, float] = {}
    if recordings:
        progress(f"chores: reccontrol purge ({recordings} expired recordings)")
        purge = run_timed(["purge"], config_path)
        if f"recordings deleted: {recordings}" not in purge.output:
            raise SystemExit(f"the purge did not delete {recordings} recordings:\n{purge.output}")
        figures[f"purge_{r}_s"] = purge.seconds
        figures[f"purge_{r}_cpu_s"] = purge.cpu_seconds
        figures[f"purge_{r}_peak_rss_mib"] = purge.peak_rss_mib
    progress("chores: reccontrol audit verify")
    seconds, rss, output = run_command(["audit", "verify"], config_path)
    read = re.search(r"intact: (\d+) entries", output)
    if read is None:
        raise SystemExit(f"the access log does not verify:\n{output}")
    figures[f"verify_{v}_s"] = seconds
    figures[f"verify_{v}_peak_rss_mib"] = rss
    figures[f"verify_{v}_entries"] = int(read.group(1))
    return figures


def readings(
    config: Config, store: SqliteStore, vault: LocalVault, now: dt.datetime, c: str
) -> dict[str, float]:
    """One caller's calls (``subject find``) and the console's call list, each filter."""
    figures: dict[str, float] = {}
    service = AccessService(config, store, vault, SystemClock())
    dpo = config.access.persons["cdubois"]
    found = service.subject_find(dpo, "subject access request", subject_number(7))
    if not found.calls:
        raise SystemExit("subject find found none of the generated subject's calls")
    figures[f"subject_find_{c}_ms"] = median_ms(
        lambda: service.subject_find(dpo, "subject access request", subject_number(7))
    )
    everything = CallFilters()
    for name, (scope, filters) in console_filters(sorted(config.services), now).items():
        progress(f"chores: call list, {name}")
        figures[list_figure(name, c)] = median_ms(
            functools.partial(store.call_listing, scope, filters, None, PAGE)
        )
    for name, filters in (("page", everything), ("agent_page", CallFilters(agent="agent03"))):
        cursor = None
        for _ in range(DEEP_PAGES):
            cursor = store.call_listing(None, filters, cursor, PAGE).next
        figures[f"call_list_{name}_{DEEP_PAGES}_{c}_ms"] = median_ms(
            functools.partial(store.call_listing, None, filters, cursor, PAGE)
        )
    return figures


def main(args: argparse.Namespace) -> int:
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="reccontrol-chores-", dir=args.chores_dir) as folder:
        sealed = not args.chores_plaintext
        figures = measure(
            Path(folder),
            args.chores_recordings,
            args.chores_calls,
            sealed=sealed,
            entries=args.chores_entries,
        )
    load_end = [round(x, 2) for x in os.getloadavg()]
    before, after = results_file.update("chores", figures, args.results, load=load_end)
    print(
        f"chores: {args.chores_recordings} recordings "
        f"({'plaintext' if args.chores_plaintext else 'sealed'}), {args.chores_calls} calls; "
        f"load average at start {load}, at end {load_end}"
    )
    print("\n".join(results_file.comparison(before, after)))
    print(f"figures merged into {args.results}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chores",
        action="store_true",
        help="the 1M-row chores alone: purge, audit verify and head, subject find, call list",
    )
    parser.add_argument(
        "--chores-recordings", type=int, default=1_000_000, help="expired recordings (1M)"
    )
    parser.add_argument("--chores-calls", type=int, default=10_000_000, help="calls (10M)")
    parser.add_argument(
        "--chores-entries",
        type=int,
        default=1_000_000,
        help="access-log entries appended before the purge, for audit verify (1M)",
    )
    parser.add_argument(
        "--chores-plaintext",
        action="store_true",
        help="recordings not sealed (the default site seals them: a data key each, S10)",
    )
    parser.add_argument(
        "--chores-dir", type=Path, default=None, help="where the site is generated (a temp folder)"
    )
    parser.add_argument(
        "--results", type=Path, default=results_file.RESULTS, help="bench/results.json"
    )

