"""Legal holds (T6): the DPO keeps a call's recordings, metadata and sheets past their
expiry while a dispute runs; the purge, a person's deletion and a data-subject erasure
leave them alone; every step is in the access log. On a real store and vault, through
the CLI and the access service."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.access.service import AccessRefused, AccessService
from controller.cli import cli
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.retention.plan import (
    Finish,
    Held,
    RecordingRow,
    RetentionRules,
    held_recordings,
    plan_recordings,
)
from controller.retention.purge import HOLD_REVIEW_ALERT, Purger
from controller.store import SqliteStore
from controller.store.lifecycle import Condemnation
from controller.store.migrations import MIGRATIONS
from tests.factories import receipted
from tests.sites import ENV, add_call, add_recording, load_site, open_site, write_site

DAY = dt.timedelta(days=1)
NUMBER = "+33 6 12 34 56 78"
DPO = "cdubois"


@pytest.fixture
def site(
    tmp_path: Path, site_store: dict[str, str]
) -> Iterator[tuple[Path, Config, SqliteStore, LocalVault]]:
    """The site on each backend (N1)."""
    path = write_site(tmp_path, store=site_store)
    config = load_site(path)
    store, vault = open_site(config)
    yield path, config, store, vault
    store.close()


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def as_(config: Config, person: str, purpose: str = "mediation request") -> list[str]:
    token = config.source.parent / "access" / f"{person}.token"
    return ["--as", person, "--purpose", purpose, "--token-file", str(token)]


def place_args(config: Config, call_id: str, person: str = DPO, review: str = "") -> list[str]:
    review = review or (dt.date.today() + 30 * DAY).isoformat()
    return [
        "hold", "place", "-c", str(config.source), call_id,
        "--reason", "customer disputes the contract terms",
        "--reference", "mediation MED-A",
        "--review-by", review,
        *as_(config, person),
    ]  # fmt: skip


def entries(store: SqliteStore, action: str) -> list[dict[str, object]]:
    return [
        {"actor": e.actor, "result": e.result, "target": e.target, **e.details}
        for e in store.access_entries()
        if e.action == action
    ]


def path_of(store: SqliteStore, recording_id: str) -> Path:
    row = store.recording(recording_id)
    assert row is not None and row.path is not None
    return Path(row.path)


def purger(config: Config, store: SqliteStore, vault: LocalVault, clock: FixedClock) -> Purger:
    return Purger(
        store,
        vault,
        RetentionRules.from_config(config),
        clock,
        config.audit.checkpoint_key,
        timezone=config.timezone,
    )


def test_t6_migration_10_creates_the_hold_table(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: the store schema has its legal-hold table (migration 10)."""
    _, _, store, _ = site
    assert 10 in {m.version for m in MIGRATIONS}
    assert "legal_holds" in store.db.table_names()


