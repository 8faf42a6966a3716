"""T4: the purge survives SIGKILL at any point. A real ``reccontrol purge`` process runs on
a store with real files in a vault and is killed round after round; a final run must
leave everything consistent.

Most rounds kill the purge at a named step, by construction: the process stops there
(``RECCONTROL_STOP_AT``, see ``controller/stoppoints.py``) and the test kills it. The
other rounds kill it after a random delay, wherever that falls; they add variety but are
not counted, since a fast or a loaded machine decides where they land.

Set RECCONTROL_KILL_SEED to replay a run; RECCONTROL_KILL_ROUNDS for more rounds.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.stoppoints import ENV as STOP_AT
from controller.store import SqliteStore
from controller.store.records import Decision
from tests.factories import receipted
from tests.sites import (
    ENV,
    add_call,
    add_recording,
    load_site,
    old_log_entry,
    open_site,
    write_site,
)
from tests.stopping import kill_at_step, start_stopping_at

REPO = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("RECCONTROL_KILL_ROUNDS", "25"))
INITIAL_EXPIRED, KEPT, PER_ROUND = 600, 150, 150
# Steps every run passes through while there is something to delete.
STEPS = (
    "purge-planned",
    "deletion-condemned",
    "deletion-mid-batch",
    "deletion-files-removed",
    "purge-vault-scan",
)
# Inside the transactions that purge expired call metadata and cut the access log: reached
# only while such rows remain, so only by the first rounds, in the purge's order.
FIRST_STEPS = ("purge-call-metadata", "purge-log-cut")
STOP_TIMEOUT = 60.0


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


def check_invariants(config: Config, old_calls: frozenset[str]) -> dict[str, int]:
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
        verdict = store.verify_access_log(config.audit.checkpoint_key)
        assert verdict.ok, verdict.describe()
        return {"deleted": states["deleted"], "stored": states["stored"]}
    finally:
        store.close()


def kill_after(command: list[str], env: dict[str, str], delay: float) -> bool:
    """Kills the purge after ``delay`` seconds; False if it had finished by then."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=STOP_TIMEOUT)
    if process.returncode == -signal.SIGKILL:
        return True
    assert process.returncode == 0, errors.decode()
    return False


def test_purge_killed_at_every_step_finishes_cleanly(tmp_path: Path) -> None:
    """T4: a SIGKILL at each named step of the purge, and at random moments, leaves a store
    and a vault that the next run brings to the expected end state, with one receipt per
    deletion and an intact audit chain. T6: an expired recording under a legal hold
    survives every round."""
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
    # T6: an expired recording under a legal hold, which no round may delete.
    held_call, held_id = add_recording(
        store, vault, config, service="sales", created_at=now - dt.timedelta(days=95)
    )
    AccessService(config, store, vault, FixedClock(now)).hold_place(
        config.access.persons["cdubois"],
        "mediation request",
        held_call,
        "contract dispute",
        "MED-K",
        now + dt.timedelta(days=100),
    )
    store.close()

    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    env.pop(STOP_AT, None)
    command = [sys.executable, "-m", "controller", "purge", "-c", str(config_path)]
    killed_at: Counter[str] = Counter()
    random_rounds: Counter[str] = Counter()
    full_run = 0.6  # seconds; updated from random rounds that finish before the kill
    for round_ in range(ROUNDS):
        store, vault = open_site(config)
        expired |= add_expired(store, vault, config, PER_ROUND, now)
        store.close()
        later = round_ - len(FIRST_STEPS)
        if later < 0:
            step: str | None = FIRST_STEPS[round_]
        elif later % 4 == 3:
            step = None
        else:
            step = STEPS[(later - later // 4) % len(STEPS)]
        if step is not None:
            kill_at_step(start_stopping_at(command, env, step), step)
            killed_at[step] += 1
            check_invariants(config, old_calls)
        else:
            started = time.monotonic()
            if kill_after(command, env, rng.uniform(0.02, 1.2 * full_run)):
                random_rounds["killed"] += 1
                check_invariants(config, old_calls)
            else:
                full_run = time.monotonic() - started
                random_rounds["finished first"] += 1

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    print(f"seed {seed}: {ROUNDS} rounds, at steps {dict(killed_at)}, random {dict(random_rounds)}")
    # Rounds 0 to 7 kill at every step once; 25 rounds by default.
    if ROUNDS >= 8:
        assert set(killed_at) == {*FIRST_STEPS, *STEPS}, killed_at

    check_invariants(config, old_calls)
    store = SqliteStore.open(config.store.path)
    try:
        assert store.integrity_check() == "ok"
        remaining = {row["id"] for row in store.db.query("SELECT id FROM recordings")}
        assert remaining == kept | {held_id}
        for recording_id in kept | {held_id}:
            row = store.recording(recording_id)
            assert row is not None and row.state == "stored" and Path(str(row.path)).is_file()
        # No expired file on disk but the held one.
        assert len(list(config.recordings.vault_dir.iterdir())) == len(kept) + 1
        # Every deleted recording named in one receipt, once.
        receipts = Counter(str(r["recording_id"]) for r in receipted(store.access_entries()))
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


# ``reccontrol purge`` overlaps its batches (one batch's files go while the next is
# condemned and the one before finished): kills between batches, where two of them are
# under way at once. Each is the n-th time the step is reached (``step@n``).
OVERLAPPED_STEPS = (
    "deletion-condemned@2",
    "deletion-mid-batch@1",
    "deletion-files-removed@1",
    "deletion-condemned@3",
    "deletion-files-removed@2",
    "deletion-mid-batch@3",
)
OVERLAPPED_PER_ROUND = 90


def test_t4_s10_overlapped_batches_killed_between_them_finish_cleanly(tmp_path: Path) -> None:
    """T4: the purge as ``reccontrol purge`` runs it, its batches' store and file work
    overlapped, killed while one batch's files go and the next is condemned (or the one
    before is not yet finished), leaves a store and a vault the next run brings to the
    end state: every expired recording deleted with one receipt, once, the kept ones
    there with their files. S10: on a sealed site, no data key outlives its recording."""
    config_path = write_site(tmp_path)
    config = load_site(config_path)
    now = dt.datetime.now(dt.UTC)
    store, vault = open_site(config, sealed=True)
    expired: set[str] = set()
    kept = set()
    for i in range(20):
        created = now - dt.timedelta(days=80, minutes=i)  # expires in ten days
        kept.add(add_recording(store, vault, config, service="sales", created_at=created)[1])
    store.close()
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    env.pop(STOP_AT, None)
    command = [sys.executable, "-m", "tests.purge_in_small_batches", str(config_path)]
    for step in OVERLAPPED_STEPS:
        store, vault = open_site(config, sealed=True)
        expired |= add_expired(store, vault, config, OVERLAPPED_PER_ROUND, now)
        store.close()
        kill_at_step(start_stopping_at(command, env, step), step)
        check_invariants(config, frozenset())

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    check_invariants(config, frozenset())
    store, vault = open_site(config, sealed=True)
    try:
        remaining = {row["id"] for row in store.db.query("SELECT id FROM recordings")}
        assert remaining == kept
        assert len(list(config.recordings.vault_dir.iterdir())) == len(kept)
        assert vault.keyring is not None and len(vault.keyring.ids()) == len(kept)
        receipts = Counter(str(r["recording_id"]) for r in receipted(store.access_entries()))
        assert set(receipts) == expired and max(receipts.values()) == 1
    finally:
        store.close()
