"""T4: the purge survives SIGKILL at any point. A real ``reccontrol purge`` process runs on
a store with real files in a vault and is killed after random delays, round after round;
a final run must leave everything consistent.

Set RECCONTROL_KILL_SEED to replay a run; RECCONTROL_KILL_ROUNDS for more rounds.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.store.records import Decision
from tests.sites import (
    ENV,
    add_call,
    add_recording,
    load_site,
    old_log_entry,
    open_site,
    write_site,
)

REPO = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("RECCONTROL_KILL_ROUNDS", "25"))
INITIAL_EXPIRED, KEPT, PER_ROUND = 600, 150, 150


def wait_for_deletions(config: Config, process: subprocess.Popen[bytes]) -> None:
    """Returns once the purge has condemned its first batch (or has ended)."""
    db = sqlite3.connect(f"file:{config.store.path}?mode=ro", uri=True, timeout=5)
    try:
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if db.execute("SELECT COUNT(*) FROM recording_deletions").fetchone()[0]:
                return
            time.sleep(0.002)
    finally:
        db.close()


def add_expired(
    store: SqliteStore, vault: LocalVault, config: Config, count: int, now: dt.datetime
) -> set[str]:
    ids = set()
    for i in range(count):
        created = now - dt.timedelta(days=95, minutes=i)
        ids.add(add_recording(store, vault, config, service="sales", created_at=created)[1])
    return ids


def call_receipts(store: SqliteStore) -> Counter[str]:
    return Counter(
        str(call_id)
        for e in store.access_entries()
        if e.action == "call_delete"
        for call_id in e.details["call_ids"]
    )


def check_invariants(config: Config, old_calls: frozenset[str] = frozenset()) -> dict[str, int]:
    """What must hold after a kill at any point."""
    store = SqliteStore.open(config.store.path)
    try:
        # T5: an expired call is either still there or gone with exactly one receipt.
        calls = {row["id"] for row in store.db.query("SELECT id FROM calls")}
        receipted = call_receipts(store)
        assert not (calls & set(receipted)) and max(receipted.values(), default=1) == 1
        assert old_calls <= calls | set(receipted)
        assert store.integrity_check() == "ok"
        rows = list(store.db.query("SELECT id, name, path, state FROM recordings"))
        states = Counter(row["state"] for row in rows)
        for row in rows:
            if row["state"] == "stored":
                # No row points to a missing file without being marked so.
                assert Path(row["path"]).is_file(), row
        known = {Path(row["path"]).name for row in rows if row["path"]}
        for file in config.recordings.vault_dir.iterdir():
            # No file lives on without a row that will purge it.
            assert file.name in known, file
        deleting = store.db.execute("SELECT COUNT(*) FROM recording_deletions").fetchone()[0]
        assert deleting == states["deleted"]
        return {"deleted": states["deleted"], "stored": states["stored"]}
    finally:
        store.close()


def test_purge_killed_at_random_points_finishes_cleanly(tmp_path: Path) -> None:
    seed = int(os.environ.get("RECCONTROL_KILL_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    config_path = write_site(tmp_path)
    config = load_site(config_path)
    now = dt.datetime.now(dt.UTC)
    store, vault = open_site(config)
    # Old log entries and sheets, expired too: the cut and the sheet purge can be killed.
    for n in range(50):
        old_log_entry(store, now - dt.timedelta(days=400, minutes=-n), n)
    expired = add_expired(store, vault, config, INITIAL_EXPIRED, now)
    kept = set()
    for i in range(KEPT):
        created = now - dt.timedelta(days=80, minutes=i)  # expires in ten days
        kept.add(add_recording(store, vault, config, service="sales", created_at=created)[1])
    # T5: expired call metadata (a decision each), purged in batches with receipts.
    old_calls = frozenset(
        add_call(store, config, service="sales", started_at=now - dt.timedelta(days=400 + i))
        for i in range(250)
    )
    for call_id in old_calls:
        store.record_decision(
            Decision(
                call_id,
                now - dt.timedelta(days=400),
                False,
                "not_sampled",
                0.5,
                0.9,
                True,
                "-",
                "alice",
            )
        )
    old = AccessService(config, store, vault, FixedClock(now - dt.timedelta(days=370)))
    call_id = next(c for c in store.call_ids() if c not in old_calls)
    for _ in range(20):
        old.sheet_create(config.access.persons["mleroy"], "evaluation", call_id, {}, {}, "")
    store.close()

    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "controller", "purge", "-c", str(config_path)]
    outcomes: Counter[str] = Counter()
    full_run = 0.6  # seconds; updated from runs that finish before the kill
    for round_ in range(ROUNDS):
        store, vault = open_site(config)
        expired |= add_expired(store, vault, config, PER_ROUND, now)
        store.close()
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if round_ % 2:
            # Anywhere: start-up, planning, deleting, sheets, the log cut, the vault scan.
            time.sleep(rng.uniform(0.02, 1.2 * full_run))
        else:
            # Inside the deletions: once the first batch is condemned, a few ms later.
            wait_for_deletions(config, process)
            time.sleep(rng.uniform(0, 0.04))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        assert process.stderr is not None
        errors = process.stderr.read().decode()
        process.stderr.close()
        if process.returncode == -signal.SIGKILL:
            state = check_invariants(config, old_calls)
            outcomes["killed mid-deletion" if state["deleted"] else "killed"] += 1
        else:
            assert process.returncode == 0, errors
            full_run = time.monotonic() - started
            outcomes["finished before the kill"] += 1

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    print(f"seed {seed}: {ROUNDS} rounds, {dict(outcomes)}")
    assert outcomes["killed"] + outcomes["killed mid-deletion"] >= 20, outcomes

    check_invariants(config, old_calls)
    store = SqliteStore.open(config.store.path)
    try:
        assert store.integrity_check() == "ok"
        remaining = {row["id"] for row in store.db.query("SELECT id FROM recordings")}
        assert remaining == kept
        for recording_id in kept:
            row = store.recording(recording_id)
            assert row is not None and row.state == "stored" and Path(str(row.path)).is_file()
        # No expired file on disk.
        assert len(list(config.recordings.vault_dir.iterdir())) == len(kept)
        # One receipt per deleted recording, no more.
        receipts = Counter(
            str(e.details["recording_id"]) for e in store.access_entries() if e.action == "delete"
        )
        assert set(receipts) == expired and max(receipts.values()) == 1
        assert store.db.execute("SELECT COUNT(*) FROM sheets").fetchone()[0] == 0
        # T5: every expired call went, with exactly one receipt.
        assert set(call_receipts(store)) == old_calls
        assert not old_calls & {row["id"] for row in store.db.query("SELECT id FROM calls")}
        assert store.checkpoints(), "the expired log entries were cut behind a checkpoint"
        verdict = store.verify_access_log(config.audit.checkpoint_key)
        assert verdict.ok, verdict.describe()
    finally:
        store.close()
