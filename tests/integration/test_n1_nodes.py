"""Two nodes on one PostgreSQL store (N1), each a sandbox Asterisk with its own daemon
(a real process, as ``reccontrol run`` starts it), against a PostgreSQL server the
harness started: objections, purges and the access log are node-wide, and each node
adopts only its own calls after a crash."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from controller.store.postgresql_store import PostgresStore
from tests.factories import receipted
from tests.faults.daemon import DaemonProcess
from tests.faults.site import fault_config
from tests.postgresql import PostgresServer
from tests.waiting import eventually

OBJECTOR = "+33612340001"
KEPT_ON = "+33612340002"
OTHER = "+33612340003"
TARGET = "Local/alice-talk@sim-agent"
# How long the call node A is killed in keeps talking: the kill, node B's own call and
# A's restart all happen within it.
LONG_CALL = "c-talk-30"


def node_config(site: SandboxSite, postgres: PostgresServer, url: str, node: str) -> Path:
    password = site.workdir / "store-password"
    password.write_text(postgres.password + "\n", encoding="utf-8")
    password.chmod(0o600)
    store = {"url": url, "password_file": str(password), "node": node}
    # The orphan sweep runs often, so that a node sweeping the other's calls would show.
    return fault_config(
        site,
        target=TARGET,
        store=store,
        recordings={
            "asterisk_dir": str(site.instance.recording_dir),
            "vault_dir": str(site.workdir / "vault"),
            "sweep_minutes": 0.05,
        },
    )


@asynccontextmanager
async def node(path: Path, log: Path) -> AsyncIterator[DaemonProcess]:
    daemon = DaemonProcess(path, log)
    await daemon.start()
    try:
        await daemon.wait_for("ARI events: connected")
        yield daemon
    finally:
        await daemon.stop()


async def query(store: PostgresStore, sql: str, *params: Any) -> list[dict[str, Any]]:
    return await asyncio.to_thread(lambda: list(store.db.query(sql, list(params))))


async def ended_call(store: PostgresStore, node_name: str, number_of: int) -> dict[str, Any]:
    """The ``number_of``-th call of ``node_name`` (1 = first), once it has ended."""

    async def probe() -> dict[str, Any] | None:
        rows = await query(
            store,
            "SELECT * FROM calls WHERE node = ? ORDER BY started_at, rowid",
            node_name,
        )
        if len(rows) >= number_of and rows[number_of - 1]["ended_at"]:
            return rows[number_of - 1]
        return None

    return await eventually(probe, f"call {number_of} of {node_name} ended", within=60)


async def settled(store: PostgresStore, call_id: str) -> list[str]:
    """The states of the call's recordings once none is live any more (the file is
    sealed into the vault a moment after the call's row ends)."""

    async def probe() -> list[str] | None:
        rows = await query(store, "SELECT state FROM recordings WHERE call_id = ?", call_id)
        states = [str(r["state"]) for r in rows]
        return None if "live" in states else states

    return await eventually(probe, f"the recordings of call {call_id} settled", within=30)


