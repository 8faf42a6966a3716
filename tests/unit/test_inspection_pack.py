"""The inspection pack of a period (D3): every part checked against the store it came
from (access-log entries, deletion receipts, alerts, configurations in force, sampling),
the signed head, the manifest verified, and any tampered, missing or added file caught."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.audit.chain import EntryDraft
from controller.audit.witness_line import witness_mac
from controller.cli import cli
from controller.config import Config
from controller.store import SqliteStore
from controller.store.holds import NewHold
from controller.store.records import Decision
from controller.store.timestamps import to_text
from tests.sites import ENV, add_call, load_site, site_config, write_site
from tests.tamper import attacker

PARIS = dt.timezone(dt.timedelta(hours=1))  # March 2026 in Paris, before summer time
START = dt.datetime(2026, 3, 1, tzinfo=PARIS)
END = dt.datetime(2026, 4, 1, tzinfo=PARIS)  # --to 2026-03-31 includes the whole day


def at(month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


LEGAL = {
    "purposes": {
        "quality": {"description": "Qualité", "legal_basis": "Intérêt légitime"},
        "mediation": {"description": "Médiation", "legal_basis": "Intérêt légitime"},
    },
    "transfers": [],
}


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Config]:
    data = site_config(tmp_path)
    data["legal"] = {**data["legal"], **LEGAL}
    path = write_site(tmp_path, data)
    return path, load_site(path)


def entry(store: SqliteStore, when: dt.datetime, action: str, actor: str = "cdubois") -> None:
    store.append_access(
        EntryDraft(
            at=to_text(when),
            actor=actor,
            role="system" if actor == "system" else "dpo",
            action=action,
            target="recording:r1",
            purpose="retention: expired" if actor == "system" else "quality review",
            result="ok",
        )
    )


def decide(store: SqliteStore, config: Config, when: dt.datetime, record: bool) -> None:
    call_id = add_call(store, config, service="sales", started_at=when)
    store.record_decision(
        Decision(call_id, when, record, "sampled" if record else "not drawn", 0.5,
                 0.1 if record else 0.9, True, "any", "alice")
    )


def fill(config: Config) -> SqliteStore:
    """A store with something before, inside and after March 2026."""
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    store.ensure_audit_keyed(at(2, 1))
    store.record_config_load("first: 1\n", at(2, 15))  # in force when March begins
    store.record_config_load(config.canonical_yaml, at(3, 10))
    store.record_config_load("first: 1\n", at(3, 20))  # the first one again
    store.record_config_load("later: 2\n", at(4, 5))  # after the period
    entry(store, at(2, 20), "listen")
    entry(store, at(3, 5), "listen")
    entry(store, at(3, 12), "call_delete", "system")
    entry(store, at(3, 15), "delete", "system")
    entry(store, at(3, 16), "export")
    entry(store, at(4, 2), "objection_delete", "system")
    store.add_alert(None, "unkeyed", "before", at(2, 25))
    store.add_alert(None, "witness", "inside", at(3, 7))
    store.add_alert(None, "pause", "inside too", at(3, 30))
    store.add_alert(None, "late", "after", at(4, 3))
    for day, record in ((3, True), (4, False), (6, True), (8, False), (9, False)):
        decide(store, config, at(3, day), record)
    decide(store, config, at(2, 2), True)  # outside the period
    # Legal holds: standing since February, released in February, placed in March, in April.
    for hold_id, placed, released in (
        ("h-standing", at(2, 5), None),
        ("h-released", at(2, 6), at(2, 10)),
        ("h-march", at(3, 10), None),
        ("h-april", at(4, 10), None),
    ):
        hold(store, config, hold_id, placed, released)
    return store


def hold(
    store: SqliteStore,
    config: Config,
    hold_id: str,
    placed: dt.datetime,
    released: dt.datetime | None,
) -> None:
    call_id = add_call(store, config, service="sales", started_at=placed)
    draft = EntryDraft(to_text(placed), "cdubois", "dpo", "hold_place", f"call:{call_id}",
                       "litige", "ok")
    store.place_hold(
        NewHold(hold_id, call_id, "litige", "REF-1", "litige", "cdubois", placed,
                placed + dt.timedelta(days=90)),
        draft,
    )
    if released is not None:
        store.release_hold(
            call_id,
            released,
            EntryDraft(to_text(released), "cdubois", "dpo", "hold_release", f"call:{call_id}",
                       "litige", "ok"),
        )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make(path: Path, out: Path) -> Any:
    return CliRunner().invoke(
        cli,
        ["inspection-pack", "-c", str(path), "--from", "2026-03-01", "--to", "2026-03-31",
         "--out", str(out)],
        env=ENV,
    )


def verify(path: Path, out: Path, env: dict[str, str] = ENV) -> Any:
    return CliRunner().invoke(cli, ["inspection-pack", "-c", str(path), "--verify", str(out)],
                              env=env)


def test_d3_every_part_of_the_pack_matches_the_store(
    tmp_path: Path, site: tuple[Path, Config]
) -> None:
    """D3, T6: the access-log entries, receipts, alerts, configurations in force, legal
    holds and sampling of the period, the verdict on the chain and its signed head, the
    documents; the manifest lists every file with its SHA-256 and verifies."""
    path, config = site
    store = fill(config)
    out = tmp_path / "pack"
    result = make(path, out)
    assert result.exit_code == 0, result.output
    assert "legal holds in force during the period: 2" in result.output
    first, after = to_text(START), to_text(END)

    expected = [
        dict(row)
        for row in store.db.query(
            "SELECT seq, action, hash, mac FROM access_log WHERE at >= ? AND at < ? ORDER BY seq",
            [first, after],
        )
    ]
    exported = lines(out / "access-log.jsonl")
    assert [{k: e[k] for k in ("seq", "action", "hash", "mac")} for e in exported] == expected
    assert [e["action"] for e in exported] == [
        "listen", "call_delete", "delete", "export", "hold_place"
    ]
    receipts = lines(out / "purge-receipts.jsonl")
    assert [r["action"] for r in receipts] == ["call_delete", "delete"]

    alerts = lines(out / "alerts.jsonl")
    stored = store.db.execute(
        "SELECT COUNT(*) FROM alerts WHERE at >= ? AND at < ?", [first, after]
    ).fetchone()[0]
    assert len(alerts) == stored == 2
    assert [a["message"] for a in alerts] == ["inside", "inside too"]

    history = lines(out / "config-history.jsonl")
    assert [h["loaded_at"] for h in history] == [to_text(at(2, 15)), to_text(at(3, 10)),
                                                 to_text(at(3, 20))]
    for item in history:
        text = (out / item["file"]).read_bytes()
        assert hashlib.sha256(text).hexdigest() == item["sha256"]
        assert text.decode() == store.config_text(item["sha256"])
    assert len({h["file"] for h in history}) == 2
    assert "later: 2" not in "".join((out / h["file"]).read_text() for h in history)

    (sales,) = json.loads((out / "sampling-audit.json").read_text())
    counts = (sales["service"], sales["calls"], sales["draws"], sales["sampled"])
    assert counts == ("sales", 5, 5, 2)
    assert "sales" in (out / "sampling-audit.txt").read_text()

    verdict = json.loads((out / "access-log-verification.json").read_text())
    assert verdict["ok"] is True and verdict["keyed"] is True
    head = json.loads((out / "signed-head.json").read_text())
    seq, digest = store.audit_head()
    assert (head["seq"], head["hash"]) == (seq, digest)
    key = config.audit.checkpoint_key
    assert key is not None
    key_start = store.audit_key_start()
    assert key_start is not None
    assert head["mac"] == witness_mac(key, head["at"], seq, digest, key_start.mac)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["access_log_entries"] == 5 and summary["deletion_receipts"] == 2
    assert summary["configurations_in_force"] == 3 and summary["legal_holds"] == 2
    for document in ("register", "notice-callers", "notice-agents", "dpia"):
        assert (out / f"{document}.md").read_text().startswith("# ")
        assert (out / f"{document}.html").read_text().startswith("<!DOCTYPE html>")
    holds = lines(out / "legal-holds.jsonl")
    assert [h["id"] for h in holds] == ["h-standing", "h-march"]
    in_force = store.db.execute(
        "SELECT COUNT(*) FROM legal_holds WHERE placed_at < ? "
        "AND (released_at IS NULL OR released_at >= ?)",
        [after, first],
    ).fetchone()[0]
    assert len(holds) == in_force

    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {p.name for p in out.iterdir()} - {"manifest.json"}
    for name, sha in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    assert manifest["signature"]["algorithm"] == "hmac-sha256"
    assert out.stat().st_mode & 0o777 == 0o700
    assert (out / "access-log.jsonl").stat().st_mode & 0o777 == 0o600

    result = verify(path, out)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    store.close()


@pytest.mark.parametrize(
    "tampering", ["edit", "remove", "add", "manifest", "not-json", "outside"]
)
def test_d3_a_tampered_pack_is_caught(
    tmp_path: Path, site: tuple[Path, Config], tampering: str
) -> None:
    """D3, R2: an entry cut from the exported log, a file removed, a file added, the
    manifest re-hashed to match an edit without the key, a manifest that is not JSON or
    that points outside the pack: --verify exits 1 and says what, never a traceback."""
    path, config = site
    fill(config).close()
    out = tmp_path / "pack"
    assert make(path, out).exit_code == 0
    log = out / "access-log.jsonl"
    kept = log.read_text().splitlines(keepends=True)[1:]
    if tampering == "edit":
        log.write_text("".join(kept))
        expected = "access-log.jsonl: changed"
    elif tampering == "remove":
        (out / "alerts.jsonl").unlink()
        expected = "alerts.jsonl: missing"
    elif tampering == "add":
        (out / "extra.txt").write_text("slipped in\n")
        expected = "extra.txt: not in the manifest"
    elif tampering == "not-json":
        (out / "manifest.json").write_text("{not json")
        expected = "manifest.json: not JSON"
    elif tampering == "outside":
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["files"][0]["name"] = "../../etc/passwd"
        (out / "manifest.json").write_text(json.dumps(manifest))
        expected = "'../../etc/passwd' is not a plain file name of the pack"
    else:
        log.write_text("".join(kept))
        manifest = json.loads((out / "manifest.json").read_text())
        for item in manifest["files"]:
            if item["name"] == "access-log.jsonl":
                data = log.read_bytes()
                item["sha256"] = hashlib.sha256(data).hexdigest()
                item["size"] = len(data)
        (out / "manifest.json").write_text(json.dumps(manifest))
        expected = "signature does not match the audit key"
    result = verify(path, out)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "does not match its manifest" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_d3_refusals_and_errors_are_clear(tmp_path: Path, site: tuple[Path, Config]) -> None:
    """D3, R2: a folder that is not empty is refused and left as it was; a missing
    option, a bad date and a pack checked without the audit key each say what is wrong."""
    path, config = site
    fill(config).close()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me\n")
    result = make(path, busy)
    assert result.exit_code == 1
    assert "is not empty" in result.output
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]

    runner = CliRunner()
    result = runner.invoke(cli, ["inspection-pack", "-c", str(path), "--from", "2026-03-01"],
                           env=ENV)
    assert result.exit_code == 2 and "--to, --out required" in result.output
    result = runner.invoke(
        cli,
        ["inspection-pack", "-c", str(path), "--from", "March", "--to", "2026-03-31",
         "--out", str(tmp_path / "p")],
        env=ENV,
    )
    assert result.exit_code == 2 and "'March' is not a date" in result.output
    result = runner.invoke(
        cli,
        ["inspection-pack", "-c", str(path), "--from", "2026-03-31", "--to", "2026-03-01",
         "--out", str(tmp_path / "p2")],
        env=ENV,
    )
    assert result.exit_code == 1 and "the period is empty" in result.output
    assert not (tmp_path / "p2").exists()

    out = tmp_path / "pack"
    assert make(path, out).exit_code == 0
    data = site_config(tmp_path)
    data["legal"] = {**data["legal"], **LEGAL}
    del data["audit"]
    unkeyed = tmp_path / "unkeyed"
    unkeyed.mkdir()
    data["store"] = {"path": str(config.store.path)}
    no_key = write_site(unkeyed, data)
    result = verify(no_key, out)
    assert result.exit_code == 3, result.output
    assert "the manifest itself is not authenticated" in result.output


def test_d1_d3_the_pack_speaks_the_chosen_language(
    tmp_path: Path, site: tuple[Path, Config]
) -> None:
    """D1, D3: --language en writes the pack's documents and index in English."""
    path, config = site
    fill(config).close()
    out = tmp_path / "pack"
    result = CliRunner().invoke(
        cli,
        ["inspection-pack", "-c", str(path), "--from", "2026-03-01", "--to", "2026-03-31",
         "--out", str(out), "--language", "en"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert (out / "register.md").read_text().startswith("# Record of processing activities")
    assert (out / "dpia.md").read_text().startswith("# Data protection impact assessment")
    index = (out / "README.md").read_text()
    assert index.startswith("# Inspection pack, ACME Test")
    assert "- Legal holds in force: legal-holds.jsonl" in index


def test_d3_s3_a_broken_access_log_is_packed_with_its_verdict_and_exit_1(
    tmp_path: Path, site: tuple[Path, Config]
) -> None:
    """D3, S3: an access-log entry of the period edited in the store: the pack is still
    written, its verification names the broken entry, the command exits 1, and the
    manifest still verifies (the pack is what the store held)."""
    path, config = site
    fill(config).close()
    db = attacker(config.store.path)
    seq = db.execute("SELECT seq FROM access_log WHERE action = 'export'").fetchone()[0]
    db.execute("UPDATE access_log SET actor = 'someone-else' WHERE seq = ?", [seq])
    db.close()
    out = tmp_path / "pack"
    result = make(path, out)
    assert result.exit_code == 1, result.output
    assert "the access log's chain is broken" in result.output
    verdict = json.loads((out / "access-log-verification.json").read_text())
    assert verdict["ok"] is False and f"entry {seq}" in verdict["verdict"]
    assert verify(path, out).exit_code == 0
