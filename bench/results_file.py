"""``bench/results.json``: the headline figures of every bench section, in one file.

Each section measures its own figures and merges them in under flat keys
(``purge_1m_s``, ``concurrent_100.setup_p99_ms``...): it reads the file, replaces its
own keys, keeps every other section's, and writes it back atomically (a new file renamed
over the old one), under a lock, so two sections finishing at once lose nothing::

    {
      "machine": {"cores": 2, "cpu_model": "...", "python": "3.11.7"},
      "commit": "abc1234", "date": "2026-...",          (the last update)
      "figures": {"purge_1m_s": 41.0, "verify_1m_s": 6.2, ...},
      "measured": {"purge_1m_s": {"section": "chores", "commit": "...", "date": "...",
                                  "cores": 2, "load": [0.5, 0.7, 0.9]}, ...}
    }

``measured`` says, for each figure, which section wrote it, from which commit, when and
on how loaded a machine: figures of different sections may come from different runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"
RESULTS_IN_TREE = "bench/results.json"


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version()}


COMMIT_ENV = "RECCONTROL_BENCH_COMMIT"
"""The commit measured, when the bench runs from a tree exported from git (no repository)."""


def commit() -> str:
    """The short commit of the code measured, ``-dirty`` when it has uncommitted changes."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # The results file itself is not the code measured: a run that rewrote it
            # before this one is still a run of a clean tree.
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
             f":(top,exclude){RESULTS_IN_TREE}"], cwd=here,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def empty() -> dict[str, Any]:
    return {"machine": {}, "commit": None, "date": None, "figures": {}, "measured": {}}


def read(path: Path = RESULTS) -> dict[str, Any]:
    """The results as stored; an empty document when there are none or they do not parse
    (a bench run must not fail on the previous run's file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty()
    if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
        return empty()
    return {**empty(), **data}


def merged(
    results: Mapping[str, Any],
    section: str,
    figures: Mapping[str, float | None],
    *,
    at: dt.datetime,
    code: str,
    host: Mapping[str, Any],
    load: list[float],
) -> dict[str, Any]:
    """``results`` with ``figures`` in place of the section's earlier ones. Pure."""
    out = {**empty(), **results}
    out_figures = dict(out["figures"])
    out_measured = dict(out["measured"])
    stamp = {
        "section": section,
        "commit": code,
        "date": at.isoformat(timespec="seconds"),
        "cores": host.get("cores"),
        "load": load,
    }
    for key, value in figures.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue  # not measured this time: the earlier figure stays, with its stamp
        out_figures[key] = round(float(value), 4)
        out_measured[key] = stamp
    out.update(
        machine=dict(host),
        commit=code,
        date=stamp["date"],
        figures=dict(sorted(out_figures.items())),
        measured=dict(sorted(out_measured.items())),
    )
    return out


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update(
    section: str,
    figures: Mapping[str, float | None],
    path: Path = RESULTS,
    *,
    at: dt.datetime | None = None,
    load: list[float] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merges a section's figures into the file; returns (before, after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        before = read(path)
        after = merged(
            before,
            section,
            figures,
            at=at or dt.datetime.now(dt.UTC),
            code=commit(),
            host=machine(),
            load=load if load is not None else [round(x, 2) for x in os.getloadavg()],
        )
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(json.dumps(after, indent=2, allow_nan=False) + "\n")
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
    return before, after


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def comparison(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """A table of every figure in either document: before, now, change, and the commit
    that measured the figure now."""
    old, new = before.get("figures", {}), after.get("figures", {})
    measured = after.get("measured", {})
    rows = [["figure", "previous", "now", "change", "measured at"]]
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        change = "-" if not a or b is None else f"{(b - a) / a * 100:+.0f}%"
        stamp = measured.get(key, {})
        when = f"{stamp.get('commit', '?')} {stamp.get('date', '')}"
        rows.append([key, _number(a), _number(b), change, when])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            c.ljust(widths[i]) if i in (0, 4) else c.rjust(widths[i]) for i, c in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines
