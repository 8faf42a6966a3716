"""An ARI reconnect re-checks the FastAGI calls still open, while their hang-up hooks
keep reaching the daemon: a caller who hangs up during that check is closed by the hook,
whose outcome stands (R1). The router against the fake ARI, the real hang-up script over
a hand-driven FastAGI session, a real store and vault."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from controller.agi.hooks import HangupScript
from controller.agi.recorder import AgiRecorder
from controller.agi.server import AgiServer
from controller.calls.asterisk_view import AsteriskView
from controller.clock import FixedClock
from controller.config.model import AgiSettings
from controller.recordings import LocalVault
from controller.records import CallStart, Decision
from controller.store import SqliteStore
from tests.component.fake_agi import FakeAsterisk, header
from tests.component.test_call_router import running_rig
from tests.integration.conftest import free_port
from tests.sites import load_site, wav_bytes
from tests.waiting import eventually

STARTED = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
CALL_ID = "a91ca11a91ca11a9"
CALLER_CHANNEL = "1733541234.42"
AGENT_CHANNEL = "1733541234.43"
NAME = "f" * 40


def handed_back_and_recorded(store: SqliteStore) -> None:
    """The rows of a FastAGI call whose agent answered and is recorded by MixMonitor."""
    start = CallStart(CALL_ID, "sales", "inbound", STARTED, "h1", CALLER_CHANNEL, path="agi")
    store.begin_call(start, "v1")
    store.announcement_heard(CALL_ID)
    decision = Decision(CALL_ID, STARTED, True, "sampled", 0.5, 0.1, True, "office", "alice")
    store.record_decision(decision)
    store.open_recording("r1", CALL_ID, NAME, "wav", ("quality",), STARTED, 90)


async def hang_up(port: int, uniqueid: str, channel: str, holds_mixmonitor: bool) -> None:
    """Asterisk running the shipped hang-up handler of one of the call's channels."""
    asterisk = await FakeAsterisk.connect(port)
    block = header("hangup", uniqueid=uniqueid).replace(b"PJSIP/trunk-00000001", channel.encode())
    await asterisk.send(block)
    mixmonitor = "200 result=1 (RECCONTROL_MIXMONITOR)" if holds_mixmonitor else "200 result=0"
    await asterisk.serve(
        {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({CALL_ID})",
            'GET VARIABLE "RECCONTROL_MIXMONITOR"': mixmonitor,
        }
    )


async def reconnect(tmp_path: Path, *, hooks_run: bool) -> tuple[dict[str, Any], list[Path]]:
    """A reconnect's check of the open FastAGI call, with both channels gone from
    Asterisk; ``hooks_run``: their hang-up hooks reach the daemon between the read of
    the open calls and the question to Asterisk. Returns the call once settled, and the
    files left in Asterisk's folder and the vault."""
    async with running_rig(tmp_path) as rig:
        config = load_site(tmp_path / "reccontrol.yaml")
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
        clock = FixedClock(STARTED + dt.timedelta(minutes=2))
        recorder = AgiRecorder(config, rig.store, vault, clock)
        hangup = HangupScript(config, rig.store, recorder, clock, random.Random(7))
        server = AgiServer(AgiSettings(port=free_port()), {"hangup": hangup})
        await server.start()
        try:
            await rig.store.run(handed_back_and_recorded)
            (config.recordings.asterisk_dir / f"{NAME}.wav").write_bytes(wav_bytes(1.0))
            look = rig.executor.asterisk.lists

            async def view_after_the_hang_up() -> AsteriskView | None:
                if hooks_run:
                    # The barrier: the hooks run to their end before Asterisk is asked.
                    agent = "Local/alice-talk@sim-agent-00000001;1"
                    await hang_up(server.port, AGENT_CHANNEL, agent, holds_mixmonitor=True)
                    await hang_up(server.port, CALLER_CHANNEL, "PJSIP/trunk-00000001", False)
                return await look()

            rig.executor.asterisk.lists = view_after_the_hang_up  # type: ignore[method-assign]
            rig.fake.answers[("GET", "/ari/channels")] = (200, [])  # both channels are gone
            rig.fake.answers[("GET", "/ari/bridges")] = (200, [])
            app = {"name": "reccontrol", "channel_ids": [], "bridge_ids": [], "endpoint_ids": []}
            application = app | {"device_names": []}
            rig.fake.answers[("GET", "/ari/applications/reccontrol")] = (200, application)
            await rig.router.adopt_open_calls()

            async def settled() -> dict[str, Any] | None:
                call = await rig.store.run(lambda s: s.call_summary(CALL_ID))
                assert call is not None
                live = any(r["state"] == "live" for r in call["recordings"])
                return None if live or rig.executor.settling or recorder.in_hand else call

            call = await eventually(settled, "the call settled")
            files = sorted(config.recordings.vault_dir.glob("*"))
            files += sorted(config.recordings.asterisk_dir.glob("*"))
        finally:
            await server.stop()
    return call, files


async def test_r1_a_hang_up_during_a_reconnects_check_keeps_the_hooks_outcome(
    tmp_path: Path,
) -> None:
    """The reconnect reads the open calls, then asks Asterisk what it has; in between,
    the agent's and the caller's hang-up hooks run (the agent's vaults the file, the
    caller's closes the call ``completed``), so Asterisk no longer has the caller. The
    call stays ``completed``, its recording ``stored`` with the one file in the vault,
    and no alert is raised on it."""
    call, files = await reconnect(tmp_path, hooks_run=True)

    assert (call["outcome"], call["agent_id"]) == ("completed", "alice")
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and json.loads(rec["purposes"]) == ["quality"]
    assert files == [Path(rec["path"])]
    assert call["alerts"] == []


async def test_r1_a_caller_gone_unheard_is_still_closed_interrupted_with_its_file(
    tmp_path: Path,
) -> None:
    """No hook reached the daemon (the caller left while nobody listened): the check
    closes the call ``interrupted`` and takes the file MixMonitor wrote into the vault."""
    call, files = await reconnect(tmp_path, hooks_run=False)

    assert (call["outcome"], call["agent_id"]) == ("interrupted", "alice")
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and files == [Path(rec["path"])]
