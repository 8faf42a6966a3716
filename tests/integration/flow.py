"""Shared set-up for call-flow tests: a site on the sandbox, the daemon, a switchboard,
and the evidence left behind (store rows, files, Asterisk's own state)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from controller.ari.errors import AriError
from controller.clock import Clock, ShiftedClock
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.demo.site import paris_weekday_10h as office_hours
from tests.waiting import DEFAULT_WITHIN, eventually

ANNOUNCEMENT_MARKER = 1800.0
NOTICE_MARKER = 2000.0
CALLER_VOICE = 500.0
AGENT_VOICE = 1100.0
ANNOUNCEMENT_SECONDS = 3.0
OPT_OUT = "9"
FULL_NOTICE = "0"


def standard_agents() -> dict[str, Any]:
    office = [{"days": "mon-fri", "from": "09:00", "to": "18:00"}]
    return {
        "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": office},
        "bruno": {
            "name": "Bruno Petit",
            "endpoints": ["Local/bruno-*"],
            "windows": office,
            "protected": True,
            "protection_reason": "staff representative",
        },
        "chloe": {
            "name": "Chloé Roux",
            "endpoints": ["Local/chloe-*"],
            "windows": [{"days": "sat-sun", "from": "09:00", "to": "18:00"}],
        },
    }


def service(
    site: SandboxSite, target: str = "Local/alice-talk@sim-agent", **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "language": "fr",
        "purposes": ["training", "quality"],
        "announcement": {
            "sound": site.tone_sound("announce", [(ANNOUNCEMENT_MARKER, ANNOUNCEMENT_SECONDS)]),
            "version": "2026-01",
        },
        "full_notice": site.tone_sound("notice", [(NOTICE_MARKER, 2.0)]),
        "no_agent_sound": site.tone_sound("no-agent", [(700.0, 1.0)]),
        "caller_keys": {"opt_out": OPT_OUT, "full_notice": FULL_NOTICE},
        "sampling": {"rate": 0.5},
        "target": target,
        "answer_timeout": 5,
        "retention_days": 90,
    }
    data.update(extra)
    return data


@dataclass
class Flow:
    site: SandboxSite
    daemon: RunningDaemon
    board: Switchboard
    preexisting: frozenset[Path] = frozenset()
    """Files already in Asterisk's recording folder when the flow started: an earlier
    test on the same Asterisk may have left its own there."""

    @property
    def vault(self) -> Path:
        return self.site.workdir / "vault"

    def vault_files(self) -> list[Path]:
        return sorted(self.vault.glob("*")) if self.vault.exists() else []

    def asterisk_files(self) -> list[Path]:
        """What Asterisk wrote into its recording folder during this flow."""
        return sorted(set(self.site.instance.recording_dir.glob("*")) - self.preexisting)

    async def asterisk_leftovers(
        self, within: float = DEFAULT_WITHIN
    ) -> tuple[list[Any], list[Any]]:
        """Bridges and channels still in Asterisk: none once a finished flow's hang-ups
        have completed (they take a moment, longer on a loaded machine), so this waits for
        that, and returns what is still there only if it never happens."""
        left: tuple[list[Any], list[Any]] = ([], [])

        async def cleared() -> bool | None:
            nonlocal left
            bridges = list(await self.board.client.request("GET", "/bridges") or [])
            left = (bridges, await self.board.client.list_channels())
            return True if left == ([], []) else None

        with contextlib.suppress(AssertionError):
            await eventually(cleared, "Asterisk cleared", within, every=0.2)
        return left


@asynccontextmanager
async def running_flow(
    site: SandboxSite,
    *,
    services: dict[str, Any],
    agents: dict[str, Any] | None = None,
    draws: list[float] | None = None,
    clock: Clock | None = None,
    **sections: Any,
) -> AsyncIterator[Flow]:
    site.prepare()
    preexisting = frozenset(site.instance.recording_dir.glob("*"))
    path = site.write_config(
        site.config_data(services=services, agents=agents or standard_agents(), **sections)
    )
    config = load_config(path)
    rng: random.Random = ScriptedRandom(draws)
    daemon = RunningDaemon(config, clock=clock or ShiftedClock(office_hours()), rng=rng)
    # A bound, not a sleep: on a loaded machine one ARI request may time out (5 s) and
    # the daemon reconnects after a backoff, as designed; 10 s was seen to be too short.
    await daemon.start(within=30.0)
    try:
        async with aiohttp.ClientSession() as session:
            flow = Flow(site, daemon, Switchboard(site.instance, session), preexisting)
            try:
                yield flow
            finally:
                # Asterisk 22 was seen to stop answering for good when an ARI websocket
                # closed while channels of its application were still being torn down:
                # the daemon disconnects once the calls have left Asterisk (10 s at most).
                with contextlib.suppress(AriError, aiohttp.ClientError, TimeoutError, OSError):
                    await flow.asterisk_leftovers(within=10.0)
    finally:
        await daemon.stop()


async def until_recording_with(flow: Flow, agent_id: str) -> str:
    """Waits until ``agent_id`` talks on a call whose recording runs; returns the call id."""

    async def probe() -> str | None:
        call_id = flow.daemon.calls.find_call(agent_id=agent_id)
        if call_id is None or flow.daemon.calls.payment_refusal(call_id) is not None:
            return None
        summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
        live = any(r["state"] == "live" for r in summary["recordings"])
        return call_id if live else None

    return await eventually(probe, f"a recorded call answered by {agent_id}")


async def private_counts_once_ended(flow: Flow, total: int) -> list[dict[str, Any]]:
    """The private-call counts, once ``total`` private calls are counted and no call of
    the daemon's is left in progress."""

    async def probe() -> list[dict[str, Any]] | None:
        counts: list[dict[str, Any]] = await flow.daemon.query(lambda s: s.private_call_counts())
        counted = sum(int(c["count"]) for c in counts)
        return counts if counted >= total and flow.daemon.calls.active_calls == 0 else None

    return await eventually(probe, f"{total} private call(s) counted and ended")
