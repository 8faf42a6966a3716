"""The data behind the console's pages, through the audited door (S1, S2, S4, P3): the
listing of calls, a call's page, the sampling report, and the DPO's access log and
deletion receipts, on a real store. Scope, roles, no caller number anywhere, and one
access-log entry per answer and per refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.call_filters import (
    FilterError,
    PageRequest,
    call_filters,
    log_filters,
    read_cursor,
    report_range,
)
from controller.access.service import AccessRefused, AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.config.model import Person
from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.store.call_views import CallFilters, LogFilters
from controller.store.records import ConsentEvent, Decision, PaymentRecord
from tests.sites import add_call, add_recording, load_site, open_site, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NUMBER = "+33612345678"
DIGITS = ("33612345678", "612345678", "0612345678")
PURPOSE = "weekly quality review"

Site = tuple[Config, SqliteStore, LocalVault]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def door(site: Site) -> AccessService:
    config, store, vault = site
    return AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=2)))


def person(site: Site, pid: str) -> Person:
    return site[0].access.persons[pid]


def decide(
    store: SqliteStore,
    call_id: str,
    *,
    record: bool,
    reason: str = "sampled",
    draw: float | None = 0.2,
    rate: float = 0.5,
) -> None:
    store.record_decision(
        Decision(call_id, T0, record, reason, rate, draw, True, "mon-fri 09:00-17:00", "alice")
    )


def entries(store: SqliteStore) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.result) for e in store.access_entries()]


def test_s1_s2_listing_keeps_to_the_persons_services_and_is_logged(site: Site) -> None:
    """S1, S2: a supervisor of sales lists only sales calls; the DPO (every service)
    lists both; each listing is one access-log entry naming its filters."""
    config, store, _ = site
    sales = add_call(store, config, service="sales", started_at=T0)
    support = add_call(store, config, service="support", started_at=T0)
    access = door(site)

    page = access.calls_list(person(site, "mleroy"), PURPOSE, CallFilters(), PageRequest())
    assert [c["id"] for c in page.calls] == [sales] and page.total == 1
    everything = access.calls_list(person(site, "cdubois"), PURPOSE, CallFilters(), PageRequest())
    assert {c["id"] for c in everything.calls} == {sales, support}

    logged = list(store.access_entries())[-2:]
    assert [(e.actor, e.action, e.target, e.result) for e in logged] == [
        ("mleroy", "list", "calls", "ok"),
        ("cdubois", "list", "calls", "ok"),
    ]
    assert logged[0].details["rows"] == 1 and logged[0].purpose == PURPOSE


def test_s1_filter_on_a_service_outside_scope_is_refused_and_logged(site: Site) -> None:
    """S1: asking for another service's calls is a refusal, in the log."""
    access = door(site)
    with pytest.raises(AccessRefused, match="outside"):
        access.calls_list(
            person(site, "mleroy"), PURPOSE, CallFilters(service="support"), PageRequest()
        )
    assert entries(site[1])[-1] == ("mleroy", "list", "calls", "refused")


def test_s1_admin_may_not_list_view_or_report(site: Site) -> None:
    """S1: the admin runs the system, not the calls: listing, a call's page and the
    report are refused and logged."""
    config, store, _ = site
    call_id = add_call(store, config, service="sales", started_at=T0)
    access = door(site)
    who = person(site, "tadmin")
    with pytest.raises(AccessRefused):
        access.calls_list(who, PURPOSE, CallFilters(), PageRequest())
    with pytest.raises(AccessRefused):
        access.call_view(who, PURPOSE, call_id)
    with pytest.raises(AccessRefused):
        access.sampling_report(who, PURPOSE, T0.date(), T0.date())
    assert [e[1:] for e in entries(store)[-3:]] == [
        ("list", "calls", "refused"),
        ("view", f"call:{call_id}", "refused"),
        ("report", "sampling", "refused"),
    ]


