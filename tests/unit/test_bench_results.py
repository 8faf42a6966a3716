"""``bench/results.json``: each bench section merges its figures in without losing the
others', and the table shows every figure with the one before it."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from bench import results_file

AT = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
HOST = {"cores": 2, "cpu_model": "Test CPU", "python": "3.11.7"}


def test_a_section_replaces_its_own_figures_and_keeps_the_others() -> None:
    first = results_file.merged(
        results_file.empty(),
        "concurrent",
        {"concurrent_100.setup_p99_ms": 40.0, "events_per_s": 21000.0},
        at=AT,
        code="aaa",
        host=HOST,
        load=[0.1, 0.2, 0.3],
    )
    second = results_file.merged(
        first,
        "chores",
        {"purge_1m_s": 41.5, "verify_1m_s": float("nan"), "events_per_s": None},
        at=AT + dt.timedelta(hours=1),
        code="bbb",
        host=HOST,
        load=[1.0, 1.0, 1.0],
    )
    assert second["figures"] == {
        "concurrent_100.setup_p99_ms": 40.0,
        "events_per_s": 21000.0,
        "purge_1m_s": 41.5,
    }
    assert second["measured"]["events_per_s"]["commit"] == "aaa"
    assert second["measured"]["purge_1m_s"]["section"] == "chores"
    assert second["measured"]["purge_1m_s"]["commit"] == "bbb"
    assert second["machine"] == HOST and second["commit"] == "bbb"


def test_update_writes_a_whole_file_and_reads_a_broken_one_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("{not json")
    before, after = results_file.update("chores", {"purge_1m_s": 50.0}, path, at=AT, load=[0.0])
    assert before["figures"] == {}
    assert json.loads(path.read_text()) == after
    before, after = results_file.update("other", {"cpu_ratio_vs_native": 1.05}, path, at=AT)
    assert before["figures"] == {"purge_1m_s": 50.0}
    assert after["figures"] == {"cpu_ratio_vs_native": 1.05, "purge_1m_s": 50.0}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_the_table_shows_every_figure_previous_and_now() -> None:
    before = {"figures": {"purge_1m_s": 80.0, "events_per_s": 20000.0}}
    after = {
        "figures": {"purge_1m_s": 40.0, "events_per_s": 20000.0, "verify_1m_s": 6.0},
        "measured": {"purge_1m_s": {"commit": "bbb", "date": "2026-12-07"}},
    }
    lines = results_file.comparison(before, after)
    by_name = {line.split()[0]: line.split() for line in lines[2:]}
    assert by_name["purge_1m_s"][1:5] == ["80.000", "40.000", "-50%", "bbb"]
    assert by_name["verify_1m_s"][1:4] == ["-", "6.000", "-"]
    assert by_name["events_per_s"][1:4] == ["20000.0", "20000.0", "+0%"]


def test_size_labels_name_the_figures() -> None:
    from bench.chores import size_label

    assert [size_label(n) for n in (1_000_000, 10_000_000, 100_000, 2500, 7)] == [
        "1m",
        "10m",
        "100k",
        "2500",
        "7",
    ]


def test_a_tree_whose_only_change_is_the_results_file_is_clean(tmp_path: Path) -> None:
    """The figures name the commit measured: rewriting bench/results.json (which every
    section does) must not mark the next section's figures as measured on a dirty tree,
    while a change to the code still does."""
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    shutil.copy(results_file.__file__, repo / "bench" / "results_file.py")
    (repo / "bench" / "results.json").write_text("{}\n")
    (repo / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    probe = (
        "import sys; sys.path.insert(0, 'bench'); import results_file; "
        "print(results_file.commit())"
    )

    def measured() -> str:
        env = {k: v for k, v in os.environ.items() if k != results_file.COMMIT_ENV}
        return subprocess.run(
            [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True,
            check=True, env=env,
        ).stdout.strip()

    (repo / "bench" / "results.json").write_text('{"figures": {}}\n')
    assert not measured().endswith("-dirty")
    (repo / "code.py").write_text("x = 2\n")
    assert measured().endswith("-dirty")
