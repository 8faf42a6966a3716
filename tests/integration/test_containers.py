"""The container images and the compose file, built and run for real (rootful podman).

Follows the README's "Install with containers": build both images (from a locally
imported Debian base, since no registry is needed), write the site folder (YAML and
secrets), ``podman-compose up -d``, then calls placed through the Asterisk container's
ARI with Local channels, as the other integration tests do. ARI and the daemon's web API
listen on free ports of their own, so this stack never meets the sandbox instances other
tests run; its containers, pod and volumes carry a project name of its own and are
removed by name.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import sqlite3
import stat
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from controller.ari.client import AriClient
from controller.ari.errors import AriError
from controller.config.model import AriSettings
from controller.sandbox import SandboxError
from controller.secrets import Secret
from tests import podman
from tests.audio import plaintext
from tests.integration.conftest import free_port
from tests.waiting import blocking_until, eventually, until

CALLER_NUMBER = "+33612345678"


def site_config(ari_port: int, web_port: int) -> dict[str, Any]:
    """The daemon's YAML for the stack: paths as the containers see them."""
    return {
        "organisation": {
            "name": "ACME Containers",
            "address": "1 rue du Test, 75001 Paris",
            "dpo": {"name": "Claire Dubois", "email": "dpo@acme.example"},
        },
        "timezone": "Europe/Paris",
        "ari": {
            "url": f"http://127.0.0.1:{ari_port}",
            "username": "reccontrol",
            "password_file": "/run/secrets/ari_password",
            "reconnect": {"initial_delay": 0.1, "max_delay": 1},
        },
        "store": {"path": "/var/lib/reccontrol/reccontrol.sqlite3"},
        "recordings": {
            "asterisk_dir": "/recordings/incoming",
            "vault_dir": "/var/lib/reccontrol/vault",
        },
        "privacy": {"caller_hmac_key_file": "/run/secrets/caller_hmac_key"},
        "legal": {"staff_representatives_informed": "2025-01-06"},
        # As the compose file's header lists them: the key and the witness (S7).
        "audit": {
            "checkpoint_key_file": "/run/secrets/audit_key",
            "witness_file": "/var/log/reccontrol-witness/audit-head.log",
            "witness_interval_seconds": 10,
        },
        "web": {"host": "127.0.0.1", "port": web_port},
        # As a site feeding journald or ELK would: one JSON object per line.
        "logging": {"format": "json"},
        "agents": {
            "alice": {
                "name": "Alice Martin",
                "endpoints": ["Local/alice-*"],
                "windows": [{"days": "mon-sun", "from": "00:00", "to": "24:00"}],
            }
        },
        "services": {
            # Every call recorded (an exemption), so each call of the test is sampled.
            "sales": {
                "language": "fr",
                "purposes": ["quality"],
                "announcement": {"sound": "beep", "version": "2026-01"},
                "full_notice": "beep",
                "no_agent_sound": "beep",
                "exemption": {"legal_basis": "test bench: every call is recorded"},
                "target": "Local/alice-talk@sim-agent",
                "answer_timeout": 5,
                "retention_days": 30,
            }
        },
    }


def write_site(root: Path, ari_port: int, web_port: int) -> str:
    """The README's site folder: the YAML and the three secrets, readable by the daemon's
    uid only. Returns the ARI password."""
    password = secrets.token_urlsafe(24)
    (root / "secrets").mkdir(parents=True)
    for name, value in (
        ("ari_password", password),
        ("caller_hmac_key", secrets.token_urlsafe(32)),
        ("audit_key", secrets.token_urlsafe(32)),
    ):
        path = root / "secrets" / name
        path.write_text(value + "\n")
        os.chown(path, podman.RECCONTROL_UID, -1)
        path.chmod(0o400)
    config = root / "reccontrol.yaml"
    config.write_text(yaml.safe_dump(site_config(ari_port, web_port), sort_keys=False))
    config.chmod(0o644)
    return password


