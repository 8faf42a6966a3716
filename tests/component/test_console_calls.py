"""The console's calls, call page, sampling report and DPO pages on the daemon's
application (S1, S2, S4, P3): sign in, list, filter, page, view, report, the DPO's pages,
their JSON twins, and the role and scope refusals, each in the access log."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.access.service import AccessService
from controller.clock import SystemClock
from controller.retention.plan import RetentionRules
from controller.retention.purge import Purger
from controller.store.records import Decision
from tests.component.console_rig import Console, console_rig
from tests.site_bulk import bulk_recordings
from tests.sites import add_call, add_recording, open_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NUMBER = "+33612345678"
DIGITS = ("33612345678", "612345678")


def with_documents(data: dict[str, Any]) -> None:
    """What the register and the notices must state (D1, D2)."""
    data["legal"] = {
        **data["legal"],
        "purposes": {
            "quality": {"description": "Qualité du service", "legal_basis": "Intérêt légitime"},
            "mediation": {"description": "Preuve en médiation", "legal_basis": "Intérêt légitime"},
        },
        "transfers": [],
    }


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path, with_documents):
        yield rig


def seed(console: Console) -> dict[str, str]:
    """Two sales calls (one recorded and sampled, one not), one support call."""
    store, vault = open_site(console.config)
    try:
        config = console.config
        recorded, recording = add_recording(
            store, vault, config, service="sales", created_at=T0, number=NUMBER
        )
        plain = add_call(store, config, service="sales", started_at=T0 + dt.timedelta(hours=1))
        support = add_call(store, config, service="support", started_at=T0)
        for call_id, record, draw in ((recorded, True, 0.1), (plain, False, 0.9)):
            reason = "sampled" if record else "not_sampled"
            store.record_decision(
                Decision(call_id, T0, record, reason, 0.5, draw, True, "office", "alice")
            )
    finally:
        store.close()
    return {"recorded": recorded, "recording": recording, "plain": plain, "support": support}


def last_entry(console: Console) -> tuple[str, str, str, str]:
    entry = console.access_log()[-1]
    return entry.actor, entry.action, entry.target, entry.result


def log_of(console: Console) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.result) for e in console.access_log()]


async def test_s1_s4_calls_page_lists_the_persons_calls_without_numbers(console: Console) -> None:
    """S1, S4: a sales supervisor's /calls shows the sales calls, each linking to its
    page, none of the support ones, and no caller digits; the listing is logged."""
    calls = seed(console)
    await console.sign_in("mleroy")
    response = await console.client.get("/calls")
    assert response.status == 200
    html = await response.text()
    for shown in (calls["recorded"], calls["plain"]):
        assert f'href="/calls/{shown}"' in html
    assert calls["support"] not in html
    assert not any(digits in html for digits in DIGITS)
    assert last_entry(console) == ("mleroy", "list", "calls", "ok")


async def test_s1_calls_filters_and_a_bad_filter_names_its_field(console: Console) -> None:
    calls = seed(console)
    await console.sign_in("mleroy")
    html = await (await console.client.get("/calls?recorded=yes")).text()
    assert calls["recorded"] in html and calls["plain"] not in html
    html = await (await console.client.get("/calls?reason=not_sampled")).text()
    assert calls["plain"] in html and calls["recorded"] not in html
    bad = await console.client.get("/calls?from=yesterday")
    assert bad.status == 400
    assert 'data-error-id="bad-filter"' in await bad.text()
    assert "from: a date as YYYY-MM-DD" in await bad.text()
    api = await console.client.get("/api/calls?recorded=maybe")
    assert api.status == 400
    assert (await api.json())["error_id"] == "bad-filter"


async def test_s1_api_calls_pages_with_a_cursor_and_takes_a_token(console: Console) -> None:
    """S1: the JSON twin pages with ``next``; a script signs with its person's token."""
    seed(console)
    headers = {
        "Authorization": f"Bearer {console.token('cdubois')}",
        "X-Reccontrol-Person": "cdubois",
    }
    seen: list[str] = []
    url = "/api/calls?size=2"
    while True:
        response = await console.client.get(url, headers=headers)
        assert response.status == 200
        body = await response.json()
        assert set(body) == {"calls", "total", "total_capped", "next"} and body["total"] == 3
        seen += [c["id"] for c in body["calls"]]
        if body["next"] is None:
            break
        url = f"/api/calls?size=2&after={body['next']}"
    assert len(seen) == len(set(seen)) == 3
    row = body["calls"][0]
    assert set(row) == {
        "id", "service", "direction", "started_at", "duration_seconds", "agent", "decision",
        "recordings", "pauses", "payment", "caller",
    }  # fmt: skip


