"""The daemon killed with SIGKILL while MixMonitor records a call that came over FastAGI,
restarted 1 s later as ``systemd Restart=always`` would (R1): MixMonitor keeps writing
meanwhile, and the file ends in the vault exactly once, whether the call ends after the
restart (its hang-up hook vaults it) or while the daemon is down (the restarted daemon
finds the caller gone and takes the file in)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.ari import AriClient
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import plaintext
from tests.faults.daemon import DaemonProcess
from tests.faults.site import direct_client, fault_config, invariants
from tests.integration.conftest import free_port
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611117777"
RESTART_AFTER = 1.0  # seconds, as systemd's RestartSec=1


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def rows(store: Path, sql: str) -> list[dict[str, Any]]:
    # Read-write: a read-only reader may miss what is still in the WAL.
    with sqlite3.connect(store, timeout=10) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql)]


def recording_live(store: Path) -> bool:
    return bool(rows(store, "SELECT 1 FROM recordings WHERE state = 'live'"))


def recorded_bytes(site: SandboxSite, before: frozenset[Path]) -> int:
    """What MixMonitor wrote so far into the files this test's call made."""
    files = set(site.instance.recording_dir.glob("*.wav")) - before
    return sum(f.stat().st_size for f in files)


async def site_call(client: AriClient, port: int, caller_script: str) -> None:
    """A caller into the dialplan-only site (``sim-agi-dial``), dialling Alice with the
    shipped connected subroutine."""
    await client.originate(
        "Local/sales@sim-agi-dial",
        context="sim-caller",
        extension=caller_script,
        variables={
            "__RECCONTROL_AGI": f"127.0.0.1:{port}",
            "SIM_TAG": secrets.token_hex(4),
            "SIM_CALLER_NUMBER": CALLER_NUMBER,
            "SIM_AGENT": "Local/alice-talk@sim-agent/n",
        },
    )


async def no_channels(client: AriClient) -> None:
    async def gone() -> bool | None:
        return True if not await client.list_channels() else None

    await eventually(gone, "every channel of the call hung up", 40.0)


def assert_vaulted_once(site: SandboxSite, vault: Path) -> dict[str, Any]:
    store = site.workdir / "reccontrol.sqlite3"
    (recording,) = rows(store, "SELECT * FROM recordings")
    assert recording["state"] == "stored", recording
    path = Path(recording["path"])
    assert sorted(vault.iterdir()) == [path]
    assert hashlib.sha256(plaintext(path)).hexdigest() == recording["sha256"]
    assert recording["duration_seconds"] > 1.0
    (call,) = rows(store, "SELECT * FROM calls")
    assert call["path"] == "agi" and call["ended_at"] is not None and call["recorded"] == 1
    return call


@pytest.mark.parametrize("ends", ["after_restart", "while_down"])
async def test_r1_killed_while_mixmonitor_records_the_file_is_vaulted_once(
    site: SandboxSite, tmp_path: Path, ends: str
) -> None:
    """``after_restart``: the caller is still talking when the daemon comes back; the
    restarted daemon leaves the call open, the orphan sweep leaves the growing file
    alone, and the hang-up hooks vault it and close the call. ``while_down``: the call
    ends before the restart, its hooks reach nobody; the restarted daemon finds the
    caller's channel gone, takes the file in and closes the call as interrupted."""
    port = free_port()
    agi = {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}
    config = fault_config(site, target="Local/alice-talk@sim-agent", agi=agi)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    store = site.workdir / "reccontrol.sqlite3"
    talk = 15 if ends == "after_restart" else 7
    before = frozenset(site.instance.recording_dir.glob("*.wav"))
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        checks = invariants(site, client)
        await daemon.start()
        try:
            await daemon.wait_for("ARI events: connected")
            await site_call(client, port, f"c-talk-{talk}")
            await until(lambda: recording_live(store), "MixMonitor records the call", 30.0)
            # The row is written before MixMonitor is started (a file never exists without
            # its row): killed between the two, there is no file, and the restarted daemon
            # rightly marks the row missing. This test is about a file being written.
            await until(lambda: recorded_bytes(site, before) > 16000, "a second recorded", 30.0)
            await daemon.kill()
            if ends == "while_down":
                await no_channels(client)
            await asyncio.sleep(RESTART_AFTER)
            await daemon.start()
            await daemon.wait_for("ARI events: connected")
            if ends == "after_restart":
                assert await client.list_channels(), "the call outlived the restart"
                await no_channels(client)
            await checks.hold_within(20.0)
            await until(lambda: bool(rows(store, "SELECT 1 FROM calls WHERE ended_at")), "closed")
        finally:
            await daemon.stop()
    call = assert_vaulted_once(site, checks.vault)
    assert checks.new_files() == []
    expected = "completed" if ends == "after_restart" else "interrupted"
    assert call["outcome"] == expected
