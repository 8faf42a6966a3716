"""What a two-channel recording (R5) costs against a one-channel one, in one run.

The same calls twice on the sandbox Asterisk, once with ``recordings.channels: mono``
(one bridge recording) and once with ``stereo`` (two snoop channels, two recordings,
joined into one file as they are vaulted), each with a daemon of its own:

* **Asterisk's CPU** (user + system time of its process, from ``/proc``) over a window in
  which every call is bridged and recording: CPU milliseconds per second of one call;
* **the daemon's CPU** (this process's CPU time) from the first call placed until every
  recording is in the vault, the stereo join included: CPU milliseconds per call.

The layouts alternate, ``rounds`` times each, so that other work on the host weighs on
both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.reaction import progress, site_config
from controller.ari.client import AriClient
from controller.ari.errors import AriError
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.sandbox import SandboxInstance

LAYOUTS = ("mono", "stereo")
WINDOW_SECONDS = 5.0
"""The steady span measured on Asterisk: every call bridged and recording."""
SETTLE_SECONDS = 1.0
"""After the last call is bridged, for every recording to have started."""
CALL_SECONDS = 30
"""How long each scripted caller talks at most (it is hung up after the window)."""
BOARD_TIMEOUT = 30.0


@dataclass
class ChannelsCost:
    calls: int
    rounds: int
    asterisk_ms_per_call_second: dict[str, list[float]] = field(default_factory=dict)
    daemon_ms_per_call: dict[str, list[float]] = field(default_factory=dict)
    file_bytes_per_second: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def median(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        return {
            "calls": self.calls,
            "rounds": self.rounds,
            "asterisk_cpu_ms_per_call_second": {
                k: median(v) for k, v in self.asterisk_ms_per_call_second.items()
            },
            "daemon_cpu_ms_per_call": {k: median(v) for k, v in self.daemon_ms_per_call.items()},
            "vault_bytes_per_call_second": {
                k: median(v) for k, v in self.file_bytes_per_second.items()
            },
            "failures": self.failures,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    return time.process_time()


async def measure(
    instance: SandboxInstance, workdir: Path, calls: int, rounds: int
) -> ChannelsCost:
    cost = ChannelsCost(calls, rounds)
    for index in range(rounds):
        for layout in LAYOUTS:
            progress(f"two-channel cost: round {index + 1}, {layout}, {calls} calls")
            site = SandboxSite(instance, workdir / f"{layout}-{index}")
            try:
                await _one_round(site, instance, layout, calls, cost)
            except (TimeoutError, AriError) as exc:
                cost.failures.append(f"{layout} round {index + 1}: {exc}")
    return cost


async def _one_round(
    site: SandboxSite, instance: SandboxInstance, layout: str, calls: int, cost: ChannelsCost
) -> None:
    site.prepare()
    data = site_config(site, cycles=1)
    data["recordings"]["channels"] = layout
    daemon = RunningDaemon(load_config(site.write_config(data)), rng=ScriptedRandom([0.0] * calls))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(instance, session)
            settings = dataclasses.replace(board.client.settings, request_timeout=BOARD_TIMEOUT)
            board.client = AriClient(settings, session)
            own_before = own_cpu_seconds()
            callers = [
                await board.call("hold", f"c-talk-{CALL_SECONDS}", "+33611112222")
                for _ in range(calls)
            ]
            await _all_recording(board, daemon, calls)
            await asyncio.sleep(SETTLE_SECONDS)  # the recordings' starts, not a result
            before = cpu_seconds(instance.pid)
            started = time.monotonic()
            await asyncio.sleep(WINDOW_SECONDS)  # the span measured, not a wait for a result
            spent = cpu_seconds(instance.pid) - before
            elapsed = time.monotonic() - started
            for caller in callers:
                with contextlib.suppress(AriError):
                    await board.client.hangup(caller.id)
            summaries = await daemon.wait_for_calls(calls, within=60 + calls)
            own = own_cpu_seconds() - own_before
    finally:
        await daemon.stop()
    stored = [r for s in summaries for r in s["recordings"] if r["state"] == "stored"]
    if len(stored) != calls:
        cost.failures.append(f"{layout}: {len(stored)} of {calls} recordings stored")
    seconds = sum(r["duration_seconds"] or 0.0 for r in stored)
    size = sum(await asyncio.to_thread(lambda: [Path(r["path"]).stat().st_size for r in stored]))
    cost.asterisk_ms_per_call_second.setdefault(layout, []).append(
        spent * 1000 / (elapsed * calls)
    )
    cost.daemon_ms_per_call.setdefault(layout, []).append(own * 1000 / calls)
    cost.file_bytes_per_second.setdefault(layout, []).append(size / seconds if seconds else 0.0)


async def _all_recording(board: Switchboard, daemon: RunningDaemon, calls: int) -> None:
    deadline = time.monotonic() + 30 + calls
    while True:
        bridges = await board.client.request("GET", "/bridges") or []
        full = [b for b in bridges if len(b.get("channels", [])) == 2]
        if len(full) >= calls and daemon.calls.active_calls >= calls:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(full)} of {calls} calls bridged")
        await asyncio.sleep(0.2)
