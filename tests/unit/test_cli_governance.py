"""The purge, audit, subject, sheet, recording, access and document commands, end to end
through the CLI on a real store and vault."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from controller.audit.chain import EntryDraft, seal
from controller.cli import cli
from controller.config import Config
from controller.store import SqliteStore
from controller.store.timestamps import to_text
from tests.example_site import example_environ
from tests.sites import (
    ENV,
    PASSWORD,
    add_recording,
    load_site,
    old_log_entry,
    open_site,
    site_config,
    write_site,
)

NUMBER = "+33 6 98 76 54 32"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Config]]:
    path = write_site(tmp_path)
    config = load_site(path)
    store, _ = open_site(config)
    store.close()
    yield path, config


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV, input=input)


def token(config: Config, person: str) -> Path:
    return config.store.path.parent / "access" / f"{person}.token"


def as_(config: Config, person: str, purpose: str = "ticket 42 review") -> list[str]:
    return ["--as", person, "--purpose", purpose, "--token-file", str(token(config, person))]


# -- audit ---------------------------------------------------------------------------------
def filled_log(config: Config, entries: int = 6) -> None:
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for n in range(entries):
        old_log_entry(store, start + dt.timedelta(minutes=n), n)
    store.close()


def tamper(config: Config, *statements: str | tuple[str, list[object]]) -> None:
    """What someone with write access to the database file could do."""
    db = sqlite3.connect(config.store.path)
    db.execute("DROP TRIGGER access_log_no_update")
    db.execute("DROP TRIGGER access_log_delete_only_checkpointed")
    for statement in statements:
        if isinstance(statement, tuple):
            db.execute(*statement)
        else:
            db.execute(statement)
    db.commit()
    db.close()


def test_audit_verify_and_head(site: tuple[Path, Config]) -> None:
    path, config = site
    filled_log(config)
    result = run("audit", "verify", "-c", path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("intact: 6 entries, head 6:")
    head = run("audit", "head", "-c", path)
    assert head.exit_code == 0 and len(head.output.strip()) == 64
    assert json.loads(run("audit", "head", "-c", path, "--json").output)["seq"] == 6
    assert run("audit", "verify", "-c", path, "--anchor", head.output.strip()).exit_code == 0
    assert run("audit", "verify", "-c", path, "--anchor", "0" * 64).exit_code == 1


@pytest.mark.parametrize(
    ("statements", "first_bad", "reason"),
    [
        (["UPDATE access_log SET purpose = 'curiosity' WHERE seq = 3"], 3, "edited"),
        (["DELETE FROM access_log WHERE seq = 3"], 4, "gap: entry 3 is missing (deleted)"),
        (
            [
                "UPDATE access_log SET seq = -1 WHERE seq = 3",
                "UPDATE access_log SET seq = 3 WHERE seq = 4",
                "UPDATE access_log SET seq = 4 WHERE seq = -1",
            ],
            3,
            "reordered",
        ),
        (["DELETE FROM access_log WHERE seq = 6"], 6, "truncated"),
    ],
    ids=["edit", "delete", "reorder", "delete-last"],
)
def test_audit_verify_detects_tampering(
    site: tuple[Path, Config], statements: list[str], first_bad: int, reason: str
) -> None:
    path, config = site
    filled_log(config)
    tamper(config, *statements)
    result = run("audit", "verify", "-c", path)
    assert result.exit_code == 1
    assert f"access log broken at entry {first_bad}: {reason}" in result.output


def test_audit_verify_detects_an_inserted_entry(site: tuple[Path, Config]) -> None:
    path, config = site
    filled_log(config)
    store = SqliteStore.open(config.store.path)
    prev = next(e for e in store.access_entries() if e.seq == 2).hash
    store.close()
    forged = seal(
        EntryDraft(to_text(dt.datetime.now(dt.UTC)), "mallory", "dpo", "listen", "x", "y", "ok"),
        3,
        prev,
    )
    tamper(
        config,
        "UPDATE access_log SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE access_log SET seq = seq - 999 WHERE seq >= 1003",
        (
            "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
            "details, prev_hash, hash) VALUES (3, ?, 'mallory', 'dpo', 'listen', 'x', 'y', 'ok', "
            "'{}', ?, ?)",
            [forged.at, forged.prev_hash, forged.hash],
        ),
        "UPDATE audit_head SET seq = 7",
    )
    result = run("audit", "verify", "-c", path)
    assert result.exit_code == 1
    # The site has an audit key: the forged entry itself is caught, it has no MAC.
    assert "access log broken at entry 3: keyed chain broken: it has no MAC" in result.output


# -- purge -----------------------------------------------------------------------------------
def test_purge_command(site: tuple[Path, Config]) -> None:
    path, config = site
    store, vault = open_site(config)
    now = dt.datetime.now(dt.UTC)
    _, expired = add_recording(store, vault, config, service="sales", created_at=now - 91 * DAY)
    _, kept = add_recording(store, vault, config, service="sales", created_at=now - DAY)
    store.close()

    dry = run("purge", "-c", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would delete recording {expired}: T1: services.sales.retention_days = 90" in (
        dry.output
    )
    assert "recordings to delete: 1" in dry.output

    result = run("purge", "-c", path)
    assert result.exit_code == 0, result.output
    assert "recordings deleted: 1" in result.output
    assert "Deleting expired recordings" not in result.output  # no bar without a terminal

    stray = config.recordings.vault_dir / "stray.wav"
    stray.write_bytes(b"RIFF")
    result = run("purge", "-c", path)
    assert result.exit_code == 3
    assert f"unknown file in the vault (no recording knows it): {stray}" in result.output
    assert stray.exists()
    store = SqliteStore.open(config.store.path)
    assert store.recording(kept) is not None and store.recording(expired) is None
    store.close()


DAY = dt.timedelta(days=1)


# -- data subjects, sheets, recordings -----------------------------------------------------------
def test_subject_commands_round_trip(site: tuple[Path, Config]) -> None:
    path, config = site
    store, vault = open_site(config)
    now = dt.datetime.now(dt.UTC)
    call_id, rec = add_recording(
        store, vault, config, service="sales", created_at=now, number=NUMBER
    )
    store.close()
    dpo = as_(config, "cdubois", "access request A-1")

    found = run("subject", "find", "-c", path, "--number", NUMBER, *dpo)
    assert found.exit_code == 0, found.output
    assert f"call {call_id}" in found.output and f"recording {rec}  stored" in found.output
    assert "1 call(s), 1 recording(s), 0 sheet(s)" in found.output
    assert NUMBER not in found.output

    prompted = run("subject", "find", "-c", path, *dpo, input=NUMBER + "\n")
    assert "1 call(s)" in prompted.output

    out = path.parent / "subject.zip"
    exported = run("subject", "export", "-c", path, "--number", NUMBER, "--output", out, *dpo)
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(out) as archive:
        assert f"recordings/{rec}.wav" in archive.namelist()

    refused = run(
        "subject", "erase", "-c", path, "--number", NUMBER, "--yes", *as_(config, "mleroy")
    )
    assert refused.exit_code == 4 and "role supervisor may not subject_erase" in refused.output

    erased = run("subject", "erase", "-c", path, "--number", NUMBER, "--yes", *dpo)
    assert erased.exit_code == 0, erased.output
    assert "erased: 1 recording(s), 0 sheet(s); 1 call(s)" in erased.output
    again = run("subject", "find", "-c", path, "--number", NUMBER, *dpo)
    assert "0 call(s), 0 recording(s), 0 sheet(s)" in again.output
    assert run("audit", "verify", "-c", path).exit_code == 0


def test_wrong_token_and_empty_purpose_are_refused(site: tuple[Path, Config]) -> None:
    path, config = site
    bad = path.parent / "bad.token"
    bad.write_text("nope")
    result = run(
        "subject", "find", "-c", path, "--number", NUMBER,
        "--as", "cdubois", "--purpose", "access request", "--token-file", bad,
    )  # fmt: skip
    assert result.exit_code == 4 and "unknown person or wrong credential" in result.output
    result = run("subject", "find", "-c", path, "--number", NUMBER, *as_(config, "cdubois", ""))
    assert result.exit_code == 4 and "a purpose must be stated" in result.output
    missing = run("subject", "find", "-c", path, "--number", NUMBER, "--as", "cdubois")
    assert missing.exit_code == 2 and "--purpose" in missing.output


def test_password_prompt(site: tuple[Path, Config]) -> None:
    path, config = site
    data = site_config(config.store.path.parent)
    person = data["access"]["persons"]["cdubois"]
    person.pop("token_hash_file")
    person["password_hash_file"] = str(config.store.path.parent / "access" / "cdubois.scrypt")
    path.write_text(yaml.safe_dump(data))
    args: list[str | Path] = ["subject", "find", "-c", path, "--number", NUMBER]
    args += ["--as", "cdubois", "--purpose", "access request"]
    assert run(*args, input=PASSWORD + "\n").exit_code == 0
    wrong = run(*args, input="guess\n")
    assert wrong.exit_code == 4 and PASSWORD not in wrong.output


def test_sheet_and_recording_commands(site: tuple[Path, Config]) -> None:
    path, config = site
    store, vault = open_site(config)
    call_id, rec = add_recording(
        store, vault, config, service="sales", created_at=dt.datetime.now(dt.UTC)
    )
    store.close()
    sup = as_(config, "mleroy", "monthly evaluation")
    created = run(
        "sheet", "create", "-c", path, "--call", call_id, "--score", "greeting=4",
        "--comment", "greeting=warm welcome", "--text", "Clear answer.", *sup,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    sheet_id = created.output.strip()
    edited = run("sheet", "edit", "-c", path, sheet_id, "--score", "answer=8", *sup)
    assert edited.exit_code == 0 and "version 2" in edited.output
    shown = run("sheet", "show", "-c", path, sheet_id, *sup)
    assert shown.exit_code == 0, shown.output
    assert "employee:  Alice Martin (alice)" in shown.output
    assert "Accueil: 4/5  warm welcome" in shown.output and "Réponse: 8/10" in shown.output
    assert f"recording: {rec}" in shown.output
    bad = run("sheet", "edit", "-c", path, sheet_id, "--score", "answer=x", *sup)
    assert bad.exit_code == 2

    out = path.parent / "copy.wav"
    downloaded = run("recording", "download", "-c", path, rec, "--output", out, *sup)
    assert downloaded.exit_code == 0, downloaded.output
    assert out.read_bytes()[:4] == b"RIFF" and out.stat().st_mode & 0o077 == 0
    deleted = run("recording", "delete", "-c", path, rec, *as_(config, "cdubois", "mistake"))
    assert deleted.exit_code == 0 and "sha256" in deleted.output
    shown = run("sheet", "show", "-c", path, sheet_id, *sup)
    assert "recording: no longer kept" in shown.output


# -- access and documents ----------------------------------------------------------------------
def test_access_commands(site: tuple[Path, Config], tmp_path: Path) -> None:
    path, _ = site
    result = run("access", "hash-password", input="a long pass phrase\na long pass phrase\n")
    assert result.exit_code == 0
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("scrypt$17$8$1$") and "a long pass phrase" not in line
    assert run("access", "hash-password", input="short\nshort\n").exit_code == 1
    token_file = tmp_path / "new.token"
    result = run("access", "new-token", "--token-file", token_file)
    assert result.exit_code == 0 and result.output.startswith("sha256$")
    assert token_file.stat().st_mode & 0o077 == 0
    assert token_file.read_text().strip() not in result.output
    assert run("access", "new-token", "--token-file", token_file).exit_code == 1
    listed = run("access", "list", "-c", path)
    assert listed.exit_code == 0 and "cdubois" in listed.output and "token ok" in listed.output


def test_check_config_warns_about_unreadable_credentials(site: tuple[Path, Config]) -> None:
    path, config = site
    (config.store.path.parent / "access" / "mleroy.token-hash").unlink()
    result = run("check-config", path)
    assert result.exit_code == 0
    assert "warning: access.persons.mleroy.token_hash_file: cannot read" in result.output
    assert run("access", "list", "-c", path).exit_code == 3


def test_documents_need_the_legal_texts(site: tuple[Path, Config]) -> None:
    path, _ = site
    result = run("register", "-c", path)
    assert result.exit_code == 2
    assert "error: legal.purposes.quality: is required" in result.output
    assert "error: legal.transfers: is required for the register" in result.output


def test_document_commands_on_the_example(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    env = example_environ(tmp_path)
    runner = CliRunner()
    agents = runner.invoke(cli, ["notice", "agents", "-c", str(example)], env=env)
    assert agents.exit_code == 0 and "Claire Dubois" in agents.output
    bruno = runner.invoke(
        cli, ["notice", "agents", "-c", str(example), "--agent", "bruno"], env=env
    )
    assert "staff representative" in bruno.output
    unknown = runner.invoke(cli, ["notice", "agents", "-c", str(example), "--agent", "x"], env=env)
    assert unknown.exit_code == 2
    out = tmp_path / "callers.html"
    callers = runner.invoke(
        cli,
        ["notice", "callers", "-c", str(example), "--format", "html", "--output", str(out)],
        env=env,
    )
    assert callers.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    register = runner.invoke(cli, ["register", "-c", str(example)], env=env)
    assert register.exit_code == 0 and "## (g)" in register.output


def test_recording_download_refuses_a_link_planted_in_the_vault_S4(
    site: tuple[Path, Config],
) -> None:
    """S4: `recording download` of a recording whose vault file was replaced by a symlink
    to a file elsewhere exits 1 naming ``vault-file-refused``, and writes no file."""
    path, config = site
    store, vault = open_site(config)
    now = dt.datetime.now(dt.UTC)
    _, rec = add_recording(store, vault, config, service="sales", created_at=now)
    vault_file = Path(str(store.recording(rec).path))  # type: ignore[union-attr]
    store.close()
    secret = path.parent / "shadow"
    secret.write_bytes(b"root:$6$precious:19000::::::\n")
    vault_file.unlink()
    vault_file.symlink_to(secret)
    out = path.parent / "copy.wav"
    result = run("recording", "download", "-c", path, rec, "--output", out, *as_(config, "mleroy"))
    assert result.exit_code == 1, result.output
    assert f"recording {rec}: vault-file-refused:" in result.output
    assert "is a symbolic link" in result.output
    assert not out.exists()
