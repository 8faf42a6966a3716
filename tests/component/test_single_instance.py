"""One controller per Stasis application (R1): a second ``reccontrol run`` stops with one
line naming the running instance before it touches ARI, and a busy web port stops the
daemon before it can take the application's events from another one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from controller.instance import AlreadyRunning, InstanceLock, lock_path
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri
from tests.integration.conftest import free_port
from tests.sites import ENV, site_config, write_site


@dataclass
class Site:
    config: Path
    store: Path
    port: int
    fake: FakeAri


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    data = site_config(tmp_path)
    data["ari"] = {
        "url": str(server.make_url("")).rstrip("/"),
        "username": USERNAME,
        "password_env": "FAKE_ARI_PASSWORD",
    }
    port = free_port()
    data["web"] = {"host": "127.0.0.1", "port": port}
    (tmp_path / "asterisk").mkdir()
    yield Site(write_site(tmp_path, data), tmp_path / "store.sqlite3", port, fake)
    await server.close()


async def reccontrol_run(site: Site) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "run",
        "-c",
        str(site.config),
        env={**os.environ, **ENV, "FAKE_ARI_PASSWORD": PASSWORD},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, list[str]]:
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode().strip().splitlines()


async def test_r1_second_instance_names_the_running_one_and_leaves_ari_alone(site: Site) -> None:
    first = await reccontrol_run(site)
    try:
        await asyncio.wait_for(site.fake.connected.wait(), 60)
        code, lines = await finished(await reccontrol_run(site))
        assert code == 1
        assert lines == [
            f"error: reccontrol is already running for this store (pid {first.pid} holds "
            f"{lock_path(site.store)})"
        ]
        # The newcomer never reached ARI: the first daemon keeps the application.
        assert site.fake.connections == 1
        assert len(site.fake.sockets) == 1 and not site.fake.sockets[0].closed
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 60)
    assert first.returncode == 0
    # The lock went with the process: a new daemon could start now.
    lock = InstanceLock(lock_path(site.store))
    lock.acquire()
    lock.release()


async def test_r1_lock_is_taken_before_the_store_is_opened(site: Site) -> None:
    held = InstanceLock(lock_path(site.store))
    held.acquire()
    try:
        code, lines = await finished(await reccontrol_run(site))
    finally:
        held.release()
    assert code == 1 and len(lines) == 1
    assert f"pid {os.getpid()}" in lines[0]
    assert not site.store.exists()
    assert site.fake.requests == []


async def test_r1_busy_web_port_stops_the_daemon_before_ari(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", site.port))
        taken.listen()
        code, lines = await finished(await reccontrol_run(site))
    assert code == 1
    assert len(lines) == 1 and "127.0.0.1:" in lines[0] and "(web.port)" in lines[0]
    assert "Traceback" not in "\n".join(lines)
    assert site.fake.requests == []


def test_r1_lock_held_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path / "store.sqlite3.lock")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            InstanceLock(tmp_path / "store.sqlite3.lock").acquire()
    finally:
        first.release()


def test_r1_lock_file_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me")
    (tmp_path / "store.sqlite3.lock").symlink_to(target)
    with pytest.raises(OSError):
        InstanceLock(tmp_path / "store.sqlite3.lock").acquire()
    assert target.read_text() == "keep me"


def test_lock_creates_the_store_folder_0700_and_itself_0600_S3(tmp_path: Path) -> None:
    """S3: the lock is taken before the store is opened, so the folder it creates is the
    store's: 0700 from the start, and the lock file (a pid) 0600."""
    store = tmp_path / "state" / "store.sqlite3"
    lock = InstanceLock(lock_path(store))
    lock.acquire()
    try:
        assert oct(store.parent.stat().st_mode & 0o777) == "0o700"
        assert oct(lock_path(store).stat().st_mode & 0o777) == "0o600"
    finally:
        lock.release()