def test_s2_listing_needs_a_purpose(site: Site) -> None:
    """S2: no stated purpose, no listing; the refusal is logged."""
    with pytest.raises(AccessRefused, match="purpose"):
        door(site).calls_list(person(site, "mleroy"), "", CallFilters(), PageRequest())
    assert entries(site[1])[-1] == ("mleroy", "list", "calls", "refused")


def test_s4_no_caller_number_anywhere_in_a_listing_or_a_call_page(site: Site) -> None:
    """S4 (and C4: only the HMAC is kept): the serialised listing and call page hold none
    of the caller's digits, only the HMAC's short form, the same for two calls of one
    caller."""
    config, store, vault = site
    first, recording = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER
    )
    second = add_call(store, config, service="sales", started_at=T0 + dt.timedelta(hours=1))
    decide(store, first, record=True)
    access = door(site)
    page = access.calls_list(person(site, "mleroy"), PURPOSE, CallFilters(), PageRequest())
    view = access.call_view(person(site, "mleroy"), PURPOSE, first)
    text = json.dumps(page.to_json()) + json.dumps(view)
    for digits in DIGITS:
        assert digits not in text
    log_text = json.dumps([dataclasses.asdict(e) for e in store.access_entries()])
    for digits in DIGITS:
        assert digits not in log_text
    tags = {c["id"]: c["caller"] for c in page.calls}
    assert tags[first] == tags[second] == view["caller"]
    assert tags[first] is not None and len(tags[first]) == 10
    assert not tags[first].isdigit()
    assert {c["id"]: c["recordings"] for c in page.calls}[first] == [recording]


def test_listing_filters_each_narrow_the_calls(site: Site) -> None:
    """S1, P3: service, dates, agent, decision reason, recorded, paused and payment
    outcome each narrow the listing."""
    config, store, vault = site
    recorded, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    decide(store, recorded, record=True)
    store.open_pause("p1", recording, recorded, "alice", "card", T0 + dt.timedelta(minutes=1))
    plain = add_call(
        store, config, service="sales", started_at=T0 + dt.timedelta(days=1), agent_id="bob"
    )
    decide(store, plain, record=False, reason="not_sampled", draw=0.9)
    store.record_payment(
        PaymentRecord("pay1", plain, T0, T0, "12.00", "EUR", "o-1", "approved", "r", 1, "ok")
    )
    access = door(site)
    dpo = person(site, "cdubois")

    def ids(filters: CallFilters) -> set[str]:
        page = access.calls_list(dpo, PURPOSE, filters, PageRequest())
        return {c["id"] for c in page.calls}

    assert ids(CallFilters(recorded=True)) == {recorded}
    assert ids(CallFilters(recorded=False)) == {plain}
    assert ids(CallFilters(paused=True)) == {recorded}
    assert ids(CallFilters(paused=False)) == {plain}
    assert ids(CallFilters(reason="not_sampled")) == {plain}
    assert ids(CallFilters(agent="bob")) == {plain}
    assert ids(CallFilters(payment="approved")) == {plain}
    assert ids(CallFilters(payment="none")) == {recorded}
    assert ids(CallFilters(start=T0 + dt.timedelta(hours=12))) == {plain}
    assert ids(CallFilters(end=T0 + dt.timedelta(hours=12))) == {recorded}
    assert ids(CallFilters(service="support")) == set()
    row = next(
        c
        for c in access.calls_list(dpo, PURPOSE, CallFilters(), PageRequest()).calls
        if c["id"] == plain
    )
    assert row["decision"] == {"record": False, "reason": "not_sampled"}
    assert row["payment"] == "approved" and row["pauses"] == 0 and row["agent"] == "bob"
    assert row["duration_seconds"] == 180.0


