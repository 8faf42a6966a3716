"""The daemon keys the access log when it starts and publishes its signed head to the
witness file (Medium 3, S3, S7), on the real daemon application against a fake ARI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from controller.audit.chain import EntryDraft
from controller.cli import cli
from controller.config import load_config
from controller.daemon import build_app
from controller.store import SqliteStore
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri
from tests.sites import ENV, site_config, write_site


async def test_medium3_daemon_keys_the_log_and_publishes_the_signed_head(tmp_path: Path) -> None:
    """A log written before the key was set is switched over by 'audit adopt-key'
    (signed key start, S7); the daemon appends the head, signed and naming that key
    start, to ``audit.witness_file``; ``audit verify --witness`` accepts it, and catches
    the log cut back behind it."""
    data = site_config(tmp_path)
    witness = tmp_path / "witness" / "audit-head.log"
    witness.parent.mkdir()
    data["audit"] |= {"witness_file": str(witness), "witness_interval_seconds": 3600}
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    data["ari"] = {
        "url": str(ari.make_url("")).rstrip("/"),
        "username": USERNAME,
        "password_env": "RECCONTROL_ARI_PASSWORD",
    }
    path = write_site(tmp_path, data)
    config = load_config(path, environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD})
    unkeyed = SqliteStore.open(config.store.path)
    for n in range(3):
        unkeyed.append_access(
            EntryDraft(
                f"2026-11-0{n + 1}T10:00:00.000+00:00",
                "cdubois",
                "dpo",
                "listen",
                f"recording:r{n}",
                "quality review",
                "ok",
            )
        )
    unkeyed.close()
    adopted = CliRunner().invoke(cli, ["audit", "adopt-key", "-c", str(path)], env=ENV)
    assert adopted.exit_code == 0, adopted.output

    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()  # the store context keys the log and starts the witness
    await client.close()  # stopping publishes the head once more if it moved
    await ari.close()

    store = SqliteStore.open(config.store.path)
    start = store.audit_key_start()
    head = store.audit_head()
    store.close()
    assert start is not None and start.from_seq == 4
    lines = [json.loads(line) for line in witness.read_text().splitlines()]
    assert lines and lines[-1]["seq"] == head[0] == 3 and lines[-1]["hash"] == head[1]
    assert all(len(line["mac"]) == 64 for line in lines)
    assert all(line["key_start"] == start.mac for line in lines)

    def verify() -> tuple[int, str]:
        result = CliRunner().invoke(
            cli, ["audit", "verify", "-c", str(path), "--witness", str(witness)], env=ENV
        )
        return result.exit_code, result.output

    code, output = verify()
    assert code == 0, output
    assert "entries 1..3 predate the audit key" in output
    # Someone who can write the file cuts the last entry and sets the head back.
    db = sqlite3.connect(config.store.path, isolation_level=None)
    db.execute("DROP TRIGGER access_log_delete_only_checkpointed")
    db.execute("DELETE FROM access_log WHERE seq = 3")
    prev = db.execute("SELECT hash FROM access_log WHERE seq = 2").fetchone()[0]
    db.execute("UPDATE audit_head SET seq = 2, hash = ?", [prev])
    db.close()
    code, output = verify()
    assert code == 1 and "the witness saw entry 3" in output
