"""The daemon killed with SIGKILL at a named step of a call, restarted 1 s later as
``systemd Restart=always`` would (R1, T4): no recording escapes the vault and its
retention clock, nothing of ours stays in Asterisk."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from tests.faults.daemon import DaemonProcess
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import until

CALLER_NUMBER = "+33611115555"
RESTART_AFTER = 1.0  # seconds, as systemd's RestartSec=1


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def call_closed(store: Path) -> bool:
    # Read-write: a read-only reader may miss what is still in the WAL.
    with sqlite3.connect(store, timeout=10) as db:
        return db.execute("SELECT ended_at FROM calls").fetchone()[0] is not None


def stored_recordings(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT state, path FROM recordings")]


def sweep_receipts(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT action, target, details FROM access_log WHERE action LIKE 'sweep_%'"
        ).fetchall()
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def test_r1_t4_killed_while_vaulting_the_file_is_vaulted_after_restart(
    site: SandboxSite, tmp_path: Path
) -> None:
    """Killed after Asterisk finished the file and before it was moved, the call already
    closed in the store (the vault works off the event loop, so the call ends while the
    move is held): the restarted daemon's start-up sweep vaults it, with its receipt."""
    config = fault_config(site, target="Local/alice-talk@sim-agent")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        checks = invariants(site, client)
        await daemon.start(fault_point="vaulting")
        try:
            await daemon.wait_for("ARI events: connected")
            await Switchboard(site.instance, session).call("sales", "c-talk-6", CALLER_NUMBER)
            await daemon.frozen_at("vaulting")
            store = site.workdir / "reccontrol.sqlite3"
            await until(lambda: call_closed(store), "the call's row is closed")
            await daemon.kill()
            files = checks.new_files()
            assert len(files) == 1, "the file is in Asterisk's folder when the daemon dies"

            await asyncio.sleep(RESTART_AFTER)
            restarted = asyncio.get_running_loop().time()
            await daemon.start()
            await checks.hold_within(10.0)
            elapsed = asyncio.get_running_loop().time() - restarted
        finally:
            await daemon.stop()
    # The invariants also hold for a recording given up (discarded or failed, no file):
    # the sweep must have stored this one, in the vault, under its row.
    (recording,) = stored_recordings(site.workdir / "reccontrol.sqlite3")
    assert recording["state"] == "stored", recording
    vaulted = Path(recording["path"])
    assert vaulted.parent == checks.vault and vaulted.is_file()
    assert checks.new_files() == []
    (receipt,) = sweep_receipts(site.workdir / "reccontrol.sqlite3")
    assert receipt["action"] == "sweep_vault"
    assert receipt["details"]["file"] == files[0]
    print(f"measured recovery_seconds={elapsed:.2f}")