# -- the purge, through the CLI --------------------------------------------------------------
def test_t6_held_expired_recording_survives_the_purge_until_released(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: an expired recording under a hold keeps its file and row through the purge,
    whose output and access log say why; once the DPO releases the hold, the next purge
    deletes it with its receipt."""
    config_path, config, store, vault = site
    now = dt.datetime.now(dt.UTC)
    call_id, held_id = add_recording(
        store, vault, config, service="sales", created_at=now - 95 * DAY
    )
    _, other_id = add_recording(store, vault, config, service="sales", created_at=now - 95 * DAY)
    held_file = path_of(store, held_id)

    placed = run(*place_args(config, call_id))
    assert placed.exit_code == 0, placed.output
    assert f"on call {call_id}: 1 recording(s) kept" in placed.output

    purged = run("purge", "-c", config_path)
    assert purged.exit_code == 0, purged.output
    assert "recordings deleted: 1" in purged.output
    assert (
        f"kept recording {held_id} past its expiry (T1: services.sales.retention_days = 90): "
        f"legal hold mediation MED-A on call {call_id}"
    ) in purged.output
    assert "recordings kept past their expiry under a legal hold: 1" in purged.output
    assert held_file.is_file()
    assert store.recording(held_id).state == "stored"  # type: ignore[union-attr]
    assert store.recording(other_id) is None
    (skip,) = entries(store, "hold_skip")
    assert skip["actor"] == "system"
    assert skip["recordings"] == [
        {
            "recording_id": held_id,
            "call_id": call_id,
            "rule": "T1: services.sales.retention_days = 90",
            "reference": "mediation MED-A",
        }
    ]
    assert not [r for r in receipted(store.access_entries()) if r["recording_id"] == held_id]

    released = run("hold", "release", "-c", config_path, call_id, *as_(config, DPO))
    assert released.exit_code == 0, released.output
    assert f"hold on call {call_id} released" in released.output
    purged = run("purge", "-c", config_path)
    assert purged.exit_code == 0, purged.output
    assert "recordings deleted: 1" in purged.output
    assert not held_file.exists() and store.recording(held_id) is None
    (receipt,) = [r for r in receipted(store.access_entries()) if r["recording_id"] == held_id]
    assert receipt["rule"] == "T1: services.sales.retention_days = 90"
    assert len(entries(store, "hold_skip")) == 1  # nothing held on the second run


def test_t6_non_dpo_may_not_place_or_release_and_is_logged(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a supervisor, a quality evaluator and an admin are refused (exit 4), each
    refusal in the access log; only the DPO may place or release."""
    config_path, config, store, vault = site
    call_id, _ = add_recording(
        store, vault, config, service="sales", created_at=dt.datetime.now(dt.UTC)
    )
    for person in ("mleroy", "snguyen", "tadmin"):
        result = run(*place_args(config, call_id, person))
        assert result.exit_code == 4, result.output
        assert "may not hold_place" in result.output
    assert store.holds() == []
    refused = entries(store, "hold_place")
    assert [(e["actor"], e["result"]) for e in refused] == [
        ("mleroy", "refused"),
        ("snguyen", "refused"),
        ("tadmin", "refused"),
    ]
    assert run(*place_args(config, call_id)).exit_code == 0
    result = run("hold", "release", "-c", config_path, call_id, *as_(config, "tadmin"))
    assert result.exit_code == 4 and store.standing_hold(call_id) is not None
    assert entries(store, "hold_release")[-1]["result"] == "refused"


def test_t6_bad_hold_requests_are_refused_with_what_was_wrong(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a review date in the past, a number in the reason, a second hold on a held
    call, an unknown call, a release without a hold: each refused, naming the problem,
    with nothing half written."""
    config_path, config, store, vault = site
    call_id, _ = add_recording(
        store, vault, config, service="sales", created_at=dt.datetime.now(dt.UTC)
    )
    past = run(*place_args(config, call_id, review="2020-01-01"))
    assert past.exit_code == 4 and "--review-by: 2020-01-01 is not in the future" in past.output
    args = place_args(config, call_id)
    args[args.index("--reason") + 1] = "caller 06 12 34 56 78 disputes"
    number = run(*args)
    assert number.exit_code == 4
    assert "--reason: must not contain phone or card numbers" in number.output
    assert "06 12" not in "".join(str(e) for e in store.access_entries())
    bad_date = run(*place_args(config, call_id, review="next week"))
    assert bad_date.exit_code == 2 and "is not a date" in bad_date.output
    assert store.holds() == []

    assert run(*place_args(config, call_id)).exit_code == 0
    again = run(*place_args(config, call_id))
    assert again.exit_code == 4 and "already under a legal hold" in again.output
    unknown = run(*place_args(config, "0123abcd"))
    assert unknown.exit_code == 4 and "no call 0123abcd" in unknown.output
    other = add_call(store, config, service="sales", started_at=dt.datetime.now(dt.UTC))
    release = run("hold", "release", "-c", config_path, other, *as_(config, DPO))
    assert release.exit_code == 4 and f"no legal hold stands on call {other}" in release.output
    assert len(store.holds(include_released=True)) == 1


# -- a hold placed while the purge runs ------------------------------------------------------
def test_t6_hold_placed_between_plan_and_deletion_wins(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: the purge plans to delete an expired recording, its sheet and its call; the
    DPO places a hold before the deletion runs (the purge's plan seam). The deletion
    steps read the hold inside their transactions: file, row, sheet and call stay, and
    the purge says what it kept."""
    _, config, store, vault = site
    t0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    clock = FixedClock(t0)
    service = AccessService(config, store, vault, clock)
    call_id, rec_id = add_recording(store, vault, config, service="sales", created_at=t0)
    sheet = service.sheet_create(config.access.persons["mleroy"], "coaching", call_id, {}, {}, "")
    file = path_of(store, rec_id)
    clock.set(t0 + 400 * DAY)  # recording, sheet and call metadata all expired
    dpo = config.access.persons[DPO]

    def hold_now(planned: int) -> None:
        assert planned == 1
        service.hold_place(
            dpo, "mediation request", call_id, "contract dispute", "MED-B", t0 + 500 * DAY
        )

    report = purger(config, store, vault, clock).run(on_plan=hold_now)
    assert report.recordings_deleted == 0 and report.errors == []
    assert [h.row.id for h in report.held] == [rec_id] and report.held[0].reference == "MED-B"
    assert file.is_file() and store.recording(rec_id).state == "stored"  # type: ignore[union-attr]
    assert store.sheet(sheet.id) is not None and report.sheets_held == [sheet.id]
    assert store.call_summary(call_id) is not None and report.calls_held == [call_id]
    assert store.db.execute("SELECT COUNT(*) FROM recording_deletions").fetchone()[0] == 0
    (skip,) = entries(store, "hold_skip")
    assert skip["sheets"] == [sheet.id] and skip["calls"] == [call_id]
    assert [r["recording_id"] for r in skip["recordings"]] == [rec_id]  # type: ignore[attr-defined]
    verdict = store.verify_access_log(config.audit.checkpoint_key)
    assert verdict.ok, verdict.describe()


# -- review dates ----------------------------------------------------------------------------
def test_t6_hold_past_its_review_date_alerts_at_each_purge_until_reviewed(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: once the review date passes, every purge run raises an alert (an alert row,
    an ALERT line on the CLI) until the DPO sets a new review date or releases the hold;
    the review is in the access log."""
    config_path, config, store, vault = site
    t0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    clock = FixedClock(t0)
    service = AccessService(config, store, vault, clock)
    dpo = config.access.persons[DPO]
    call_id, _ = add_recording(store, vault, config, service="sales", created_at=t0)
    service.hold_place(
        dpo, "mediation request", call_id, "contract dispute", "MED-C", t0 + 10 * DAY
    )

    def alerts() -> list[str]:
        return [
            row["message"]
            for row in store.db.query(
                "SELECT message FROM alerts WHERE kind = ?", [HOLD_REVIEW_ALERT]
            )
        ]

    clock.set(t0 + 9 * DAY)
    assert purger(config, store, vault, clock).run().overdue_holds == [] and alerts() == []
    clock.set(t0 + 11 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.needs_attention and len(report.overdue_holds) == 1
    purger(config, store, vault, clock).run()
    assert (
        alerts()
        == [
            f"legal hold on call {call_id} (reference MED-C) is past its review date 2026-01-15: "
            "review it ('reccontrol hold review') or release it ('reccontrol hold release')"
        ]
        * 2
    )

    service.hold_review(dpo, "quarterly hold review", call_id, t0 + 100 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.overdue_holds == [] and len(alerts()) == 2
    (review,) = entries(store, "hold_review")
    assert review["actor"] == DPO and review["result"] == "ok"
    assert str(review["previous_review_by"]).startswith("2026-01-15")
    assert str(review["review_by"]).startswith("2026-04-15")

    # Through the CLI, on the real clock: the ALERT line and exit 3.
    store.db.execute("UPDATE legal_holds SET review_by = '2020-01-01T00:00:00.000+00:00'")
    result = CliRunner().invoke(cli, ["purge", "-c", str(config_path)], env=ENV)
    assert result.exit_code == 3
    assert f"ALERT: legal hold on call {call_id} (reference MED-C)" in result.output


def test_t6_every_step_is_in_the_access_log(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: placing, listing, reviewing and releasing a hold, and the purge keeping what it
    holds, each leave an access-log entry naming who, why and the hold."""
    config_path, config, store, vault = site
    now = dt.datetime.now(dt.UTC)
    call_id, rec_id = add_recording(
        store, vault, config, service="sales", created_at=now - 95 * DAY
    )
    review = (dt.date.today() + 60 * DAY).isoformat()
    assert run(*place_args(config, call_id)).exit_code == 0
    listed = run("hold", "list", "-c", config_path, *as_(config, DPO, "monthly hold list"))
    assert listed.exit_code == 0 and f"call {call_id}  sales  reference mediation MED-A" in (
        listed.output
    )
    assert run("purge", "-c", config_path).exit_code == 0
    reviewed = run(
        "hold", "review", "-c", config_path, call_id, "--review-by", review, *as_(config, DPO)
    )
    assert reviewed.exit_code == 0 and f"review by {review}" in reviewed.output
    assert run("hold", "release", "-c", config_path, call_id, *as_(config, DPO)).exit_code == 0
    listed = run("hold", "list", "-c", config_path, "--all", *as_(config, DPO, "monthly hold list"))
    assert "released" in listed.output and "1 hold(s)" in listed.output

    steps = [
        (e.action, e.actor, e.purpose)
        for e in store.access_entries()
        if e.action.startswith("hold_")
    ]
    assert steps == [
        ("hold_place", DPO, "mediation request"),
        ("hold_list", DPO, "monthly hold list"),
        ("hold_skip", "system", "retention: T6: legal hold"),
        ("hold_review", DPO, "mediation request"),
        ("hold_release", DPO, "mediation request"),
        ("hold_list", DPO, "monthly hold list"),
    ]
    (placed,) = entries(store, "hold_place")
    assert placed["target"] == f"call:{call_id}" and placed["recordings"] == [rec_id]
    assert placed["reason"] == "customer disputes the contract terms"
    assert placed["reference"] == "mediation MED-A"
    hold_id = placed["hold_id"]
    assert [e["hold_id"] for e in entries(store, "hold_release")] == [hold_id]


# -- people's deletions ----------------------------------------------------------------------
def test_t6_deleting_or_erasing_a_held_recording_is_refused_clearly(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a person's deletion of a held recording is refused (and logged); a data-subject
    erasure erases the rest and keeps the held call, its recording, sheet and link to the
    number, saying why (GDPR Art. 17(3)(e))."""
    config_path, config, store, vault = site
    now = dt.datetime.now(dt.UTC)
    held_call, held_rec = add_recording(
        store, vault, config, service="sales", created_at=now - DAY, number=NUMBER
    )
    _, free_rec = add_recording(
        store, vault, config, service="sales", created_at=now - DAY, number=NUMBER
    )
    assert run(*place_args(config, held_call)).exit_code == 0

    refused = run("recording", "delete", "-c", config_path, held_rec, *as_(config, DPO))
    assert refused.exit_code == 4
    assert "under a legal hold (reference mediation MED-A)" in refused.output
    assert entries(store, "delete")[-1]["result"] == "refused"
    assert path_of(store, held_rec).is_file()

    erased = run(
        "subject", "erase", "-c", config_path, "--number", NUMBER, "--yes", *as_(config, DPO)
    )
    assert erased.exit_code == 3, erased.output
    assert "erased: 1 recording(s)" in erased.output
    assert f"kept: call {held_call}" in erased.output and "GDPR Art. 17(3)(e)" in erased.output
    assert store.recording(free_rec) is None
    assert path_of(store, held_rec).is_file()
    summary = store.call_summary(held_call)
    assert summary is not None and summary["caller_hash"] is not None
    (erase,) = entries(store, "subject_erase")
    assert erase["kept_under_legal_hold"] == {held_call: "mediation MED-A"}


def test_t6_held_call_metadata_and_sheets_outlive_their_clocks(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a held call with no recording left keeps its metadata and its sheets past
    their own clocks (T2, T5); released, they go at the next purge."""
    _, config, store, vault = site
    t0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    clock = FixedClock(t0)
    service = AccessService(config, store, vault, clock)
    call_id = add_call(store, config, service="sales", started_at=t0)
    sheet = service.sheet_create(config.access.persons["mleroy"], "coaching", call_id, {}, {}, "")
    dpo = config.access.persons[DPO]
    service.hold_place(
        dpo, "mediation request", call_id, "contract dispute", "MED-D", t0 + 900 * DAY
    )
    clock.set(t0 + 400 * DAY)
    report = purger(config, store, vault, clock).run()
    assert report.sheets_deleted == 0 and report.calls_deleted == 0
    assert store.sheet(sheet.id) is not None and store.call_summary(call_id) is not None
    assert "summary sheets deleted: 0 (1 expired, kept under a legal hold)" in report.summary()
    service.hold_release(dpo, "dispute settled", call_id)
    report = purger(config, store, vault, clock).run()
    assert report.sheets_deleted == 1 and report.calls_deleted == 1
    assert store.sheet(sheet.id) is None and store.call_summary(call_id) is None


def test_t6_refusals_through_the_service_name_the_field(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a card number in the reference is refused naming the option, and never
    reaches the access log."""
    _, config, store, vault = site
    clock = FixedClock(dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    service = AccessService(config, store, vault, clock)
    call_id = add_call(store, config, service="sales", started_at=clock.now())
    with pytest.raises(AccessRefused, match="--reference: must not contain a card number"):
        service.hold_place(
            config.access.persons[DPO],
            "mediation request",
            call_id,
            "contract dispute",
            "card 4111 1111 1111 1111",
            clock.now() + DAY,
        )
    logged = "".join(str(e) for e in store.access_entries())
    # The whole number, spaced or not: four digits alone can occur in a random call id.
    assert "4111 1111 1111 1111" not in logged and "4111111111111111" not in logged
    assert store.holds() == []


class HoldingStore(SqliteStore):
    """The purge's store, with a hold placed by the DPO at the last moment: after the
    purge has read what expired, just before the sheet purge's and the call purge's own
    transactions."""

    def __init__(self, store: SqliteStore, on_sheets: object, on_calls: object) -> None:
        super().__init__(store.db, store.audit_key)
        self.before: dict[str, object] = {"sheets": on_sheets, "calls": on_calls}

    def _hold_first(self, step: str) -> None:
        hook = self.before.pop(step, None)
        if callable(hook):
            hook()

    def purge_sheets(self, expired: Sequence[tuple[str, str]], at: dt.datetime) -> int:
        self._hold_first("sheets")
        return super().purge_sheets(expired, at)

    def purge_calls(self, cutoff: dt.datetime, at: dt.datetime, rule: str, limit: int = 500) -> int:
        self._hold_first("calls")
        return super().purge_calls(cutoff, at, rule, limit)


def test_t6_hold_placed_just_before_the_sheet_and_call_purges_wins(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a hold placed after the purge listed the expired sheets and calls, right before
    their deleting transactions, still wins: those transactions check the hold themselves."""
    _, config, store, vault = site
    t0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    clock = FixedClock(t0)
    service = AccessService(config, store, vault, clock)
    dpo = config.access.persons[DPO]
    sheet_call = add_call(store, config, service="sales", started_at=t0)
    supervisor = config.access.persons["mleroy"]
    sheet = service.sheet_create(supervisor, "coaching", sheet_call, {}, {}, "")
    bare_call = add_call(store, config, service="sales", started_at=t0)
    clock.set(t0 + 400 * DAY)

    def hold(call_id: str) -> Callable[[], None]:
        def place() -> None:
            service.hold_place(
                dpo, "mediation request", call_id, "contract dispute", "MED-E", t0 + 900 * DAY
            )

        return place

    holding = HoldingStore(store, hold(sheet_call), hold(bare_call))
    report = Purger(
        holding, vault, RetentionRules.from_config(config), clock, config.audit.checkpoint_key
    ).run()
    assert holding.before == {}, "both holds were placed during the purge"
    assert store.sheet(sheet.id) is not None and report.sheets_deleted == 0
    assert store.call_summary(bare_call) is not None
    assert store.call_summary(sheet_call) is not None
    assert report.calls_deleted == 0


def test_t6_plan_keeps_held_recordings_and_finishes_deletions_already_started() -> None:
    """T6: the pure plan turns an expired recording under a hold into a Held action, not
    a deletion; a deletion that started before the hold is finished all the same."""
    t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    rules = RetentionRules(service_days={"sales": 90}, sheet_days=365, log_days=365)
    held = RecordingRow(
        "r1", "c1", "sales", "n1", "wav", "/v/n1.wav", "stored", "ab", t0, t0 + 90 * DAY,
        hold="MED-F",
    )  # fmt: skip
    started = dataclasses.replace(held, id="r2", state="deleted")
    now = t0 + 100 * DAY
    assert plan_recordings(now, [held, started], rules) == [Finish(started)]
    assert held_recordings(now, [held, started], rules) == [
        Held(held, "T1: services.sales.retention_days = 90", "MED-F")
    ]
    assert held_recordings(t0 + 10 * DAY, [held], rules) == []  # not expired: nothing to say


def test_t6_hold_on_a_call_whose_deletion_started_names_what_it_cannot_keep(
    site: tuple[Path, Config, SqliteStore, LocalVault],
) -> None:
    """T6: a recording whose deletion had started (condemned, file maybe gone) before the
    hold cannot be kept: placing the hold says so, the access-log entry lists it, and the
    next purge finishes that deletion while the rest of the call stays."""
    config_path, config, store, vault = site
    now = dt.datetime.now(dt.UTC)
    call_id, doomed = add_recording(store, vault, config, service="sales", created_at=now - DAY)
    _, kept = add_recording(
        store, vault, config, service="sales", created_at=now - DAY, call_id=call_id
    )
    store.condemn_recordings(
        [Condemnation(doomed, "deleted on request by cdubois", DPO, "dpo", "ticket", True)], now
    )
    placed = run(*place_args(config, call_id))
    assert placed.exit_code == 0, placed.output
    assert "1 recording(s) kept" in placed.output
    assert f"recording {doomed}: its deletion had already started" in placed.output
    (entry,) = entries(store, "hold_place")
    assert entry["recordings"] == [kept] and entry["already_deleting"] == [doomed]
    assert run("purge", "-c", config_path).exit_code == 0
    assert store.recording(doomed) is None
    assert store.recording(kept) is not None and path_of(store, kept).is_file()
