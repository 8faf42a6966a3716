"""Recordings Asterisk cannot write (R1), on the real Asterisk: the recording folder is
made read-only for Asterisk's user. ``POST …/record`` still answers 201; the failure shows
up at once as a recording finished by itself, which must be alerted on the call right
away, retried once, and must never end the call."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.integration.flow import running_flow, service

CALLER_NUMBER = "+33611113333"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.fixture
def unwritable(asterisk: SandboxInstance) -> Iterator[Path]:
    folder = asterisk.recording_dir
    mode = folder.stat().st_mode & 0o7777
    os.chmod(folder, 0o500)
    try:
        yield folder
    finally:
        os.chmod(folder, mode)


async def test_r1_unwritable_recording_folder_alerts_at_once_and_the_call_goes_on(
    site: SandboxSite, unwritable: Path
) -> None:
    services = {"sales": service(site, target="Local/alice-talk@sim-agent")}
    # An earlier test on the same Asterisk may have left files of its own.
    before = set(unwritable.iterdir())
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-9", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        failures = flow.daemon.calls.recording_failures
        bridges, channels = await flow.asterisk_leftovers()

    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    first, second = call["alerts"]
    assert first["kind"] == second["kind"] == "recording_failed"
    assert "ended by itself" in first["message"] and "retrying once" in first["message"]
    assert "goes on unrecorded" in second["message"]
    # At once: seconds before the caller hangs up, not at hang-up.
    ended = dt.datetime.fromisoformat(call["ended_at"])
    assert dt.datetime.fromisoformat(second["at"]) < ended - dt.timedelta(seconds=3)
    assert failures == 2
    assert [r["state"] for r in call["recordings"]] == ["missing", "missing"]
    assert set(unwritable.iterdir()) == before
    assert (bridges, channels) == ([], [])
