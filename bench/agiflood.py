"""The protective-key reaction while the FastAGI server is flooded, beside the same
figure without the flood, in the same run and against the same daemon.

The flood comes from a second process (``python -m bench.agiflood PORT IDLE JUNK``),
as an attacker on the LAN would: ``IDLE`` connections that send nothing (each one the
server closes is opened again at once) and ``JUNK`` workers that connect again and
again to send junk, half a header then silence, or a 64 KiB line. The daemon runs with
its default ``agi.max_connections`` (100) and ``read_timeout_seconds`` (10).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.reaction import ReactionRun, _reccontrol_call, progress
from bench.stats import ratio, summarize
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.web.keys import AGI

JUNK = (
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"agi_network: yes\nagi_channel: PJSIP/x\n",  # half a header, then silence
    b"agi_network: " + b"x" * 65536 + b"\n",
    bytes(range(256)) + b"\n\n",
)


@dataclass
class FloodRun:
    quiet_ms: list[float] = field(default_factory=list)
    flooded_ms: list[float] = field(default_factory=list)
    idle: int = 0
    junk_workers: int = 0
    refused: int = 0
    bad_headers: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        quiet, flooded = summarize(self.quiet_ms), summarize(self.flooded_ms)
        return {
            "idle_connections": self.idle,
            "junk_workers": self.junk_workers,
            "quiet": quiet.as_dict(),
            "flooded": flooded.as_dict(),
            "ratio_median": ratio(flooded.median, quiet.median),
            "ratio_p95": ratio(flooded.p95, quiet.p95),
            "agi_refused": self.refused,
            "agi_bad_headers": self.bad_headers,
            "failures": self.failures,
        }


async def measure(
    daemon: RunningDaemon, site: SandboxSite, calls: int, cycles: int, idle: int, junk: int
) -> FloodRun:
    """``calls`` calls without the flood, then ``calls`` with it."""
    server = daemon.app[AGI]
    assert server is not None, "the bench site has an agi section"
    run = FloodRun(idle=idle, junk_workers=junk)
    times = daemon.calls.reaction_times_ms
    done = len(await daemon.wait_for_calls(0))
    async with aiohttp.ClientSession() as session:
        board = Switchboard(site.instance, session)
        before = times.count
        for index in range(calls):
            progress(f"  call {index + 1}/{calls}: no flood")
            await _one_call(daemon, board, cycles, done, run)
            done += 1
        run.quiet_ms = times.since(before)
        flood = start_flood(server.port, idle, junk)
        try:
            ready = await asyncio.to_thread(_ready, flood)
            if not ready:
                run.failures.append("the flood process did not start")
            refused, bad = server.counters.refused, server.counters.bad_headers
            before = times.count
            for index in range(calls):
                progress(f"  call {index + 1}/{calls}: FastAGI flooded")
                await _one_call(daemon, board, cycles, done, run)
                done += 1
            run.flooded_ms = times.since(before)
            run.refused = server.counters.refused - refused
            run.bad_headers = server.counters.bad_headers - bad
        finally:
            stop_flood(flood)
    if run.refused == 0:
        run.failures.append("no FastAGI connection was refused: the flood did not reach the cap")
    return run


async def _one_call(
    daemon: RunningDaemon, board: Switchboard, cycles: int, done: int, run: FloodRun
) -> None:
    """One call as the reaction bench places it; its failures kept."""
    scratch = ReactionRun()
    await _reccontrol_call(daemon, board, cycles, done, scratch)
    run.failures += scratch.failures


def start_flood(port: int, idle: int, junk: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.agiflood", str(port), str(idle), str(junk)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _ready(flood: subprocess.Popen[str]) -> bool:
    assert flood.stdout is not None
    return flood.stdout.readline().strip() == "ready"


def stop_flood(flood: subprocess.Popen[str]) -> None:
    flood.send_signal(signal.SIGTERM)
    try:
        flood.wait(timeout=30)
    except subprocess.TimeoutExpired:
        flood.kill()
        flood.wait()


# -- the flooding process ------------------------------------------------------------------
async def _hold_idle(port: int) -> None:
    """One idle connection, opened again whenever the server closes it."""
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        with contextlib.suppress(OSError):
            await reader.read()
        writer.close()


async def _send_junk(port: int, worker: int) -> None:
    sent = worker
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(JUNK[sent % len(JUNK)])
            await writer.drain()
            await reader.read()
            writer.close()
        except OSError:
            await asyncio.sleep(0.01)
        sent += 1


async def flood(port: int, idle: int, junk: int) -> None:
    tasks = [asyncio.ensure_future(_hold_idle(port)) for _ in range(idle)]
    tasks += [asyncio.ensure_future(_send_junk(port, n)) for n in range(junk)]
    await asyncio.sleep(1.0)  # the idle connections are opened
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for task in tasks:
        task.cancel()


def main() -> None:
    port, idle, junk = (int(arg) for arg in sys.argv[1:4])
    asyncio.run(flood(port, idle, junk))
    os._exit(0)  # thousands of sockets: the kernel closes them faster than the GC


if __name__ == "__main__":
    main()