async def test_s1_call_page_shows_the_decision_and_hides_out_of_scope_calls_as_404(
    console: Console,
) -> None:
    """S1, P3: the call page shows the decision with its inputs and the recording's
    deadline; a call of another service is 404 not-found exactly like an unknown one,
    page and API, each refusal logged."""
    calls = seed(console)
    await console.sign_in("mleroy")
    page = await console.client.get(f"/calls/{calls['recorded']}")
    assert page.status == 200
    html = await page.text()
    assert "sampled" in html and "0.5" in html and calls["recording"] in html
    assert not any(digits in html for digits in DIGITS)
    assert last_entry(console) == ("mleroy", "view", f"call:{calls['recorded']}", "ok")

    answers = []
    for call_id in (calls["support"], "00000000deadbeef"):
        page = await console.client.get(f"/calls/{call_id}")
        api = await console.client.get(f"/api/calls/{call_id}")
        answers.append((page.status, api.status, await api.json()))
        assert 'data-error-id="not-found"' in await page.text()
        assert last_entry(console) == ("mleroy", "view", f"call:{call_id}", "refused")
    assert answers[0] == answers[1]
    assert answers[0][:2] == (404, 404)
    assert answers[0][2] == {"error_id": "not-found", "message": "no such call"}

    view = await (await console.client.get(f"/api/calls/{calls['recorded']}")).json()
    assert view["decision"]["draw"] == 0.1 and view["recordings"][0]["id"] == calls["recording"]


async def test_s1_admin_may_not_list_calls_and_is_logged(console: Console) -> None:
    seed(console)
    await console.sign_in("tadmin")
    page = await console.client.get("/calls")
    assert page.status == 403
    assert 'data-error-id="forbidden"' in await page.text()
    api = await console.client.get("/api/calls")
    assert api.status == 403 and (await api.json())["error_id"] == "forbidden"
    assert log_of(console)[-2:] == [("tadmin", "list", "calls", "refused")] * 2


async def test_p3_report_page_draws_the_chart_beside_the_counts(console: Console) -> None:
    """P3: /report has the inline SVG chart and the counts per day; the JSON twin gives
    the same numbers; a bad range is 400 naming the field; each read is logged."""
    seed(console)
    await console.sign_in("snguyen")
    page = await console.client.get("/report?from=2026-03-01&to=2026-03-03")
    assert page.status == 200
    html = await page.text()
    assert "<svg" in html and 'class="rate-chart"' in html and "<script" not in html
    assert 'data-service="sales"' in html and 'data-service="support"' not in html
    assert 'data-day="2026-03-02"' in html
    assert last_entry(console) == ("snguyen", "report", "sampling", "ok")
    api = await console.client.get("/api/report?from=2026-03-01&to=2026-03-03")
    body = await api.json()
    [sales] = body["services"]
    day = next(d for d in sales["days"] if d["day"] == "2026-03-02")
    assert (day["eligible"], day["recorded"], day["achieved_rate"]) == (2, 1, 0.5)
    assert sales["totals"] == {"calls": 2, "eligible": 2, "recorded": 1, "achieved_rate": 0.5}
    bad = await console.client.get("/api/report?from=2026-03-05&to=2026-03-01")
    assert bad.status == 400 and (await bad.json())["message"].startswith("to: ")


async def test_s2_dpo_pages_show_the_log_receipts_holds_and_documents(console: Console) -> None:
    """S2, S3: the DPO reads the access log (filtered, paged), the deletion receipts,
    the legal holds and the register; each read is logged."""
    calls = seed(console)
    await console.sign_in("mleroy")
    await console.client.get("/calls")
    await console.sign_in("cdubois")
    for path in ("/dpo", "/dpo/receipts", "/dpo/holds", "/dpo/documents/register?lang=en"):
        response = await console.client.get(path)
        assert response.status == 200, path
    log = await console.client.get("/dpo/access-log?actor=mleroy&action=list")
    html = await log.text()
    assert log.status == 200 and "mleroy" in html and ">list<" in html
    assert ">sign_in<" not in html
    assert last_entry(console) == ("cdubois", "audit_read", "access_log", "ok")
    first = await (await console.client.get("/dpo/access-log?size=1")).text()
    assert 'rel="next"' in first and "before=" in first
    for name in ("register", "notice-callers", "notice-agents"):
        document = await (await console.client.get(f"/dpo/documents/{name}?lang=en")).text()
        assert "ACME Test" in document and "Qualité du service" in document
        assert calls["recorded"] not in document


def purge_a_thousand(console: Console) -> list[str]:
    """A thousand expired recordings purged in one batch: one receipt names them all."""
    store, vault = open_site(console.config)
    try:
        config = console.config
        newest = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
        bulk_recordings(store, vault, config, count=1000, newest=newest)
        ids = [str(r["id"]) for r in store.db.query("SELECT id FROM recordings ORDER BY id")]
        rules = RetentionRules.from_config(config)
        purger = Purger(
            store, vault, rules, SystemClock(), config.audit.checkpoint_key, batch_size=1000
        )
        assert purger.run().recordings_deleted == 1000
        return ids
    finally:
        store.close()


