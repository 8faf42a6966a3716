"""Protective-key reaction time on a real Asterisk: reccontrol against the baseline.

Both run in this process, against the same sandbox Asterisk, one call at a time and
alternating (a reccontrol call, then a baseline call), so both see the same machine
state. On each call the agent's phone keys ``*2*3`` several times: 100 ms digits,
100 ms apart, so a pause every 800 ms. The figure is the time from the moment the
``ChannelDtmfReceived`` frame was read off the websocket to the 204 of
``POST /recordings/live/{name}/pause``.

For reccontrol it is ``CallManager.reaction_times_ms``. The bench also wraps the
manager's ``handle``, the events stream's first look at each frame and the ARI client's
``pause_recording`` (one extra frame each: microseconds) to split it into: frame read
-> the key handed to the calls (decoding; for a pause key the call armed, its first
look, before the frame is parsed), handed -> POST issued (router, state machine or
armed pause, lock), POST issued -> 204 (aiohttp and Asterisk).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.baseline import BaselineApp
from bench.waiting import wait_until
from controller.ari.errors import AriError
from controller.ari.events import ChannelDtmfReceived, Event
from controller.config import load_config
from controller.demo.site import (
    RunningDaemon,
    SandboxSite,
    ScriptedRandom,
    Switchboard,
    free_port,
)
from controller.web.keys import ARI, STREAM

# Seconds: the announcement, then the agent script talks 2 s before its first key.
ANNOUNCEMENT_SECONDS = 1.0
KEY_CYCLE_SECONDS = 0.8
BASELINE_APP = "bench-baseline"
MAX_EXTENSION = 80
AGENT_PREFIX = "alice-keys-"


def max_cycles() -> int:
    """Asterisk extensions are at most 80 characters: ``alice-keys-`` + ``*2*3`` * n."""
    return (MAX_EXTENSION - len(AGENT_PREFIX)) // 4


def agent_script(cycles: int) -> str:
    if not 1 <= cycles <= max_cycles():
        raise ValueError(f"cycles must be between 1 and {max_cycles()}")
    return AGENT_PREFIX + "*2*3" * cycles


def caller_script(cycles: int) -> str:
    # Long enough for every key; the bench hangs up as soon as they are all in.
    return f"c-talk-{int(ANNOUNCEMENT_SECONDS + 10 + cycles * KEY_CYCLE_SECONDS)}"


@dataclass
class Split:
    """One reccontrol pause, split at the two probes (monotonic seconds)."""

    received: float
    handled: float
    sent: float
    done: float


class GcWatch:
    """Spans of the cyclic garbage collector, to tell GC pauses from other delays."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.monotonic()
        else:
            self.spans.append((self._started, time.monotonic()))

    def inside(self, start: float, end: float) -> float:
        """Seconds of collection between ``start`` and ``end``."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.spans)


@dataclass
class ReactionRun:
    reccontrol_ms: list[float] = field(default_factory=list)
    reccontrol_splits: list[Split] = field(default_factory=list)
    reccontrol_gc_ms: list[float] = field(default_factory=list)
    """Garbage collection inside each split reccontrol pause (frame read to 204)."""
    baseline_gc_ms: list[float] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)
    baseline_sent_ms: list[float] = field(default_factory=list)
    calls: int = 0
    cycles: int = 0
    failures: list[str] = field(default_factory=list)
    asterisk_version: str = ""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SplitProbe:
    """Time stamps where a key reaches the calls (the call manager, or the stream's
    first look for an armed pause key) and around the pause REST call."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.splits: list[Split] = []
        self._last_key: tuple[float, float] | None = None
        calls = daemon.calls
        client = daemon.app[ARI]
        stream = daemon.app[STREAM]
        handle: Callable[[Event], Awaitable[None]] = calls.handle
        pause: Callable[[str], Awaitable[None]] = client.pause_recording
        look = stream.first_look

        def timed_look(data: dict[str, Any], received: float) -> Awaitable[None] | None:
            # A pause key the call armed is acted on here, before its event exists.
            handed = time.monotonic()
            ahead = look(data, received) if look is not None else None
            if ahead is not None:
                self._last_key = (received, handed)
            return ahead

        async def timed_handle(event: Event) -> None:
            if isinstance(event, ChannelDtmfReceived) and (
                self._last_key is None or self._last_key[0] != event.received
            ):
                self._last_key = (event.received, time.monotonic())
            await handle(event)

        async def timed_pause(name: str) -> None:
            sent = time.monotonic()
            await pause(name)
            done = time.monotonic()
            if self._last_key is not None:
                self.splits.append(Split(*self._last_key, sent, done))

        # Instance attributes shadow the methods; the daemon looks both up at each use.
        setattr(calls, "handle", timed_handle)  # noqa: B010
        stream.first_look = timed_look
        setattr(client, "pause_recording", timed_pause)  # noqa: B010


