"""T5: call metadata (calls, decisions, consent events) has its own retention clock, and
objections live exactly ``privacy.objection_memory_days`` (C4), purged by the purge (T4)
with receipts, on a real store and vault with the clock moved forward."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.clock import FixedClock
from controller.config import Config, ConfigError, load_config
from controller.documents.caller_notice import build_caller_notice
from controller.documents.register import build_register
from controller.documents.render import to_markdown
from controller.recordings import LocalVault
from controller.retention.plan import RetentionRules
from controller.retention.purge import Purger, PurgeReport
from controller.store import SqliteStore
from controller.store.records import ConsentEvent, Decision
from controller.store.timestamps import to_text
from tests.sites import ENV, add_call, add_recording, load_site, open_site, site_config, write_site

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def site(
    tmp_path: Path, site_store: dict[str, str]
) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    """The site on each backend (N1)."""
    config = load_site(write_site(tmp_path, store=site_store))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def purge(config: Config, store: SqliteStore, vault: LocalVault, at: dt.datetime) -> PurgeReport:
    rules = RetentionRules.from_config(config)
    return Purger(store, vault, rules, FixedClock(at), config.audit.checkpoint_key).run()


def call_with_metadata(store: SqliteStore, config: Config, started_at: dt.datetime) -> str:
    call_id = add_call(store, config, service="sales", started_at=started_at)
    store.record_decision(
        Decision(call_id, started_at, False, "not_sampled", 0.5, 0.9, True, "mon-fri", "alice")
    )
    store.add_consent_event(
        ConsentEvent(call_id, started_at, "full_notice", "0", "v1", "announcement")
    )
    return call_id


def count(store: SqliteStore, table: str, call_id: str) -> int:
    row = store.db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE {'id' if table == 'calls' else 'call_id'} = ?",  # noqa: S608
        [call_id],
    ).fetchone()
    return int(row[0])


def test_t5_call_metadata_is_purged_after_365_days_with_a_receipt(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T5: a call, its decision and consent events were kept forever; now they go 365
    days after the call (the default), with a receipt naming them, unless a recording
    of the call is still kept."""
    config, store, vault = site
    assert config.privacy.call_metadata_days == 365
    old = call_with_metadata(store, config, T0)
    recent = call_with_metadata(store, config, T0 + 200 * DAY)
    # A call whose recording (90 days, service sales) outlives the call's own clock.
    held, _ = add_recording(store, vault, config, service="sales", created_at=T0 + 300 * DAY)
    store.db.execute("UPDATE calls SET started_at = ? WHERE id = ?", [to_text(T0), held])

    report = purge(config, store, vault, T0 + 364 * DAY)
    assert report.calls_deleted == 0 and count(store, "calls", old) == 1

    report = purge(config, store, vault, T0 + 366 * DAY)
    assert report.calls_deleted == 1 and report.calls_held_by_recordings == 1
    for table in ("calls", "decisions", "consent_events"):
        assert count(store, table, old) == 0
    assert count(store, "calls", recent) == 1 and count(store, "decisions", recent) == 1
    assert count(store, "calls", held) == 1
    (receipt,) = [e for e in store.access_entries() if e.action == "call_delete"]
    assert receipt.actor == "system" and receipt.purpose == (
        "retention: T5: privacy.call_metadata_days = 365"
    )
    assert receipt.details["call_ids"] == [old]
    assert "calls (metadata) deleted: 1 (1 expired, kept while a recording remains)" in (
        report.summary()
    )

    # Once its recording has gone (T1), the held call goes in the same purge.
    report = purge(config, store, vault, T0 + 391 * DAY)
    assert report.recordings_deleted == 1 and report.calls_deleted == 1
    assert count(store, "calls", held) == 0
    assert store.verify_access_log(config.audit.checkpoint_key).ok


def test_t5_call_metadata_days_is_configurable_and_capped(tmp_path: Path) -> None:
    """T5: privacy.call_metadata_days shortens the clock; above 365 is refused, naming
    the key."""
    data = site_config(tmp_path)
    data["privacy"]["call_metadata_days"] = 90
    config = load_site(write_site(tmp_path, data))
    assert config.privacy.call_metadata_days == 90
    store, vault = open_site(config)
    try:
        call_id = call_with_metadata(store, config, T0)
        assert purge(config, store, vault, T0 + 89 * DAY).calls_deleted == 0
        assert purge(config, store, vault, T0 + 91 * DAY).calls_deleted == 1
        assert count(store, "calls", call_id) == 0
    finally:
        store.close()
    data["privacy"]["call_metadata_days"] = 400
    with pytest.raises(ConfigError, match=r"privacy\.call_metadata_days: must be <= 365"):
        load_config(write_site(tmp_path, data), environ=ENV)