def test_listing_pages_are_stable_and_cover_every_call_once(site: Site) -> None:
    """S1: keyset pages in a stable order (newest first, then id): calls with the same
    start are neither repeated nor skipped, and a call added meanwhile does not shift
    the pages already read."""
    config, store, _ = site
    made = {add_call(store, config, service="sales", started_at=T0) for _ in range(5)}
    made |= {
        add_call(store, config, service="sales", started_at=T0 + dt.timedelta(minutes=n))
        for n in range(1, 4)
    }
    access = door(site)
    sup = person(site, "mleroy")
    seen: list[str] = []
    page = access.calls_list(sup, PURPOSE, CallFilters(), PageRequest(size=3))
    totals = {page.total}
    seen += [c["id"] for c in page.calls]
    add_call(store, config, service="sales", started_at=T0 + dt.timedelta(hours=5))
    while page.next is not None:
        after = PageRequest(read_cursor(page.next), 3)
        page = access.calls_list(sup, PURPOSE, CallFilters(), after)
        seen += [c["id"] for c in page.calls]
        totals.add(page.total)
    assert len(seen) == len(set(seen)) == 8 and set(seen) == made
    assert totals == {8, 9}
    starts = [store.call_summary(i)["started_at"] for i in seen]  # type: ignore[index]
    assert starts == sorted(starts, reverse=True)


def test_s1_call_view_answers_alike_for_unknown_and_out_of_scope_calls(site: Site) -> None:
    """S1: a call outside the person's services gets exactly the refusal of a call that
    does not exist (not-found), so its existence is not told; both are logged."""
    config, store, _ = site
    support = add_call(store, config, service="support", started_at=T0)
    access = door(site)
    sup = person(site, "mleroy")
    refusals = []
    for call_id in (support, "0123abcd0123abcd"):
        with pytest.raises(AccessRefused) as caught:
            access.call_view(sup, PURPOSE, call_id)
        refusals.append((caught.value.error_id, caught.value.reason))
    assert refusals[0] == refusals[1] == ("not-found", "no such call")
    assert entries(store)[-2:] == [
        ("mleroy", "view", f"call:{support}", "refused"),
        ("mleroy", "view", "call:0123abcd0123abcd", "refused"),
    ]


def test_p3_call_view_gives_the_decision_inputs_pauses_payment_and_deadlines(
    site: Site,
) -> None:
    """P3, S2: the call's page has the decision with its inputs, the consent events, the
    pauses with who and why, the payment outcome, each recording's deadline, the
    metadata's and the sheets'; the view is logged."""
    config, store, vault = site
    call_id, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    decide(store, call_id, record=True, draw=0.123)
    store.add_consent_event(
        ConsentEvent(call_id, T0, "full_notice", "0", "v1", "announcement")
    )
    store.open_pause("p1", recording, call_id, "alice", "card", T0 + dt.timedelta(minutes=1))
    store.close_pause("p1", "mleroy", T0 + dt.timedelta(minutes=2))
    store.record_payment(
        PaymentRecord("pay1", call_id, T0, T0, "9.99", "EUR", "o-1", "declined", "r", 2, "no")
    )
    access = door(site)
    sheet = access.sheet_create(
        person(site, "mleroy"), PURPOSE, call_id, {"greeting": 4, "answer": 8}, {}, "fine"
    )
    view = access.call_view(person(site, "snguyen"), PURPOSE, call_id)
    assert view["decision"]["rate"] == 0.5 and view["decision"]["draw"] == 0.123
    assert view["decision"]["reason"] == "sampled" and view["decision"]["in_window"] is True
    assert view["decision"]["window"] == "mon-fri 09:00-17:00"
    assert [e["kind"] for e in view["consent_events"]] == ["full_notice"]
    assert view["pauses"][0]["paused_by"] == "alice"
    assert view["pauses"][0]["resumed_by"] == "mleroy" and view["pauses"][0]["reason"] == "card"
    [payment] = view["payments"]
    assert payment["status"] == "declined" and payment["attempts"] == 2
    assert set(payment) == {"started_at", "ended_at", "status", "attempts"}
    [rec] = view["recordings"]
    assert rec["id"] == recording and rec["listenable"] and rec["format"] == "wav"
    assert rec["expires_at"].startswith((T0 + dt.timedelta(days=90)).date().isoformat())
    assert rec["retention_rule"] == "T1: services.sales.retention_days = 90"
    assert view["sheets"][0]["id"] == sheet.id
    assert view["sheets"][0]["expires_at"] == sheet.expires_at.isoformat(timespec="milliseconds")
    metadata_days = config.privacy.call_metadata_days
    assert view["metadata_expires_at"].startswith(
        (T0 + dt.timedelta(days=metadata_days)).date().isoformat()
    )
    assert entries(store)[-1] == ("snguyen", "view", f"call:{call_id}", "ok")


