"""The vault's disk full (T4, R1): a small tmpfs holds the vault. The finished recording
stays in Asterisk's folder with an alert on its call, its row live; once space returns the
sweep vaults it, once: nothing lost, nothing duplicated, no half copy left behind."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from controller.web.keys import SWEEPER
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import eventually

CALLER_NUMBER = "+33611117777"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.fixture
def small_vault(site: SandboxSite) -> Iterator[Path]:
    vault = site.workdir / "vault"
    vault.mkdir(parents=True, mode=0o700)
    # 16 KiB: far less than the 2 s of 8 kHz audio a call leaves (32 KiB a second).
    mount = ["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", str(vault)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the vault: {done.stderr.strip()}", pytrace=False)
    try:
        yield vault
    finally:
        subprocess.run(["umount", str(vault)], check=False)


async def test_t4_vault_full_keeps_the_file_then_vaults_it_once_space_returns(
    site: SandboxSite, small_vault: Path
) -> None:
    config = load_config(fault_config(site, target="Local/alice-talk@sim-agent"))
    daemon = RunningDaemon(config)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            checks = invariants(site, direct_client(site.instance, session))
            await Switchboard(site.instance, session).call("sales", "c-talk-6", CALLER_NUMBER)

            async def failed_call() -> dict[str, Any] | None:
                calls = await daemon.query(lambda s: [s.call_summary(i) for i in s.call_ids()])
                if calls and calls[0]["ended_at"] and calls[0]["alerts"]:
                    return dict(calls[0])
                return None

            call = await eventually(failed_call, "the call ended with a vault alert")
            (alert,) = call["alerts"]
            assert alert["kind"] == "vault_failed"
            assert "No space left on device" in alert["message"]
            assert [r["state"] for r in call["recordings"]] == ["live"]
            name = call["recordings"][0]["name"]
            assert checks.new_files() == [f"{name}.wav"]
            assert list(small_vault.iterdir()) == [], "no half copy is left in the vault"

            # Still full: the sweep leaves everything where it is.
            sweeper = daemon.app[SWEEPER]
            assert (await sweeper.sweep()).vaulted == 0
            assert checks.new_files() == [f"{name}.wav"]

            remount = ["mount", "-o", "remount,size=16m", str(small_vault)]
            await asyncio.to_thread(subprocess.run, remount, check=True)
            report = await sweeper.sweep()
            assert report.vaulted == 1
            recovered = await checks.hold_within(5.0)
            assert (await sweeper.sweep()).vaulted == 0
    finally:
        await daemon.stop()
    assert [p.name for p in small_vault.iterdir()] == [f"{name}.wav"]
    print(f"measured invariants_after_space_returns_seconds={recovered:.2f}")