def site_config(
    site: SandboxSite, cycles: int, ami: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``ami``: the daemon's AMI section (the FastAGI key bench's stand-in); None: the
    sandbox Asterisk's."""
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    announcement = site.tone_sound("bench-announce", [(1800.0, ANNOUNCEMENT_SECONDS)])
    everywhere = [{"days": "daily", "from": "00:00", "to": "24:00"}]

    def service(target: str, **extra: Any) -> dict[str, Any]:
        return extra | {
            "language": "fr",
            "purposes": ["training", "quality"],
            "announcement": {"sound": announcement, "version": "bench"},
            "full_notice": announcement,
            "no_agent_sound": announcement,
            "sampling": {"rate": 0.5},
            "target": target,
            "answer_timeout": 10,
            "retention_days": 30,
        }

    return site.config_data(
        services={
            "pauses": service(f"Local/{agent_script(cycles)}@sim-agent"),
            "hold": service("Local/alice-talk@sim-agent"),
            # Dialplan-only (FastAGI) calls, one service per pause mode (bench/agikeys.py).
            "agi-skip": service("Local/alice-talk@sim-agent", pause={"mode": "skip"}),
            "agi-silence": service("Local/alice-talk@sim-agent", pause={"mode": "silence"}),
        },
        agents={
            "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": everywhere}
        },
        # The FastAGI server, with its defaults, for the flood and key benches
        # (bench/agiflood.py, bench/agikeys.py).
        agi={"listen": f"127.0.0.1:{free_port()}"},
        **({"ami": ami} if ami is not None else {}),
    )


async def start_daemon(
    site: SandboxSite, cycles: int, draws: int, ami: dict[str, Any] | None = None
) -> RunningDaemon:
    """The daemon as ``reccontrol run`` builds it; the caller sets up its logging."""
    site.prepare()
    config = load_config(site.write_config(site_config(site, cycles, ami)))
    # Every sampling draw records; ids and everything else come from the OS CSPRNG.
    daemon = RunningDaemon(config, rng=ScriptedRandom([0.0] * draws))
    await daemon.start()
    return daemon


async def _reccontrol_call(
    daemon: RunningDaemon, board: Switchboard, cycles: int, done: int, run: ReactionRun
) -> None:
    times = daemon.calls.reaction_times_ms
    before = times.count
    caller = await board.call("pauses", caller_script(cycles), "+33611112222")
    await wait_until(lambda: times.count - before >= cycles, 10 + cycles * 1.0)
    await asyncio.sleep(0.5)
    with contextlib.suppress(AriError):
        await board.client.hangup(caller.id)
    summaries = await daemon.wait_for_calls(done + 1)
    got = times.count - before
    if got < cycles:
        run.failures.append(f"reccontrol call {done + 1}: {got} of {cycles} pauses measured")
    latest = max(summaries, key=lambda s: str(s["started_at"]))
    if len(latest["pauses"]) != got:
        run.failures.append(
            f"reccontrol call {done + 1}: {len(latest['pauses'])} pauses stored, {got} measured"
        )


async def measure(daemon: RunningDaemon, site: SandboxSite, calls: int, cycles: int) -> ReactionRun:
    run = ReactionRun(calls=calls, cycles=cycles)
    probe = SplitProbe(daemon)
    collections = GcWatch()
    gc.callbacks.append(collections)
    instance = site.instance
    async with aiohttp.ClientSession() as session:
        board = Switchboard(instance, session)
        info = await board.client.asterisk_info()
        system = info.get("system") if isinstance(info.get("system"), dict) else {}
        run.asterisk_version = str((system or {}).get("version", ""))
        baseline = BaselineApp(instance, session, BASELINE_APP)
        await baseline.connect()
        try:
            for index in range(calls):
                progress(f"  call {index + 1}/{calls}: reccontrol")
                await _reccontrol_call(daemon, board, cycles, index, run)
                progress(f"  call {index + 1}/{calls}: baseline")
                await baseline.call(
                    caller_script(cycles), f"Local/{agent_script(cycles)}@sim-agent", cycles
                )
        finally:
            await baseline.close()
            gc.callbacks.remove(collections)
    run.reccontrol_ms = list(daemon.calls.reaction_times_ms)
    run.reccontrol_splits = list(probe.splits)
    run.reccontrol_gc_ms = [collections.inside(s.received, s.done) * 1000 for s in probe.splits]
    run.baseline_ms = [p.reaction_ms for p in baseline.pauses]
    run.baseline_sent_ms = [p.sent_ms for p in baseline.pauses]
    run.baseline_gc_ms = [
        collections.inside(p.received, p.received + p.reaction_ms / 1000) * 1000
        for p in baseline.pauses
    ]
    run.failures += baseline.failures
    return run


def figures(reaction: dict[str, Any]) -> dict[str, float | None]:
    """The section's headline figures for ``bench/results.json``, from the reaction
    results (``python -m bench``'s ``reaction`` block). Ratios are against the baseline
    measured in the same run: timings alone move with the machine's load."""
    ours, theirs, split = reaction["reccontrol"], reaction["baseline"], reaction["split_ms"]
    return {
        "key_ratio_median": reaction["ratio_median"],
        "key_ratio_p95": reaction["ratio_p95"],
        "key_median_ms": ours["median"],
        "key_p95_ms": ours["p95"],
        "key_under_2ms_fraction": reaction["reccontrol_under_budget"],
        "key_frame_to_post_ms": split["frame_to_post"],
        "baseline_key_median_ms": theirs["median"],
        "baseline_key_frame_to_post_ms": split["baseline_frame_to_post"],
    }