async def cli(*args: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()


async def test_n1_r1_t4_s3_c4_two_nodes_share_one_store(
    asterisk: SandboxInstance,
    own_asterisk: SandboxInstance,
    postgres: PostgresServer,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """N1: an objection made on node A is remembered on node B (C4); node A killed
    mid-call, node B keeps recording and leaves A's call alone, and A adopts it when it
    returns (R1); both nodes purging at once leave every receipt exactly once (T4); the
    one access log verifies (S3)."""
    site_a = SandboxSite(asterisk, tmp_path / "a")
    site_b = SandboxSite(own_asterisk, tmp_path / "b")
    site_a.prepare()
    site_b.workdir.mkdir(mode=0o700)
    # One site: the same caller key (an objection is found by its HMAC) and audit key.
    for name in ("caller-hmac-key", "audit-key"):
        shutil.copy2(site_a.workdir / name, site_b.workdir / name)
    config_a = node_config(site_a, postgres, postgres_url, "node-a")
    config_b = node_config(site_b, postgres, postgres_url, "node-b")
    store = await asyncio.to_thread(
        PostgresStore.connect, postgres_url, password=Secret(postgres.password)
    )
    try:
        async with (
            aiohttp.ClientSession() as session,
            node(config_b, tmp_path / "node-b.log"),
        ):
            board_a = Switchboard(site_a.instance, session)
            board_b = Switchboard(site_b.instance, session)
            daemon_a = DaemonProcess(config_a, tmp_path / "node-a.log")
            await daemon_a.start()
            try:
                await daemon_a.wait_for("ARI events: connected")
                # C4 across nodes: the objection on A stops the recording on B.
                await board_a.call("sales", "c-key-9-1-3", OBJECTOR)
                objected = await ended_call(store, "node-a", 1)
                await board_b.call("sales", "c-talk-6", OBJECTOR)
                remembered = await ended_call(store, "node-b", 1)
                decisions = await query(
                    store, "SELECT reason FROM decisions WHERE call_id = ?", remembered["id"]
                )
                assert [d["reason"] for d in decisions] == ["remembered_objection"], (
                    remembered, (tmp_path / "node-b.log").read_text()[-3000:]
                )
                assert objected["caller_hash"] == remembered["caller_hash"]

                # A killed mid-call: B keeps working and leaves A's call as it is.
                await board_a.call("sales", LONG_CALL, KEPT_ON)

                async def live_on_a() -> str | None:
                    # The call's decision stored too: the kill lands after both writes,
                    # the moment this test is about (which node adopts, which sweeps).
                    rows = await query(
                        store,
                        "SELECT r.id FROM recordings r JOIN decisions d ON d.call_id = "
                        "r.call_id WHERE r.node = 'node-a' AND r.state = 'live'",
                    )
                    return str(rows[0]["id"]) if rows else None

                await eventually(live_on_a, "node A records its call", within=30)
                await daemon_a.kill()
                await board_b.call("sales", "c-talk-6", OTHER)
                kept_working = await ended_call(store, "node-b", 2)
                assert await settled(store, kept_working["id"]) == ["stored"]
                (left,) = await query(
                    store, "SELECT * FROM calls WHERE node = 'node-a' AND ended_at IS NULL"
                )
                assert await live_on_a() is not None, "node B swept node A's live recording"

                # A returns and adopts its own call, which then ends as calls end.
                await daemon_a.start()
                await daemon_a.wait_for("ARI events: connected")
                adopted = await ended_call(store, "node-a", 2)
                assert adopted["id"] == left["id"]
                assert (adopted["outcome"], adopted["agent_id"]) == ("caller_hung_up", "alice")
                # What was recorded while A was down is discarded by A, as after an ARI
                # cut (a key could have gone unheard); never called missing by B.
                assert await settled(store, adopted["id"]) == ["discarded"]
                await board_a.call("sales", "c-talk-6", OTHER)
                last = await ended_call(store, "node-a", 3)
                assert await settled(store, last["id"]) == ["stored"]
            finally:
                await daemon_a.stop()

        # Both nodes purge at the same moment once every recording has expired.
        stored = await query(store, "SELECT id, node FROM recordings WHERE state = 'stored'")
        assert sorted(r["node"] for r in stored) == ["node-a", "node-b"], stored
        await asyncio.to_thread(
            store.db.execute,
            "UPDATE recordings SET expires_at = '2000-01-01T00:00:00.000Z' "
            "WHERE state = 'stored'",
        )
        codes = await asyncio.gather(
            cli("purge", "-c", str(config_a)), cli("purge", "-c", str(config_b))
        )
        assert list(codes) == [0, 0]
        receipts = [
            r["recording_id"]
            for r in receipted(await asyncio.to_thread(lambda: list(store.access_entries())))
        ]
        assert sorted(map(str, receipts)) == sorted(str(r["id"]) for r in stored)
        assert await query(store, "SELECT id FROM recordings WHERE state = 'stored'") == []
        assert await cli("audit", "verify", "-c", str(config_a)) == 0
        assert await cli("audit", "verify", "-c", str(config_b)) == 0
    finally:
        await asyncio.to_thread(store.close)