def test_t1_a_call_page_shows_the_deadline_the_purge_applies(site: Site) -> None:
    """T1: a service's retention lowered after the recording was made shortens its
    deadline, and the call's page says so, naming the rule, as the purge does."""
    config, store, vault = site
    call_id, _ = add_recording(store, vault, config, service="sales", created_at=T0)
    shorter = dataclasses.replace(config.services["sales"], retention_days=10)
    lowered = dataclasses.replace(config, services={**config.services, "sales": shorter})
    view = AccessService(lowered, store, vault, FixedClock(T0)).call_view(
        person(site, "mleroy"), PURPOSE, call_id
    )
    [rec] = view["recordings"]
    assert rec["expires_at"].startswith((T0 + dt.timedelta(days=10)).date().isoformat())
    assert rec["retention_rule"] == "T1: services.sales.retention_days = 10"


def test_p3_sampling_report_counts_per_service_and_site_day(site: Site) -> None:
    """P3: per service the person sees and per day of the site's time zone: the rate the
    draws were made at, the calls decided, the eligible, the recorded and the achieved
    rate; days without calls show the configured rate and no achieved rate; logged."""
    config, store, _ = site
    # 23:30 UTC on 2 March is 00:30 on 3 March in Paris: counted on the 3rd.
    late = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
    for n, (record, draw) in enumerate([(True, 0.1), (False, 0.8), (False, 0.9), (True, 0.3)]):
        call_id = add_call(store, config, service="sales", started_at=T0 + dt.timedelta(minutes=n))
        decide(store, call_id, record=record, draw=draw)
    objected = add_call(store, config, service="sales", started_at=T0)
    decide(store, objected, record=False, reason="caller_objected", draw=None)
    next_day = add_call(store, config, service="sales", started_at=late)
    decide(store, next_day, record=True, draw=0.2)
    support = add_call(store, config, service="support", started_at=T0)
    decide(store, support, record=True, draw=0.1)

    report = door(site).sampling_report(
        person(site, "mleroy"), PURPOSE, dt.date(2026, 3, 2), dt.date(2026, 3, 4)
    )
    assert [s["service"] for s in report] == ["sales"]
    days = {d["day"]: d for d in report[0]["days"]}
    assert days["2026-03-02"] == {
        "day": "2026-03-02",
        "configured_rate": 0.5,
        "calls": 5,
        "eligible": 4,
        "recorded": 2,
        "achieved_rate": 0.5,
    }
    assert days["2026-03-03"]["recorded"] == 1 and days["2026-03-03"]["achieved_rate"] == 1.0
    assert days["2026-03-04"]["calls"] == 0 and days["2026-03-04"]["achieved_rate"] is None
    assert days["2026-03-04"]["configured_rate"] == config.services["sales"].sampling_rate
    assert entries(store)[-1] == ("mleroy", "report", "sampling", "ok")


def test_p3_a_report_range_that_ends_before_it_starts_is_refused_and_logged(
    site: Site,
) -> None:
    """P3, S2: a bad range is a refusal naming the field, in the log."""
    with pytest.raises(AccessRefused, match=r"^to: ") as caught:
        door(site).sampling_report(
            person(site, "mleroy"), PURPOSE, dt.date(2026, 3, 5), dt.date(2026, 3, 1)
        )
    assert caught.value.error_id == "bad-filter"
    assert entries(site[1])[-1] == ("mleroy", "report", "sampling", "refused")