def readiness(web_port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/readyz", timeout=2) as answer:
            data: dict[str, Any] = json.load(answer)
            return data
    except OSError:
        return None


def wait_until_connected(stack: podman.Stack, web_port: int, within: float = 60.0) -> None:
    """Until the daemon in the container answers /readyz "ready": it is connected to ARI
    now and its store takes writes (/healthz is liveness only)."""

    def connected() -> bool | None:
        state = readiness(web_port)
        return True if state is not None and state.get("status") == "ready" else None

    try:
        blocking_until(connected, "the daemon in its container connected to ARI", within)
    except AssertionError as exc:
        logs = stack.logs("reccontrol")
        raise AssertionError(f"{exc}: {readiness(web_port)}\n{logs.stdout}{logs.stderr}") from None


class Site:
    """The running stack, seen from the host: ARI, the store and the volumes."""

    def __init__(self, stack: podman.Stack, web_port: int, password: str) -> None:
        self.stack = stack
        self.web_port = web_port
        self.password = password

    @property
    def vault_volume(self) -> Path:
        return self.stack.volume_path("vault")

    @property
    def incoming(self) -> Path:
        return self.stack.volume_path("recordings")

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Reads the daemon's store, read-only, while it runs (WAL allows it)."""
        path = self.vault_volume / "reccontrol.sqlite3"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, args)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    async def wait_rows(
        self, sql: str, *args: Any, count: int = 1, within: float = 30.0
    ) -> list[dict[str, Any]]:

        async def enough() -> list[dict[str, Any]] | None:
            rows = await asyncio.to_thread(self.rows, sql, *args)
            return rows if len(rows) >= count else None

        return await eventually(enough, f"{count} row(s) for {sql!r}", within, every=0.1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    try:
        images = podman.build_images()
    except (podman.PodmanError, SandboxError, OSError) as exc:
        pytest.fail(f"cannot build the images: {exc}", pytrace=False)
    ari_port, web_port = free_port(), free_port()
    root = tmp_path_factory.mktemp("container-site")
    password = write_site(root, ari_port, web_port)
    stack = podman.Stack(f"rcct{os.getpid()}", root, ari_port, images)
    stack.remove()
    try:
        stack.compose("up", "-d")
        wait_until_connected(stack, web_port)
        yield Site(stack, web_port, password)
    finally:
        stack.remove()


@pytest.fixture
async def ari(site: Site) -> AsyncIterator[AriClient]:
    settings = AriSettings(
        url=f"http://127.0.0.1:{site.stack.ari_port}",
        username="reccontrol",
        password=Secret(site.password, "test"),
    )
    async with aiohttp.ClientSession() as session:
        yield AriClient(settings, session)


async def place_call(ari: AriClient, caller_script: str) -> str:
    channel = await ari.originate(
        "Local/sales@sim-entry",
        context="sim-caller",
        extension=caller_script,
        variables={"SIM_CALLER_NUMBER": CALLER_NUMBER},
    )
    return channel.id


async def live_recording(ari: AriClient, name: str) -> dict[str, Any] | None:
    try:
        answer = await ari.request("GET", f"/recordings/live/{name}")
    except AriError:
        return None
    return dict(answer) if answer else None


async def wait_recording(
    ari: AriClient, name: str, *, live: bool, within: float = 15.0
) -> dict[str, Any] | None:
    """Until Asterisk reports the recording live (or no longer live). The daemon writes
    its row before it asks Asterisk to record, and a recording ends a moment after its
    bridge empties: both are waited for, never assumed."""

    async def reported() -> tuple[dict[str, Any] | None] | None:
        state = await live_recording(ari, name)
        return (state,) if (state is not None) == live else None

    (state,) = await eventually(reported, f"recording {name} live={live}", within, every=0.1)
    return state


async def wait_gone(ari: AriClient, channel_ids: set[str], within: float = 15.0) -> None:

    async def gone() -> bool | None:
        return None if {c.id for c in await ari.list_channels()} & channel_ids else True

    await eventually(gone, f"channels {sorted(channel_ids)} gone", within, every=0.1)


async def test_sampled_call_lands_in_the_vault_0600_with_row_and_hash_S4(
    site: Site, ari: AriClient
) -> None:
    """S4: a recorded call's WAV leaves Asterisk's shared folder for the vault volume,
    0600 and owned by the daemon's user, with its row (stored, SHA-256, duration).

    The permission question of the images: Asterisk writes as uid/gid 990 into the shared
    folder, the daemon runs as uid 991 in group 990 (same gid in both images) and must be
    able to read and remove the file; nobody else can read it there or in the vault."""
    await place_call(ari, "c-talk-3")
    rows = await site.wait_rows("SELECT * FROM recordings WHERE state = 'stored'", within=40.0)
    row = rows[0]
    vault = site.vault_volume / "vault"
    path = vault / Path(row["path"]).name
    assert Path(row["path"]).parent == Path("/var/lib/reccontrol/vault")
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == podman.RECCONTROL_UID
    assert stat.S_IMODE(vault.stat().st_mode) == 0o700
    assert hashlib.sha256(plaintext(path)).hexdigest() == row["sha256"]
    assert row["duration_seconds"] > 1.0
    assert "quality" in row["purposes"]
    call = site.rows("SELECT * FROM calls WHERE id = ?", row["call_id"])[0]
    assert call["recorded"] == 1 and call["ended_at"] is not None
    # The caller number is kept only as a keyed hash.
    assert CALLER_NUMBER not in json.dumps(call) and call["caller_hash"]
    # Moved, not copied: nothing of it is left where ARI's /recordings/stored reads.
    assert not list(site.incoming.glob(f"{row['name']}.*"))
    shared = site.incoming.stat()
    assert stat.S_IMODE(shared.st_mode) == 0o2770
    assert (shared.st_uid, shared.st_gid) == (podman.ASTERISK_GID, podman.ASTERISK_GID)


async def test_controller_restart_mid_call_carries_the_call_on_R1(
    site: Site, ari: AriClient
) -> None:
    """R1: restarting the daemon's container mid-call does not cut the call (caller and
    agent stay bridged while it is away), and the new daemon carries it on: the
    recording that ran while nobody heard the agent's keys is discarded (A2, as after an
    ARI cut), and when the caller hangs up it ends the agent's leg and the bridge."""
    caller = await place_call(ari, "c-talk-120")
    rows = await site.wait_rows(
        "SELECT r.name, r.call_id FROM recordings r JOIN calls c ON c.id = r.call_id "
        "WHERE r.state = 'live' AND c.ended_at IS NULL",
        within=30.0,
    )
    name, call_id = rows[0]["name"], rows[0]["call_id"]
    await wait_recording(ari, name, live=True)
    bridges_before = [b for b in await ari.request("GET", "/bridges") if len(b["channels"]) == 2]
    assert len(bridges_before) == 1
    bridge = bridges_before[0]

    await asyncio.to_thread(
        podman.podman, "restart", "--time", "20", site.stack.container("reccontrol")
    )
    await asyncio.to_thread(wait_until_connected, site.stack, site.web_port)

    # The call is still there, both parties bridged; what was recorded unheard is gone.
    after = {b["id"]: b for b in await ari.request("GET", "/bridges")}
    assert sorted(after[bridge["id"]]["channels"]) == sorted(bridge["channels"])
    assert caller in {c.id for c in await ari.list_channels()}
    await site.wait_rows(
        "SELECT state FROM recordings WHERE name = ? AND state = 'discarded'", name
    )

    # The caller hangs up: the new daemon ends the agent's leg, the bridge and the file.
    await ari.hangup(caller)
    await wait_gone(ari, {caller, *bridge["channels"]})
    await wait_recording(ari, name, live=False)
    (ended,) = await site.wait_rows(
        "SELECT outcome FROM calls WHERE id = ? AND ended_at IS NOT NULL", call_id
    )
    assert ended["outcome"] == "caller_hung_up"
    assert bridge["id"] not in {b["id"] for b in await ari.request("GET", "/bridges")}
    assert list(site.incoming.glob(f"{name}.*")) == []
    assert (await asyncio.to_thread(readiness, site.web_port) or {}).get("status") == "ready"


async def test_podman_logs_show_the_daemon_log(site: Site) -> None:
    """`podman logs` shows the daemon's log, both runs of it (before and after the
    restart), one JSON object per line (logging.format: json); no caller number in it."""
    logs = site.stack.logs("reccontrol")
    lines = [line for line in (logs.stdout + logs.stderr).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    messages = [entry["message"] for entry in entries]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert sum(m.startswith("ARI events: connected") for m in messages) >= 2
    assert any(m.startswith("recording ") and " stored: " in m for m in messages)
    assert any("schema version" in m for m in messages)
    text = "\n".join(lines)
    assert CALLER_NUMBER not in text and CALLER_NUMBER[1:] not in text


async def test_stack_runs_keyed_and_confined_S7_S4(site: Site) -> None:
    """S7, S4: the compose file as shipped gives a keyed daemon (the key start is signed,
    no unkeyed alert) that publishes its witness into its volume; both containers run
    with a read-only root, no new privileges, the daemon with no capability; the store
    is 0600 in a 0700 folder."""
    (start,) = await site.wait_rows("SELECT * FROM audit_key_start")
    assert start["mac"]
    assert site.rows("SELECT kind FROM alerts WHERE kind LIKE 'audit_%'") == []
    witness = site.stack.volume_path("witness") / "audit-head.log"
    await until(
        lambda: witness.exists() and bool(witness.read_text().strip()),
        "the daemon's first witness line",
    )
    for service in ("reccontrol", "asterisk"):
        host = site.stack.inspect(service)["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert any("no-new-privileges" in opt for opt in host["SecurityOpt"] or []), service
    daemon = site.stack.inspect("reccontrol")
    assert not daemon.get("EffectiveCaps"), daemon.get("EffectiveCaps")
    state = site.vault_volume
    assert stat.S_IMODE((state / "reccontrol.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "reccontrol.sqlite3-wal").stat().st_mode) == 0o600


def test_stack_stops_cleanly(site: Site) -> None:
    """`podman-compose down` stops both containers on SIGTERM, exit code 0, and removes
    them; the volumes (store, vault) stay."""
    site.stack.compose("stop")
    for service in ("reccontrol", "asterisk"):
        state = site.stack.inspect(service)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), (service, state)
    site.stack.compose("down")
    for service in ("reccontrol", "asterisk"):
        exists = podman.podman("container", "exists", site.stack.container(service), check=False)
        assert exists.returncode == 1, service
    vault = site.vault_volume / "vault"
    assert any(vault.iterdir())
