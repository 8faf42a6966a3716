"""The figures /metrics reads (R4): what the store counts of its own writes, the key →
pause histogram's buckets, and who may scrape."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from ipaddress import ip_network
from pathlib import Path

import pytest

from controller.audit.errors import AccessLogError
from controller.calls.latency import LatencyHistogram
from controller.config.model import MetricsSettings
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from controller.store.probe import WriteProbe, probe_write
from controller.store.records import Decision
from controller.web.health import STORE_NOT_ANSWERING, StoreReadiness
from controller.web.metrics import ADDRESS_REFUSED, TOKEN_REFUSED, scrape_refusal
from tests.sites import add_call, add_recording, load_site, open_site, write_site

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def test_r4_the_store_counts_the_decisions_call_ends_and_recordings_it_wrote(
    tmp_path: Path,
) -> None:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    try:
        call_id, _ = add_recording(store, vault, config, service="sales", created_at=NOW)
        store.record_decision(
            Decision(call_id, NOW, True, "sampled", 0.5, 0.1, True, "mon-fri", "alice")
        )
        other = add_call(store, config, service="sales", started_at=NOW)
        store.record_decision(
            Decision(other, NOW, False, "not_sampled", 0.5, 0.9, True, "mon-fri", "alice")
        )
        discarded = "rec-discarded"
        store.open_recording(discarded, other, "b" * 40, "wav", ("quality",), NOW, 90)
        store.close_recording(discarded, "discarded", NOW)
        # Settled already: a second close changes no row and counts nothing.
        store.close_recording(discarded, "failed", NOW)
        open_call = add_call(store, config, service="support", started_at=NOW)
        store.db.execute("UPDATE calls SET ended_at = NULL WHERE id = ?", [open_call])
        assert store.close_interrupted_calls(NOW) == 1
        figures = store.figures.copy()
    finally:
        store.close()
    assert figures.calls_ended == {"completed": 3, "interrupted": 1}
    assert figures.decisions == {("sampled", True): 1, ("not_sampled", False): 1}
    assert figures.recordings == {"stored": 1, "discarded": 1}


def test_r4_key_to_pause_buckets_are_cumulative_and_a_bound_holds_its_own_value() -> None:
    tally = LatencyHistogram((0.01, 0.1))
    for seconds in (0.004, 0.01, 0.05, 3.0):
        tally.observe(seconds)
    assert tally.cumulative() == [(0.01, 2), (0.1, 3), (float("inf"), 4)]
    assert tally.count == 4
    assert tally.sum == pytest.approx(3.064)


ALLOW = MetricsSettings(allow=(ip_network("127.0.0.0/8"), ip_network("2001:db8::/32")))
TOKEN = "scrape-token-0123456789"


@pytest.mark.parametrize(
    ("remote", "authorization", "settings", "refused"),
    [
        ("127.0.0.1", "", MetricsSettings(), None),
        ("::1", "", MetricsSettings(), None),
        ("::ffff:127.0.0.1", "", MetricsSettings(), None),
        ("192.0.2.7", "", MetricsSettings(), ADDRESS_REFUSED),
        ("2001:db8::5", "", ALLOW, None),
        ("2001:db9::5", "", ALLOW, ADDRESS_REFUSED),
        (None, "", MetricsSettings(), ADDRESS_REFUSED),
        ("not-an-address", "", MetricsSettings(), ADDRESS_REFUSED),
        ("127.0.0.1", "", MetricsSettings(token=Secret(TOKEN)), TOKEN_REFUSED),
        ("127.0.0.1", "Bearer wrong", MetricsSettings(token=Secret(TOKEN)), TOKEN_REFUSED),
        ("127.0.0.1", f"Basic {TOKEN}", MetricsSettings(token=Secret(TOKEN)), TOKEN_REFUSED),
        ("127.0.0.1", f"Bearer {TOKEN}", MetricsSettings(token=Secret(TOKEN)), None),
        # The address is checked first: the right token from elsewhere is still refused.
        ("192.0.2.7", f"Bearer {TOKEN}", MetricsSettings(token=Secret(TOKEN)), ADDRESS_REFUSED),
    ],
)
def test_r4_a_scrape_needs_an_allowed_address_and_the_token_when_one_is_set(
    remote: str | None, authorization: str, settings: MetricsSettings, refused: str | None
) -> None:
    refusal = scrape_refusal(remote, authorization, settings)
    assert (refusal.error_id if refusal else None) == refused
    if refusal is not None:
        assert refusal.status == (403 if refused == ADDRESS_REFUSED else 401)


async def test_r4_a_flood_of_readiness_requests_makes_one_store_write_per_second() -> None:
    """/readyz answers anyone who reaches the port; its store probe is a committed
    write queued with the calls' own. However many ask at once or in a row, the store
    is probed once per second at most."""
    thread: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(":memory:"), SqliteStore.close
    )
    await thread.start()
    probes: list[str] = []

    def counted(store: SqliteStore) -> tuple[WriteProbe, AccessLogError | None]:
        probes.append("probe")
        return probe_write(store), store.access_log_blocker()

    now = [100.0]
    readiness = StoreReadiness(lambda: thread, probe=counted, every=1.0, clock=lambda: now[0])
    try:
        answers = await asyncio.gather(*(readiness.check() for _ in range(30)))
        answers += [await readiness.check() for _ in range(30)]
        assert probes == ["probe"]
        assert set(answers) == {(None, None)}
        now[0] += 1.0
        assert await readiness.check() == (None, None)
        assert probes == ["probe", "probe"]
    finally:
        await thread.stop()


async def test_r4_a_lock_check_that_hangs_leaves_readyz_bounded_and_one_thread_stuck() -> None:
    """R4: the store thread does not answer and the check of who holds its lock hangs
    too (the file on a disk that stopped answering). /readyz still answers, "not
    answering", within the probe's bound plus the check's, and however many ask, one
    check at a time waits on the disk: a flood of requests does not pile up threads."""
    thread: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(":memory:"), SqliteStore.close
    )
    await thread.start()
    stuck = threading.Event()
    release = threading.Event()
    checks: list[str] = []

    def hung_probe(store: SqliteStore) -> tuple[WriteProbe, AccessLogError | None]:
        release.wait()
        return probe_write(store), None

    def hung_check() -> bool:
        checks.append("check")
        stuck.set()
        release.wait()
        return True

    readiness = StoreReadiness(
        lambda: thread, probe=hung_probe, timeout=0.05, locked=hung_check, lock_timeout=0.05
    )
    try:
        answers = await asyncio.gather(*(readiness.check() for _ in range(20)))
        answers += [await readiness.check() for _ in range(3)]
        assert stuck.is_set()
        assert checks == ["check"]
        assert {reason.error_id for reason, _ in answers if reason is not None} == {
            STORE_NOT_ANSWERING
        }
        assert all(reason is not None for reason, _ in answers)
    finally:
        release.set()
        await thread.stop()
