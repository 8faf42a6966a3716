"""Agents' rights (S9): an agent's find and export, answered and audited like a caller's
request (C5), the erase rule, and rectification notes on summary sheets, on a real store,
vault and CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.access.service import AccessRefused, AccessService
from controller.cli import cli
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.retention.purge import run_purge
from controller.store import SqliteStore
from controller.store.records import CallStart, Decision
from tests.sites import (
    ENV,
    add_call,
    add_recording,
    load_site,
    open_site,
    site_config,
    wav_bytes,
    write_site,
)

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=1)
NUMBER = "+33 6 12 34 56 78"
OTHER = "+33 6 98 76 54 32"
EXPORT = "agent access request ticket H-7"


def agents_site(root: Path) -> Path:
    """The test site with a second agent, Bob, on the same services."""
    data = site_config(root)
    data["agents"]["bob"] = {
        "name": "Bob Durand",
        "endpoints": ["PJSIP/bob"],
        "windows": [{"days": "mon-fri", "from": "09:00", "to": "17:00"}],
    }
    return write_site(root, data)


@dataclass
class Site:
    config: Config
    store: SqliteStore
    vault: LocalVault
    root: Path
    service: AccessService


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = load_site(agents_site(tmp_path))
    store, vault = open_site(config)
    yield Site(config, store, vault, tmp_path, AccessService(config, store, vault, FixedClock(NOW)))
    store.close()


@dataclass
class Calls:
    sales: str
    sales_recording: str
    sales_sheet: str
    support: str
    support_recording: str
    undecided: str
    old_sheet: str
    bob: str
    bob_recording: str
    bob_sheet: str


def fill(site: Site) -> Calls:
    """Alice: a recorded sales call with a sheet, a recorded support call, a call only
    her decision names, a sheet whose call's metadata is gone, and private calls. Bob: a
    recorded sales call with a sheet, and private calls."""
    store, vault, config = site.store, site.vault, site.config
    supervisor = config.access.persons["mleroy"]
    sales, sales_rec = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER
    )
    support, support_rec = add_recording(
        store, vault, config, service="support", created_at=T0 + dt.timedelta(hours=1)
    )
    # The caller hung up before the call ended with an agent: only the decision names her.
    undecided = "c0ffee0000000001"
    store.begin_call(
        CallStart(undecided, "sales", "inbound", T0 + dt.timedelta(hours=2), None), "v1"
    )
    decided = T0 + dt.timedelta(hours=2)
    window = "mon-fri 09:00-17:00"
    store.record_decision(
        Decision(undecided, decided, False, "not_sampled", 0.5, 0.93, True, window, "alice")
    )
    bob = add_call(store, config, service="sales", started_at=T0, number=OTHER, agent_id="bob")
    _, bob_rec = add_recording(
        store, vault, config, service="sales", created_at=T0, call_id=bob, audio=wav_bytes(0.2)
    )
    sales_sheet = site.service.sheet_create(supervisor, "monthly evaluation", sales, {}, {}, "Ok.")
    bob_sheet = site.service.sheet_create(supervisor, "monthly evaluation", bob, {}, {}, "Fine.")
    # A sheet about Alice whose call's metadata the purge has since removed (T5).
    old = add_call(store, config, service="sales", started_at=T0 - dt.timedelta(days=300))
    old_sheet = site.service.sheet_create(supervisor, "monthly evaluation", old, {}, {}, "Old.")
    assert store.purge_calls(T0 - dt.timedelta(days=1), NOW, "T5: test") == 1
    store.count_private_call("alice", "2026-03-02")
    store.count_private_call("alice", "2026-03-02")
    store.count_private_call("bob", "2026-03-02")
    return Calls(
        sales, sales_rec, sales_sheet.id, support, support_rec, undecided, old_sheet.id,
        bob, bob_rec, bob_sheet.id,
    )  # fmt: skip


def log(store: SqliteStore) -> list[tuple[str, str, str, str, str, dict[str, object]]]:
    return [
        (e.actor, e.action, e.target, e.result, e.purpose, dict(e.details))
        for e in store.access_entries()
    ]


# -- find and export -----------------------------------------------------------------------
def test_s9_agent_export_holds_only_that_agents_calls_sheets_and_counts(site: Site) -> None:
    """S9: the agent's export holds her calls (also one only her decision names), their
    decisions and recordings, her sheets with their rectification notes (also a sheet
    whose call is gone) and her private-call counts; nothing of another agent."""
    calls = fill(site)
    dpo = site.config.access.persons["cdubois"]
    site.service.sheet_rectify(
        dpo, "agent's rectification request R-3", calls.sales_sheet,
        "The caller had asked me to call back, hence the length.",
    )  # fmt: skip
    out = site.root / "alice.zip"

    result = site.service.agent_export(dpo, EXPORT, "alice", out)

    assert (result.calls, result.recordings, result.sheets, result.problems) == (3, 2, 2, [])
    assert out.stat().st_mode & 0o077 == 0
    with zipfile.ZipFile(out) as archive:
        assert set(archive.namelist()) == {
            "metadata.json",
            f"recordings/{calls.sales_recording}.wav",
            f"recordings/{calls.support_recording}.wav",
        }
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["request"]["agent"] == "alice" and metadata["agent"]["name"] == "Alice Martin"
    assert metadata["requested_by"] == "cdubois" and metadata["purpose"] == EXPORT
    by_id = {c["call"]["id"]: c for c in metadata["calls"]}
    assert set(by_id) == {calls.sales, calls.support, calls.undecided}
    assert by_id[calls.undecided]["decision"]["agent_id"] == "alice"
    assert by_id[calls.undecided]["decision"]["reason"] == "not_sampled"
    sheet = by_id[calls.sales]["sheets"][0]
    assert sheet["id"] == calls.sales_sheet and sheet["employee_id"] == "alice"
    [note] = sheet["rectifications"]
    assert note["note"] == "The caller had asked me to call back, hence the length."
    assert (note["author"], note["entered_by"]) == ("agent", "cdubois")
    assert [s["id"] for s in metadata["sheets_without_call"]] == [calls.old_sheet]
    assert metadata["private_call_counts"] == [{"day": "2026-03-02", "count": 2}]
    text = json.dumps(metadata)
    for of_bob in (calls.bob, calls.bob_recording, calls.bob_sheet):
        assert of_bob not in text
    # The callers' numbers are not the agent's data.
    assert "caller_hash" not in text and "612345678" not in text and "698765432" not in text

    actor, action, target, outcome, purpose, details = log(site.store)[-1]
    assert (actor, action, target, outcome, purpose) == (
        "cdubois", "subject_export", "agent:alice", "ok", EXPORT,
    )  # fmt: skip
    assert details["subject"] == "agent" and details["file"] == "alice.zip"
    assert (details["calls"], details["recordings"], details["sheets"]) == (3, 2, 2)
    assert site.store.verify_access_log(site.config.audit.checkpoint_key).ok


def test_s9_agent_find_lists_the_agents_data_and_is_logged(site: Site) -> None:
    calls = fill(site)
    dpo = site.config.access.persons["cdubois"]

    found = site.service.agent_find(dpo, EXPORT, "bob")

    assert [c.call["id"] for c in found.calls] == [calls.bob]
    assert [r.id for r in found.recordings] == [calls.bob_recording]
    assert found.sheet_ids == [calls.bob_sheet] and found.sheets_without_call == []
    assert found.private_counts == [{"day": "2026-03-02", "count": 1}]
    assert log(site.store)[-1][:5] == ("cdubois", "subject_find", "agent:bob", "ok", EXPORT)
    # The time range narrows the search, as for a caller.
    later = site.service.agent_find(dpo, EXPORT, "alice", T0 + dt.timedelta(minutes=30), None)
    assert [c.call["id"] for c in later.calls] == [calls.support, calls.undecided]
    assert later.sheets_without_call == []


def test_s9_out_of_scope_services_are_hidden_from_an_agents_request(site: Site) -> None:
    """S9: a DPO limited to sales sees none of the agent's support calls, nor her private
    counts (they belong to no service); the log says how many were left out."""
    calls = fill(site)
    limited = dataclasses.replace(site.config.access.persons["cdubois"], services=("sales",))

    found = site.service.agent_find(limited, EXPORT, "alice")
    assert {c.call["id"] for c in found.calls} == {calls.sales, calls.undecided}
    assert found.hidden == 1 and found.private_counts == []
    assert log(site.store)[-1][5]["outside_scope"] == 1

    out = site.root / "alice-sales.zip"
    site.service.agent_export(limited, EXPORT, "alice", out)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        metadata = json.loads(archive.read("metadata.json"))
    assert f"recordings/{calls.support_recording}.wav" not in names
    assert calls.support not in json.dumps(metadata)
    assert metadata["outside_scope"] == 1 and metadata["private_call_counts"] == []


def test_s9_agents_requests_need_the_dpo_and_a_known_agent(site: Site) -> None:
    fill(site)
    persons = site.config.access.persons
    with pytest.raises(AccessRefused, match="role supervisor may not subject_find"):
        site.service.agent_find(persons["mleroy"], "curious about alice", "alice")
    with pytest.raises(AccessRefused, match="unknown agent 'alcie'"):
        site.service.agent_find(persons["cdubois"], EXPORT, "alcie")
    with pytest.raises(AccessRefused, match="agent id: must not be empty"):
        site.service.agent_find(persons["cdubois"], EXPORT, " ")
    # Private calls of agents nobody could name are counted together: no one's data.
    site.store.count_private_call(None, "2026-03-02")
    with pytest.raises(AccessRefused, match="unknown agent 'unknown'"):
        site.service.agent_find(persons["cdubois"], EXPORT, "unknown")
    assert [e[3] for e in log(site.store)[-4:]] == ["refused"] * 4
    assert log(site.store)[-3][2] == "agent:alcie"
    # A former agent, no longer configured, whose data is still kept is answered.
    add_call(site.store, site.config, service="sales", started_at=T0, agent_id="carol")
    found = site.service.agent_find(persons["cdubois"], EXPORT, "carol")
    assert len(found.calls) == 1


# -- erase ---------------------------------------------------------------------------------
def test_s9_an_agents_erasure_request_deletes_nothing_and_says_the_rule(site: Site) -> None:
    """S9: the recordings are also the callers' data (and may serve a mediation), so an
    agent's erasure request is refused with the rule: rectification, objection, or one
    recording deleted on its own. The refusal is in the access log."""
    calls = fill(site)
    dpo = site.config.access.persons["cdubois"]
    paths = [
        Path(str(site.store.recording(r).path))  # type: ignore[union-attr]
        for r in (calls.sales_recording, calls.support_recording)
    ]

    with pytest.raises(AccessRefused, match="answered by rectification and objection") as exc:
        site.service.agent_erase(dpo, "agent asks for erasure E-2", "alice")

    assert "sheet rectify" in exc.value.reason and "agents.<id>.protected" in exc.value.reason
    assert all(p.exists() for p in paths)
    assert site.store.recording(calls.sales_recording) is not None
    assert site.store.sheet(calls.sales_sheet) is not None
    actor, action, target, outcome, _, details = log(site.store)[-1]
    assert (actor, action, target, outcome) == (
        "cdubois", "subject_erase", "agent:alice", "refused",
    )  # fmt: skip
    assert "rectification and objection" in str(details["reason"])


# -- rectification notes -------------------------------------------------------------------
def test_s9_rectification_note_is_kept_with_the_sheet_and_logged_without_its_text(
    site: Site,
) -> None:
    calls = fill(site)
    persons = site.config.access.persons
    dpo = persons["cdubois"]
    note = "Je conteste la note d'accueil : le client a raccroché avant ma présentation."

    why = "agent's rectification request R-4"
    added = site.service.sheet_rectify(dpo, why, calls.sales_sheet, note)
    checked = "Checked with the recording: the greeting was cut by the caller."
    later = site.service.sheet_rectify(dpo, why, calls.sales_sheet, checked, author="dpo")

    sheet = site.store.sheet(calls.sales_sheet)
    assert sheet is not None and [r.id for r in sheet.rectifications] == [added.id, later.id]
    first = sheet.rectifications[0]
    assert (first.note, first.author, first.entered_by, first.entered_by_role) == (
        note, "agent", "cdubois", "dpo",
    )  # fmt: skip
    assert first.at == NOW and first.purpose == why
    assert sheet.rectifications[1].author == "dpo"
    # The evaluation itself stays as the evaluator wrote it.
    assert sheet.free_text == "Ok." and sheet.version == 1

    actor, action, target, outcome, purpose, details = log(site.store)[-1]
    assert (actor, action, target, outcome, purpose) == (
        "cdubois", "sheet_rectify", f"sheet:{calls.sales_sheet}", "ok", why,
    )  # fmt: skip
    assert details == {
        "note_id": later.id, "author": "dpo", "employee_id": "alice", "characters": len(checked),
    }  # fmt: skip
    assert "raccroché" not in json.dumps([e[5] for e in log(site.store)])


def test_s9_rectification_refusals_are_clear_and_logged(site: Site) -> None:
    calls = fill(site)
    persons = site.config.access.persons
    dpo = persons["cdubois"]
    why = "agent's rectification request R-5"
    cases = [
        (persons["mleroy"], calls.sales_sheet, "a note", "role supervisor may not sheet_rectify"),
        (dpo, calls.sales_sheet, "  ", "note: must not be empty"),
        (dpo, calls.sales_sheet, "call me on 06 12 34 56 78", "must not contain phone or card"),
        (dpo, calls.sales_sheet, "x" * 4001, "note: longer than 4000 characters"),
        (dpo, "nosuchsheet", "a note", "no such sheet"),
        (
            dataclasses.replace(dpo, services=("support",)),
            calls.sales_sheet,
            "a note",
            # Outside scope answers like a sheet that does not exist (the log says why).
            "no such sheet",
        ),
    ]
    for person, sheet_id, note, reason in cases:
        before = len(log(site.store))
        with pytest.raises(AccessRefused, match=reason):
            site.service.sheet_rectify(person, why, sheet_id, note)
        entries = log(site.store)[before:]
        assert [(e[1], e[3]) for e in entries] == [("sheet_rectify", "refused")], reason
        assert "06 12" not in json.dumps(entries)
    with pytest.raises(AccessRefused, match="author: must be one of agent, dpo"):
        site.service.sheet_rectify(dpo, why, calls.sales_sheet, "a note", author="boss")
    assert site.store.sheet(calls.sales_sheet).rectifications == ()  # type: ignore[union-attr]


def test_s9_rectification_notes_go_with_their_sheet_in_the_purge_and_an_erasure(
    site: Site,
) -> None:
    calls = fill(site)
    dpo = site.config.access.persons["cdubois"]
    why = "agent's rectification request R-6"
    site.service.sheet_rectify(dpo, why, calls.sales_sheet, "Mine, about the caller's number.")
    site.service.sheet_rectify(dpo, why, calls.bob_sheet, "Bob's own view of the call.")
    notes = site.store.sqlite["sheet_rectifications"]
    assert notes.count == 2

    # The caller's erasure (C5) takes Alice's sheet of that call, and its note.
    site.service.subject_erase(dpo, "erasure request ticket A-30", NUMBER)
    assert site.store.sheet(calls.sales_sheet) is None
    assert [r["sheet_id"] for r in notes.rows] == [calls.bob_sheet]

    # The purge of an expired sheet takes its note in the same transaction.
    report = run_purge(site.config, FixedClock(NOW + dt.timedelta(days=367)), site.store)
    assert report.sheets_deleted >= 1 and site.store.sheet(calls.bob_sheet) is None
    assert notes.count == 0
    assert site.store.verify_access_log(site.config.audit.checkpoint_key).ok


# -- the commands --------------------------------------------------------------------------
def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV, input=input)


def as_(config: Config, person: str, purpose: str = EXPORT) -> list[str]:
    token = config.store.path.parent / "access" / f"{person}.token"
    return ["--as", person, "--purpose", purpose, "--token-file", str(token)]


def test_s9_agent_commands_find_export_erase_rectify_and_show(tmp_path: Path) -> None:
    path = agents_site(tmp_path)
    config = load_site(path)
    store, vault = open_site(config)
    service = AccessService(config, store, vault, FixedClock(dt.datetime.now(dt.UTC)))
    now = dt.datetime.now(dt.UTC)
    call_id, rec = add_recording(store, vault, config, service="sales", created_at=now)
    bob = add_call(store, config, service="sales", started_at=now, agent_id="bob")
    sheet = service.sheet_create(
        config.access.persons["mleroy"], "monthly evaluation", call_id, {"greeting": 2}, {}, "Ok."
    )
    store.close()
    dpo = as_(config, "cdubois")

    found = run("subject", "find", "-c", path, "--agent", "alice", *dpo)
    assert found.exit_code == 0, found.output
    assert f"call {call_id}" in found.output and f"recording {rec}  stored" in found.output
    assert f"  sheet {sheet.id}" in found.output and bob not in found.output
    assert "agent alice: 1 call(s), 1 recording(s), 1 sheet(s), 0 private call(s)" in found.output

    rectified = run(
        "sheet", "rectify", "-c", path, sheet.id, "--note", "The line was bad that day.",
        *as_(config, "cdubois", "agent's rectification request R-7"),
    )  # fmt: skip
    assert rectified.exit_code == 0, rectified.output
    assert f"sheet {sheet.id}: rectification" in rectified.output
    shown = run("sheet", "show", "-c", path, sheet.id, *as_(config, "mleroy", "monthly review"))
    assert shown.exit_code == 0, shown.output
    assert "the agent's words, entered by Cdubois (cdubois)" in shown.output
    assert "  note: The line was bad that day." in shown.output
    assert "  why:  agent's rectification request R-7" in shown.output
    refused = run(
        "sheet", "rectify", "-c", path, sheet.id, "--note", "x", *as_(config, "mleroy")
    )
    assert refused.exit_code == 4 and "may not sheet_rectify" in refused.output

    out = tmp_path / "alice.zip"
    exported = run("subject", "export", "-c", path, "--agent", "alice", "--output", out, *dpo)
    assert exported.exit_code == 0, exported.output
    assert "1 call(s), 1 recording(s), 1 sheet(s)" in exported.output
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == [f"recordings/{rec}.wav", "metadata.json"]
        metadata = json.loads(archive.read("metadata.json"))
    notes = metadata["calls"][0]["sheets"][0]["rectifications"]
    assert [n["note"] for n in notes] == ["The line was bad that day."]

    erased = run("subject", "erase", "-c", path, "--agent", "alice", "--yes", *dpo)
    assert erased.exit_code == 4, erased.output
    assert "refused: an agent's erasure request is answered by rectification" in erased.output
    assert Path(str(SqliteStore.open(config.store.path).recording(rec).path)).exists()  # type: ignore[union-attr]

    both = run("subject", "find", "-c", path, "--agent", "alice", "--number", NUMBER, *dpo)
    assert both.exit_code == 2 and "not both" in both.output
    unknown = run("subject", "find", "-c", path, "--agent", "alcie", *dpo)
    assert unknown.exit_code == 4 and "unknown agent 'alcie'" in unknown.output
    assert run("audit", "verify", "-c", path).exit_code == 0


def test_s9_agent_options_have_help() -> None:
    for command in (["subject", "find"], ["subject", "export"], ["subject", "erase"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "--agent ID" in result.output
    result = run("sheet", "rectify", "--help")
    assert result.exit_code == 0
    assert "--note TEXT" in result.output and "--author [agent|dpo]" in result.output