def test_t5_objection_is_kept_exactly_objection_memory_days(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """C4, T5: an objection used to stay in the store after it lapsed; now it is purged
    exactly ``objection_memory_days`` after its last renewal, with a receipt, and a
    lowered setting applies to objections already kept."""
    config, store, vault = site
    store.remember_objection("a" * 64, T0, config.privacy.objection_memory_days)
    store.remember_objection("b" * 64, T0 + 100 * DAY, config.privacy.objection_memory_days)
    assert (
        purge(config, store, vault, T0 + 365 * DAY - dt.timedelta(seconds=1)).objections_deleted
        == 0
    )
    assert store.has_objection("a" * 64, T0 + 364 * DAY)
    report = purge(config, store, vault, T0 + 365 * DAY)
    assert report.objections_deleted == 1
    remaining = [r["caller_hash"] for r in store.db.query("SELECT caller_hash FROM objections")]
    assert remaining == ["b" * 64]
    entry = [e for e in store.access_entries() if e.action == "objection_delete"][-1]
    assert entry.details == {
        "rule": "C4: privacy.objection_memory_days = 365",
        "objections": 1,
    }
    shorter = dataclasses.replace(
        config, privacy=dataclasses.replace(config.privacy, objection_memory_days=30)
    )
    assert purge(shorter, store, vault, T0 + 131 * DAY).objections_deleted == 1


def test_t5_register_and_caller_notice_state_the_call_metadata_clock(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """T5, D1: the Art. 30 register and the caller notice state how long call metadata
    and objections are kept."""
    config, *_ = site
    text = to_markdown(build_register(config))
    assert "Métadonnées des appels" in text and "durée à fixer" not in text
    notice = to_markdown(build_caller_notice(config))
    assert "Données de l'appel" in notice and "365 jours" in notice


def private_days(store: SqliteStore) -> list[tuple[str, str, int]]:
    return [(r["agent_id"], r["day"], r["count"]) for r in store.private_call_counts()]


def test_a2_t5_private_call_counts_are_purged_on_the_call_clock_with_a_receipt(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    """A2, T5: the counts of private calls were kept forever. A day's count now goes
    once the whole day (in the site's time zone) is older than
    ``privacy.call_metadata_days``, with a receipt that says how many, never whose; a
    dry run counts without deleting; the log still verifies."""
    config, store, vault = site
    assert config.privacy.call_metadata_days == 365
    store.count_private_call("alice", "2026-01-05")
    store.count_private_call("alice", "2026-01-05")
    store.count_private_call(None, "2026-01-05")
    store.count_private_call("alice", "2026-01-06")
    # 365 days after 2026-01-05 10:00 UTC: that day's last calls are not a year old yet.
    assert purge(config, store, vault, T0 + 365 * DAY).private_counts_deleted == 0
    # 2027-01-05 23:30 UTC is 2027-01-06 00:30 in Paris: all of 2026-01-05 (Paris) is
    # more than 365 days old, nothing of 2026-01-06 is.
    late = dt.datetime(2027, 1, 5, 23, 30, tzinfo=dt.UTC)
    dry = Purger(
        store, vault, RetentionRules.from_config(config), FixedClock(late), None
    ).run(dry_run=True)
    assert dry.private_counts_deleted == 2
    assert "private-call counts (agent-days) to delete: 2" in dry.summary()
    assert len(private_days(store)) == 3

    report = purge(config, store, vault, late)
    assert report.private_counts_deleted == 2
    assert "private-call counts (agent-days) deleted: 2" in report.summary()
    assert private_days(store) == [("alice", "2026-01-06", 1)]
    (receipt,) = [e for e in store.access_entries() if e.action == "private_count_delete"]
    assert receipt.actor == "system" and receipt.target == "private_call_counts:2"
    assert receipt.purpose == "retention: A2, T5: privacy.call_metadata_days = 365"
    assert receipt.details == {
        "rule": "A2, T5: privacy.call_metadata_days = 365",
        "rows": 2,
        "private_calls": 3,
        "before_day": "2026-01-06",
    }
    assert "alice" not in str(receipt.details)
    # Idempotent: nothing more to delete, no second receipt.
    assert purge(config, store, vault, late).private_counts_deleted == 0
    assert len([e for e in store.access_entries() if e.action == "private_count_delete"]) == 1
    assert store.verify_access_log(config.audit.checkpoint_key).ok


def test_a2_t5_a_shorter_call_clock_applies_to_private_call_counts(tmp_path: Path) -> None:
    """A2, T5: ``privacy.call_metadata_days`` sets the counts' clock too."""
    data = site_config(tmp_path)
    data["privacy"]["call_metadata_days"] = 30
    config = load_site(write_site(tmp_path, data))
    store, vault = open_site(config)
    try:
        store.count_private_call("alice", "2026-01-05")
        assert purge(config, store, vault, T0 + 30 * DAY).private_counts_deleted == 0
        assert purge(config, store, vault, T0 + 31 * DAY).private_counts_deleted == 1
        assert private_days(store) == []
    finally:
        store.close()