def test_s2_access_log_page_is_the_dpos_newest_first_filtered_and_logged(site: Site) -> None:
    """S2, S3: the DPO reads the log newest first, filtered by actor, action, target
    prefix and result, paged; reading it is logged; anyone else is refused (logged)."""
    config, store, vault = site
    _, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    access = door(site)
    access.listen(person(site, "mleroy"), PURPOSE, recording)
    with pytest.raises(AccessRefused):
        access.listen(person(site, "rlambert"), PURPOSE, recording)
    dpo = person(site, "cdubois")

    page = access.access_log_page(dpo, PURPOSE, LogFilters(action="listen"), None, 10)
    assert [(e["actor"], e["result"]) for e in page.entries] == [
        ("rlambert", "refused"),
        ("mleroy", "ok"),
    ]
    refused = access.access_log_page(dpo, PURPOSE, LogFilters(result="refused"), None, 10)
    assert [e["actor"] for e in refused.entries] == ["rlambert"]
    by_target = access.access_log_page(
        dpo, PURPOSE, LogFilters(target_prefix="recording:"), None, 10
    )
    assert len(by_target.entries) == 2
    first = access.access_log_page(dpo, PURPOSE, LogFilters(), None, 2)
    second = access.access_log_page(dpo, PURPOSE, LogFilters(), first.next, 2)
    assert first.next is not None
    assert [e["seq"] for e in second.entries] == [first.entries[-1]["seq"] - n for n in (1, 2)]
    assert entries(store)[-1] == ("cdubois", "audit_read", "access_log", "ok")

    with pytest.raises(AccessRefused):
        access.access_log_page(person(site, "mleroy"), PURPOSE, LogFilters(), None, 10)
    assert entries(store)[-1] == ("mleroy", "audit_read", "access_log", "refused")


def test_s2_purge_receipts_are_the_deletion_entries(site: Site) -> None:
    """S2, T4: the receipts page holds the deletions (a person's here), nothing else."""
    config, store, vault = site
    _, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    access = door(site)
    dpo = person(site, "cdubois")
    access.listen(dpo, PURPOSE, recording)
    receipt = access.delete(dpo, "mediation closed, delete", recording)
    page = access.purge_receipts(dpo, PURPOSE, None, 10)
    assert [e["seq"] for e in page.entries] == [receipt.seq]
    assert entries(store)[-1] == ("cdubois", "audit_read", "receipts", "ok")


# -- reading filters from a form -------------------------------------------------------------
def test_filters_read_from_a_form_name_the_bad_field() -> None:
    """Bad input names the field it came from; dates are the site's days, 'to' included."""
    tz = dt.timezone(dt.timedelta(hours=1))
    filters = call_filters({"from": "2026-03-01", "to": "2026-03-02", "recorded": "yes"}, tz)
    assert filters.start == dt.datetime(2026, 3, 1, tzinfo=tz)
    assert filters.end == dt.datetime(2026, 3, 3, tzinfo=tz)
    assert filters.recorded is True and filters.paused is None
    for query, field in (
        ({"from": "yesterday"}, "from"),
        ({"reason": "because"}, "reason"),
        ({"recorded": "maybe"}, "recorded"),
        ({"agent": "a b"}, "agent"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ):
        with pytest.raises(FilterError, match=rf"^{field}: ") as caught:
            call_filters(query, tz)
        assert caught.value.field == field and caught.value.error_id == "bad-filter"
    with pytest.raises(FilterError, match=r"^after: "):
        read_cursor("not-a-cursor")
    with pytest.raises(FilterError, match=r"^result: "):
        log_filters({"result": "maybe"})
    with pytest.raises(FilterError, match=r"^from: "):
        report_range({"from": "2020-01-01", "to": "2026-01-01"}, dt.date(2026, 1, 1))
    assert report_range({}, dt.date(2026, 3, 31)) == (dt.date(2026, 3, 2), dt.date(2026, 3, 31))