async def test_t4_s2_a_receipt_of_a_thousand_recordings_reads_and_each_is_found(
    console: Console,
) -> None:
    """T4, S2: the purge's receipt of a batch of a thousand recordings reads on the
    receipts page as one line (how many, what became of the files and keys, the rule)
    linking to its table of recordings; the receipt of one recording is found by its id,
    its row marked. Each read is logged."""
    ids = purge_a_thousand(console)
    await console.sign_in("cdubois")
    listing = await (await console.client.get("/dpo/receipts")).text()
    assert 'data-recordings="1000"' in listing and "deleted 1000" in listing
    (receipt,) = [e for e in console.access_log() if e.action == "delete"]
    keys = sum(row[8] is True for row in receipt.details["recordings"])
    assert f'data-keys-destroyed="{keys}"' in listing and ids[0] not in listing
    assert f"/dpo/receipts?seq={receipt.seq}" in listing
    table = await (await console.client.get(f"/dpo/receipts?seq={receipt.seq}")).text()
    assert table.count("<tr data-recording=") == 1000 and all(i in table for i in ids)
    found = await (await console.client.get(f"/dpo/receipts?recording={ids[500]}")).text()
    assert f'<tr data-recording="{ids[500]}" class="found">' in found
    assert last_entry(console) == ("cdubois", "audit_read", "receipts", "ok")
    unknown = await (await console.client.get("/dpo/receipts?recording=no-such")).text()
    assert 'data-recordings="' not in unknown


async def test_d1_a_document_the_config_cannot_produce_names_the_missing_key(
    tmp_path: Path,
) -> None:
    """D1: what the register still lacks is named by its key path, not shown half-empty."""
    async for console in console_rig(tmp_path):
        await console.sign_in("cdubois")
        register = await (await console.client.get("/dpo/documents/register?lang=en")).text()
        assert 'data-error-id="document-incomplete"' in register
        assert "legal.purposes.quality" in register
        missing = await console.client.get("/dpo/documents/secrets")
        assert missing.status == 404


async def test_s2_dpo_pages_are_forbidden_to_the_other_roles_and_logged(
    console: Console,
) -> None:
    await console.sign_in("mleroy")
    for path in ("/dpo", "/dpo/access-log", "/dpo/receipts", "/dpo/holds"):
        response = await console.client.get(path)
        assert response.status == 403, path
        assert 'data-error-id="forbidden"' in await response.text()
    assert log_of(console)[-3:] == [
        ("mleroy", "audit_read", "access_log", "refused"),
        ("mleroy", "audit_read", "receipts", "refused"),
        ("mleroy", "hold_list", "holds", "refused"),
    ]


async def test_t6_a_legal_hold_shows_on_the_holds_page_and_the_call_page(
    console: Console,
) -> None:
    """T6: a hold the DPO placed is listed on /dpo/holds (logged as hold_list) and shown
    on the call's page with its review date."""
    calls = seed(console)
    store, vault = open_site(console.config)
    try:
        door = AccessService(console.config, store, vault, SystemClock())
        dpo = console.config.access.persons["cdubois"]
        review_by = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        door.hold_place(
            dpo, "mediation dispute", calls["recorded"], "customer dispute", "REF-ABC", review_by
        )
    finally:
        store.close()
    await console.sign_in("cdubois")
    holds = await (await console.client.get("/dpo/holds")).text()
    assert "REF-ABC" in holds and f'href="/calls/{calls["recorded"]}"' in holds
    assert last_entry(console) == ("cdubois", "hold_list", "holds", "ok")
    view = await (await console.client.get(f"/api/calls/{calls['recorded']}")).json()
    assert view["hold"]["reference"] == "REF-ABC"
    assert "REF-ABC" in await (await console.client.get(f"/calls/{calls['recorded']}")).text()


async def test_the_pages_speak_french_and_english(console: Console) -> None:
    """The calls page and the report in the browser's language, French or English."""
    seed(console)
    await console.sign_in("mleroy")
    for lang, words in (
        ("fr", ("Appels", "Motif de la décision")),
        ("en", ("Calls", "Decision reason")),
    ):
        response = await console.client.get("/calls", headers={"Accept-Language": lang})
        html = await response.text()
        assert f'<html lang="{lang}">' in html and all(w in html for w in words)
        report = await console.client.get(
            "/report?from=2026-03-01&to=2026-03-03", headers={"Accept-Language": lang}
        )
        assert ("Taux" if lang == "fr" else "rate") in await report.text()
