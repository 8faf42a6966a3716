"""Several nodes on one store (N1): each adopts and sweeps only its own calls and
recordings, and the store-wide jobs run on one node at a time, so that two nodes purging
at once leave each receipt exactly once and the access log one chain that verifies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.retention.node_wide import node_wide
from controller.retention.purge import PurgeReport, run_purge
from controller.store import SqliteStore
from controller.store.opening import open_configured
from controller.store.records import CallStart
from tests.factories import receipted
from tests.sites import add_recording, load_site, old_log_entry, write_site

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
StoreOpener = Callable[..., SqliteStore]


@pytest.fixture
def nodes(open_store: StoreOpener) -> Iterator[tuple[SqliteStore, SqliteStore]]:
    """Two nodes' stores on one store (a SQLite file or a PostgreSQL database)."""
    a, b = open_store(node="node-a"), open_store(node="node-b")
    yield a, b
    a.close()
    b.close()


def test_n1_r1_a_restarted_node_adopts_only_its_own_calls(
    nodes: tuple[SqliteStore, SqliteStore],
) -> None:
    """N1, R1: node A restarting finds its own open calls, not node B's, and closing
    its interrupted calls leaves B's calls in progress."""
    a, b = nodes
    a.begin_call(CallStart("ca", "sales", "inbound", T0, None, "chan-a"), "v1")
    b.begin_call(CallStart("cb", "sales", "inbound", T0, None, "chan-b"), "v1")
    assert [c.call_id for c in a.open_calls()] == ["ca"]
    assert [c.call_id for c in b.open_calls()] == ["cb"]
    assert a.close_interrupted_calls(T0 + DAY) == 1
    assert a.open_calls() == [] and [c.call_id for c in b.open_calls()] == ["cb"]
    assert a.call_summary("cb") is not None  # the calls are node-wide for everything else


def test_n1_r1_a_node_sweeps_only_its_own_live_recordings(
    nodes: tuple[SqliteStore, SqliteStore],
) -> None:
    """N1, R1: node B's recording in progress is live in B's Asterisk, not in A's: A's
    orphan sweep never sees it (it would call it missing)."""
    a, b = nodes
    for store, call in ((a, "ca"), (b, "cb")):
        store.begin_call(CallStart(call, "sales", "inbound", T0, None, f"chan-{call}"), "v1")
        store.open_recording(f"r-{call}", call, f"{call:0<40}", "wav", ("quality",), T0, 90)
    assert [r.recording_id for r in a.stuck_live_recordings()] == ["r-ca"]
    assert [r.recording_id for r in b.stuck_live_recordings()] == ["r-cb"]
    # Each recording row names the node whose vault holds it.
    rows = {r["id"]: r["node"] for r in a.db.query("SELECT id, node FROM recordings")}
    assert rows == {"r-ca": "node-a", "r-cb": "node-b"}


def test_n1_a_store_wide_job_runs_on_one_node_at_a_time(
    nodes: tuple[SqliteStore, SqliteStore], backend: str
) -> None:
    """N1: on PostgreSQL, while node A runs the purge node B cannot take it, and takes
    it once A gives it back; a waiting node stops waiting when asked to. A SQLite store
    is one node's: it always can."""
    a, b = nodes
    assert a.take_node_wide("purge")
    assert b.take_node_wide("purge") is (backend == "sqlite")
    b.release_node_wide("purge")
    assert b.take_node_wide("orphan-sweep"), "another job is not held by the purge"
    b.release_node_wide("orphan-sweep")
    if backend == "postgresql":
        stop = threading.Event()
        stop.set()
        with node_wide(b, "purge", stop, every=0.01) as taken:
            assert taken is False
    a.release_node_wide("purge")
    with node_wide(b, "purge", threading.Event()) as taken:
        assert taken is True
        assert a.take_node_wide("purge") is (backend == "sqlite")
    assert a.take_node_wide("purge")
    a.release_node_wide("purge")


def node_site(root: Path, store: dict[str, str], node: str) -> Config:
    """A node's config: its own folders, the shared store under its own name."""
    config = load_site(write_site(root, store={**store, "node": node}))
    return dataclasses.replace(config, store=dataclasses.replace(config.store, node=node))


@pytest.mark.parametrize("overlapped", [False, True], ids=["daemon", "command"])
def test_n1_t4_s3_two_nodes_purging_at_once_leave_each_receipt_once(
    tmp_path: Path, site_store: dict[str, str], overlapped: bool
) -> None:
    """N1, T4, S3: both nodes purge at the same moment; every expired recording (of
    either node's vault) is deleted with exactly one receipt, the expired access-log
    entries are cut behind one checkpoint, and the chain verifies. The same with the
    purge as ``reccontrol purge`` runs it: batches overlapped (here of 2 recordings, so
    each node's 3 make two)."""
    configs = [node_site(tmp_path / n, site_store, n) for n in ("node-a", "node-b")]
    expired: list[str] = []
    for config in configs:
        store = opened(config)
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
        config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
        vault.prepare()
        for _ in range(3):
            _, recording = add_recording(store, vault, config, service="support", created_at=T0)
            expired.append(recording)
        for n in range(3):
            old_log_entry(store, T0, n)
        store.close()
    clock = FixedClock(T0 + 400 * DAY)
    start = threading.Barrier(2)

    def purge(config: Config) -> PurgeReport:
        # Each node's purge on its own thread, with its own connection, at once.
        store = opened(config)
        try:
            start.wait(timeout=60)
            if not overlapped:
                return run_purge(config, clock, store)
            return run_purge(config, clock, store, batch_size=2, overlapped=True)
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(purge, configs))
    assert all(not r.errors and not r.interrupted for r in reports), reports
    store = opened(configs[1])
    try:
        receipts = [str(r["recording_id"]) for r in receipted(store.access_entries())]
        assert sorted(receipts) == sorted(expired)
        assert sum(r.recordings_deleted for r in reports) == len(expired)
        assert sum(1 for e in store.access_entries() if e.action == "log_purge") == 1
        assert [c.number for c in store.checkpoints()] == [1]
        verdict = store.verify_access_log(configs[1].audit.checkpoint_key)
        assert verdict.ok, verdict.describe()
    finally:
        store.close()


def opened(config: Config) -> SqliteStore:
    return open_configured(config.store, audit_key=config.audit.checkpoint_key)
