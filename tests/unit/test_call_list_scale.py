"""The console's call list on a large store (S1, S2, R3): one agent's calls, or a
person's services, read by walking the calls newest first when there are many, gathered
from their indexes when few: the same pages either way. Speed is measured by the bench
(``python -m bench --chores``), not here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chores import console_filters, list_figure, size_label
from controller.config import Config
from controller.store import SqliteStore, call_views
from controller.store.call_views import NO_PAYMENT, CallFilters, Cursor
from controller.store.records import CallStart, Decision
from tests.site_bulk import bulk_calls
from tests.sites import load_site, open_site, write_site

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore]]:
    config = load_site(write_site(tmp_path))
    store, _ = open_site(config)
    bulk_calls(store, config, count=400, newest=NOW)
    yield config, store
    store.close()


def every_page(
    store: SqliteStore, filters: CallFilters, size: int, scope: list[str] | None = None
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: Cursor | None = None
    while True:
        listing = store.call_listing(scope, filters, cursor, size)
        pages.append([row["id"] for row in listing.rows])
        cursor = listing.next
        if cursor is None:
            return pages


def test_s1_r3_one_agents_calls_are_the_same_pages_walked_or_gathered(
    site: tuple[Config, SqliteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """S1, R3: the agent who answered, the one a decision named, the one a later segment
    of a transferred call named: an agent with more calls than the count goes to gets
    the same pages, in the same order, as one with fewer."""
    _, store = site
    ids = [row[0] for row in store.db.execute("SELECT id FROM calls WHERE agent_id = 'agent05'")]
    decided, transferred = ids[3], ids[7]
    store.db.execute("UPDATE decisions SET agent_id = 'agent03' WHERE call_id = ?", [decided])
    store.db.execute(
        "INSERT INTO segment_decisions (call_id, segment, decided_at, record, reason, rate, "
        "draw, in_window, window, agent_id) VALUES (?, 2, ?, 1, 'sampled', 0.5, 0.1, 1, '-', "
        "'agent03')",
        [transferred, NOW.isoformat()],
    )
    agent = CallFilters(agent="agent03")
    gathered = every_page(store, agent, 7)
    expected = {
        row[0]
        for row in store.db.execute(
            "SELECT id FROM calls WHERE agent_id = 'agent03'"
        ).fetchall()
    } | {decided, transferred}
    assert sorted(i for page in gathered for i in page) == sorted(expected)
    monkeypatch.setattr(call_views, "TOTAL_CAP", 5)
    walked = every_page(store, agent, 7)
    assert walked == gathered and len(walked) > 3
    capped = store.call_listing(None, agent, None, 7)
    assert (capped.total, capped.total_capped) == (5, True)
    # With another filter beside it, both ways still agree.
    for filters in (
        CallFilters(agent="agent03", service="sales"),
        CallFilters(agent="agent03", start=NOW - dt.timedelta(days=10), end=NOW),
    ):
        walked_too = every_page(store, filters, 4)
        monkeypatch.setattr(call_views, "TOTAL_CAP", 10_000)
        assert every_page(store, filters, 4) == walked_too
        monkeypatch.setattr(call_views, "TOTAL_CAP", 5)


def test_s1_the_bench_times_every_filter_the_console_offers() -> None:
    """S1: a figure per console filter, named by the calls measured."""
    filters = console_filters(["sales", "support"], NOW)
    names = [list_figure(name, size_label(10_000_000)) for name in filters]
    assert names[0] == "call_list_10m_ms" and "call_list_agent_10m_ms" in names
    assert len(set(names)) == len(names) == 11
    used = {field for _, f in filters.values() for field, v in vars(f).items() if v is not None}
    assert used == {"service", "start", "end", "agent", "reason", "recorded", "paused", "payment"}
    assert filters["scope"][0] == ["sales", "support"]


def test_s2_a_persons_services_are_the_same_pages_walked_or_gathered(
    site: tuple[Config, SqliteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """S2: a person's scope of services, with many calls to show or few: the same pages,
    and only the calls of those services."""
    config, store = site
    services = sorted(config.services)
    for scope in (services, services[:1]):
        gathered = every_page(store, CallFilters(), 30, scope)
        monkeypatch.setattr(call_views, "TOTAL_CAP", 5)
        assert every_page(store, CallFilters(), 30, scope) == gathered
        monkeypatch.setattr(call_views, "TOTAL_CAP", 10_000)
        listed = [i for page in gathered for i in page]
        marks = ", ".join("?" for _ in scope)
        expected = store.db.execute(
            f"SELECT COUNT(*) FROM calls WHERE service IN ({marks})", scope  # noqa: S608
        ).fetchone()[0]
        assert len(listed) == len(set(listed)) == expected > 0


def test_s1_calls_with_a_recording_a_pause_or_a_payment_are_the_same_pages_either_way(
    site: tuple[Config, SqliteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """S1: calls with a stored recording, a pause or an approved payment, gathered from
    those rows when few, tested call by call when many: the same pages, and exactly the
    calls that have one."""
    _, store = site
    ids = [row[0] for row in store.db.execute("SELECT id FROM calls ORDER BY rowid")]
    at = NOW.isoformat()
    for n, call_id in enumerate(ids[5:200:9]):
        store.db.execute(
            "INSERT INTO recordings (id, call_id, name, format, purposes, state, created_at, "
            "expires_at) VALUES (?, ?, ?, 'wav', '[]', ?, ?, ?)",
            [f"r{n}", call_id, f"n{n}", "stored" if n % 4 else "deleted", at, at],
        )
        if n % 3 == 0:
            store.db.execute(
                "INSERT INTO pauses (id, recording_id, call_id, paused_by, reason, started_at) "
                "VALUES (?, ?, ?, 'agent', 'card', ?)",
                [f"p{n}", f"r{n}", call_id, at],
            )
        store.db.execute(
            "INSERT INTO payments (id, call_id, started_at, ended_at, amount, currency, "
            "order_reference, status, provider_reference, attempts, detail) "
            "VALUES (?, ?, ?, ?, '1.00', 'EUR', 'o', ?, 'x', 1, '')",
            [f"y{n}", call_id, at, at, "approved" if n % 2 else "declined"],
        )
    cases = {
        CallFilters(recorded=True): "SELECT call_id FROM recordings WHERE state = 'stored'",
        CallFilters(paused=True): "SELECT call_id FROM pauses",
        CallFilters(payment="approved"): "SELECT call_id FROM payments WHERE status = 'approved'",
    }
    for filters, having in cases.items():
        gathered = every_page(store, filters, 3)
        expected = {row[0] for row in store.db.execute(having)}
        assert sorted(i for page in gathered for i in page) == sorted(expected)
        monkeypatch.setattr(call_views, "TOTAL_CAP", 2)
        assert every_page(store, filters, 3) == gathered
        monkeypatch.setattr(call_views, "TOTAL_CAP", 10_000)


def test_n1_s1_the_listing_reads_the_same_on_both_backends(
    fresh_db: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N1, S1: on SQLite and PostgreSQL, walked or gathered, one agent's calls, two
    services' and those without a payment are the same pages."""
    store = fresh_db
    for n in range(30):
        call_id = f"call{n:03d}"
        at = NOW - dt.timedelta(minutes=n)
        service = ("sales", "support", "billing")[n % 3]
        store.begin_call(CallStart(call_id, service, "inbound", at, None), "v1")
        agent = f"agent{n % 4:02d}"
        store.end_call(call_id, at + dt.timedelta(minutes=3), "completed", agent, True)
        store.record_decision(Decision(call_id, at, True, "sampled", 0.5, 0.1, True, "-", agent))
    cases: list[tuple[list[str] | None, CallFilters]] = [
        (None, CallFilters(agent="agent01")),
        (["sales", "support"], CallFilters()),
        (None, CallFilters(payment=NO_PAYMENT, service="sales")),
        (None, CallFilters(paused=True)),
    ]
    for scope, filters in cases:
        gathered = every_page(store, filters, 4, scope)
        monkeypatch.setattr(call_views, "TOTAL_CAP", 2)
        assert every_page(store, filters, 4, scope) == gathered
        monkeypatch.setattr(call_views, "TOTAL_CAP", 10_000)
    assert [len(p) for p in every_page(store, CallFilters(agent="agent01"), 4)] == [4, 4]
    listed = every_page(store, CallFilters(), 50, ["sales", "support"])
    assert len(listed[0]) == 20 and listed[0] == sorted(listed[0])
