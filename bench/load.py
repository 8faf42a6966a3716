"""``python -m bench --load``: many calls held at once on one node, and memory per call.

The daemon runs as ``reccontrol run`` builds it (:class:`RunningDaemon`, in this process)
against the sandbox Asterisk. For each size (50, 100 and 200 calls by default):

1. **Ramp**: the calls are placed at ``rate`` a second (20 by default, as a busy trunk
   brings them), each to a service of its own whose agent (a Local channel running the
   ``loadkeys`` script) answers, talks and waits. Every call hears the announcement, is
   bridged and recorded. The callers' Local channels speak PCMU, as the SIP part's
   trunk does, and the agent's leg follows (:data:`CALLER_FORMATS`).
2. **Held**: once every call's recording has started, the bench presses the agents'
   keys, ``*2*3`` ``cycles`` times on each call, the calls taken in turn at ``rate`` a
   second. While the keys go, the two-party bridges are counted every half second: the
   lowest count is ``held_min``, which proves the calls were held at once when the keys
   were pressed.
3. The calls are hung up, and the stored calls read back.

Per size:

- **setup**: from the agent leg's ``StasisStart`` (the agent answered and Asterisk hands
  the channel to the daemon) to the call's ``RecordingStarted``, both from Asterisk's
  own timestamps on a second ARI websocket that subscribes to every event (millisecond
  resolution); the announcement and the agent's ringing, which the daemon does not
  control, are before it;
- **key**: the daemon's own measure of each pause, from the ``ChannelDtmfReceived``
  frame read off its websocket to the 204 of the pause (``reaction_times_ms``);
- **lost keys**: the ``*2`` and ``*3`` Asterisk reported on each agent's channel (the
  observer's ``ChannelDtmfReceived``), against the pauses and resumes the daemon stored
  for that call; any shortfall is a lost key;
- **errors**: calls not held, recordings not started or not stored, failed requests.

One call at a time (``concurrent_1``) runs first in the same run: it warms the process
and is the anchor the other sizes are compared to (``*_ratio``).

**Memory**: the sizes run from the largest down, so the largest meets a process that
has only run the anchor: its resident set (``/proc/self/statm``) is read before the ramp
and again once every call records, and the difference is divided by the calls
(``memory.per_call_<n>_kib``). The bench's own share in that process is a few small
objects per call (the observer's time stamps), well under a kibibyte.

The real-SIP part is in :mod:`bench.load_sip`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import datetime as dt
import gc
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import results_file
from bench.asterisk import bench_instance
from bench.memory import rss_bytes
from bench.reaction import progress
from bench.stats import percentile, ratio
from bench.waiting import wait_until
from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.ari.models import Channel
from controller.calls.ids import agent_leg, call_of
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.logs import setup_logging
from controller.sandbox import SandboxInstance

DEFAULT_SIZES = (50, 100, 200)
RATE = 20.0
"""Calls placed, and calls keyed, per second."""
CYCLES = 3
SIP_CALLS = 50
"""``*2*3`` cycles keyed on each call."""
OBSERVER_APP = "bench-load-observer"
OBSERVED = ("ChannelDtmfReceived", "RecordingStarted")
BOARD_TIMEOUT = 60.0
"""The bench's own ARI requests: under load Asterisk was seen to take seconds to answer an
originate, and a timed-out one may still have been placed."""
CALLER_SECONDS = 900
"""How long each caller talks at most: the bench hangs every call up itself, and a caller
it could not hang up ends by itself within a size's longest run."""
HANG_UP_TRIES = 5
CALLER_FORMATS = "ulaw"
"""The callers' codec, as the trunk of the SIP part (PCMU). Unset, a Local channel takes
every audio format and runs at 192 kHz; the agent's leg (dialled with the caller as
originator) and the call's mixing bridge follow, and the sandbox Asterisk then spends its
time resampling every frame of every call between 8 and 192 kHz, a cost no SIP call has."""
ANNOUNCEMENT_SECONDS = 1.0
KIB = 1024


class LoadError(Exception):
    """A size could not be measured; ``error_id`` says which step failed."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


# -- pure parts --------------------------------------------------------------------------
def parse_sizes(text: str) -> list[int]:
    """``"50,100,200"`` -> ``[50, 100, 200]``; an argparse type (its error names the
    value that is wrong)."""
    sizes = []
    for part in text.split(","):
        try:
            size = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a number of calls") from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"{size} calls: at least 1 is needed")
        sizes.append(size)
    if not sizes:
        raise argparse.ArgumentTypeError("no number of calls given")
    return sorted(set(sizes))


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value}: at least {least} is needed")
        return value

    return parse


def calls_per_second(text: str) -> float:
    """An argparse type: a rate above zero (and finite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of calls a second") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: the rate must be above 0")
    return value


def asterisk_time(stamp: str) -> float:
    """Asterisk's event timestamp (``2026-12-07T18:20:00.123+0000``) in epoch seconds."""
    return dt.datetime.fromisoformat(stamp).timestamp()


def key_controls(digits: str) -> tuple[int, int]:
    """The pauses (``*2``) and resumes (``*3``) in the digits one agent pressed, in order."""
    pauses = resumes = 0
    previous = ""
    for digit in digits:
        if previous == "*" and digit == "2":
            pauses += 1
        elif previous == "*" and digit == "3":
            resumes += 1
        previous = digit
    return pauses, resumes


def lost_keys(
    pressed: Mapping[str, tuple[int, int]], effected: Mapping[str, tuple[int, int]]
) -> int:
    """Keys Asterisk reported (per call: pauses, resumes) that the daemon did not act on
    (per call: pauses and resumes stored). A call the daemon acted on more often than
    keys were pressed does not hide another call's lost key."""
    lost = 0
    for call, (pauses, resumes) in pressed.items():
        done_pauses, done_resumes = effected.get(call, (0, 0))
        lost += max(0, pauses - done_pauses) + max(0, resumes - done_resumes)
    return lost


def setup_times_ms(starts: Mapping[str, float], recording: Mapping[str, float]) -> list[float]:
    """Per call seen at both moments: from its start to its recording, in milliseconds."""
    return [(recording[c] - starts[c]) * 1000 for c in sorted(starts) if c in recording]


def p50_p99(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return percentile(values, 0.50), percentile(values, 0.99)


def size_figures(prefix: str, result: SizeResult, anchor: SizeResult | None) -> dict[str, Any]:
    """The flat figures of one size: ``concurrent_100.setup_p99_ms`` and the rest."""
    setup_p50, setup_p99 = p50_p99(result.setup_ms)
    key_p50, key_p99 = p50_p99(result.key_ms)
    out: dict[str, Any] = {
        f"{prefix}.setup_p50_ms": setup_p50,
        f"{prefix}.setup_p99_ms": setup_p99,
        f"{prefix}.key_p50_ms": key_p50,
        f"{prefix}.key_p99_ms": key_p99,
        f"{prefix}.lost_keys": result.lost_keys,
        f"{prefix}.errors": len(result.errors),
    }
    if anchor is not None and anchor is not result:
        anchor_setup, _ = p50_p99(anchor.setup_ms)
        anchor_key, _ = p50_p99(anchor.key_ms)
        out[f"{prefix}.setup_p50_ratio"] = _ratio(setup_p50, anchor_setup)
        out[f"{prefix}.key_p50_ratio"] = _ratio(key_p50, anchor_key)
    if result.held_min is not None:
        out[f"{prefix}.held_min"] = result.held_min
    return out


def _ratio(value: float | None, anchor: float | None) -> float | None:
    if value is None or anchor is None:
        return None
    found = ratio(value, anchor)
    return None if found != found else found  # NaN: nothing to compare with


def memory_figures(calls: int, idle: int, held: int) -> dict[str, float]:
    return {f"memory.per_call_{calls}_kib": (held - idle) / calls / KIB}


# -- what Asterisk says ------------------------------------------------------------------
@dataclass
class Observer:
    """A second ARI websocket, subscribed to every event: Asterisk's own view of the calls,
    independent of the daemon's."""

    instance: SandboxInstance
    session: aiohttp.ClientSession
    recording_started: dict[str, float] = field(default_factory=dict)
    agent_digits: dict[str, str] = field(default_factory=dict)
    key_times: list[float] = field(default_factory=list)
    """When each agent key arrived here (``time.monotonic()``)."""
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        headers = {
            "Authorization": aiohttp.encode_basic_auth(
                self.instance.ari_username, self.instance.ari_password
            )
        }
        self._ws = await self.session.ws_connect(
            self.instance.events_url,
            params={"app": OBSERVER_APP, "subscribeAll": "true"},
            headers=headers,
            max_msg_size=0,
        )
        # Only what is counted: every other event of hundreds of calls would cost Asterisk
        # and this process (which runs the daemon) their encoding and decoding.
        allowed = [{"type": kind} for kind in OBSERVED]
        async with self.session.put(
            f"{self.instance.ari_url}/ari/applications/{OBSERVER_APP}/eventFilter",
            json={"allowed": allowed},
            headers=headers,
        ) as response:
            if response.status != 200:
                raise LoadError(
                    "observer-filter",
                    f"the observer's event filter was refused: HTTP {response.status}",
                )
        self._reader = asyncio.create_task(self._read(self._ws), name="load-observer")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()

    def forget(self) -> None:
        self.recording_started.clear()
        self.agent_digits.clear()
        self.key_times.clear()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.seen(json.loads(message.data))

    def seen(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ChannelDtmfReceived":
            channel_id = str((event.get("channel") or {}).get("id", ""))
            call = call_of(channel_id)
            if call and channel_id == agent_leg(call):
                self.agent_digits[call] = self.agent_digits.get(call, "") + str(event["digit"])
                self.key_times.append(time.monotonic())
        elif kind == "RecordingStarted":
            target = str((event.get("recording") or {}).get("target_uri", ""))
            call = call_of(target.partition(":")[2])
            if call:
                self.recording_started.setdefault(call, asterisk_time(str(event["timestamp"])))


def agent_starts(lines: Iterable[str]) -> dict[str, float]:
    """Per call, the Asterisk timestamp of its agent leg's ``StasisStart``, from the
    daemon's event log (JSON lines: Asterisk sends ``StasisStart`` to the application
    the channel enters alone, so the observer never sees it)."""
    starts: dict[str, float] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line being written as the log is read
        if not isinstance(event, dict) or event.get("type") != "StasisStart":
            continue
        channel_id = str((event.get("channel") or {}).get("id", ""))
        call = call_of(channel_id)
        if call and channel_id == agent_leg(call) and "timestamp" in event:
            starts.setdefault(call, asterisk_time(str(event["timestamp"])))
    return starts


# -- one size ----------------------------------------------------------------------------
@dataclass
class SizeResult:
    calls: int
    setup_ms: list[float] = field(default_factory=list)
    key_ms: list[float] = field(default_factory=list)
    lost_keys: int = 0
    keys_reported: int = 0
    controls_stored: int = 0
    held_min: int | None = None
    errors: list[str] = field(default_factory=list)
    rss_idle: int = 0
    rss_held: int = 0
    recording_at_rss: int = 0
    """Calls recording when ``rss_held`` was read: what the memory is divided by."""


def tag(index: int) -> str:
    return f"l{index}"


def service(index: int) -> str:
    return f"load-{index}"


def site_config(site: SandboxSite, calls: int) -> dict[str, Any]:
    """One service per call, each with an agent of its own (``loadkeys-l<n>``), so the
    bench can tell each agent when to press its keys."""
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    announcement = site.tone_sound("bench-load-announce", [(1800.0, ANNOUNCEMENT_SECONDS)])
    everywhere = [{"days": "daily", "from": "00:00", "to": "24:00"}]
    services = {
        service(i): {
            "language": "fr",
            "purposes": ["training", "quality"],
            "announcement": {"sound": announcement, "version": "bench"},
            "full_notice": announcement,
            "no_agent_sound": announcement,
            "sampling": {"rate": 0.5},
            "target": f"Local/alice-loadkeys-{tag(i)}@sim-agent",
            "answer_timeout": 30,
            "retention_days": 30,
        }
        for i in range(1, calls + 1)
    }
    agents = {
        "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": everywhere}
    }
    return site.config_data(services=services, agents=agents)


async def _bridged(client: AriClient) -> int | None:
    """Two-party bridges of the daemon's calls now on Asterisk (None: it did not say)."""
    try:
        bridges = await client.request("GET", "/bridges") or []
    except AriError:
        return None
    return sum(
        1 for b in bridges if call_of(str(b.get("id", ""))) and len(b.get("channels", [])) == 2
    )


async def paced(count: int, rate: float, action: Any) -> list[Any]:
    """``action(i)`` for i in 1..count, started on a fixed schedule of ``rate`` a second
    (not after one another: a slow answer does not slow the ramp)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for index in range(1, count + 1):
        delay = start + (index - 1) / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself, not a wait for a result
        tasks.append(asyncio.create_task(action(index)))
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def run_size(
    daemon: RunningDaemon,
    board: Switchboard,
    observer: Observer,
    calls: int,
    cycles: int,
    rate: float,
) -> SizeResult:
    result = SizeResult(calls)
    observer.forget()
    times = daemon.calls.reaction_times_ms
    keys_before = times.count
    ended_before = len(await daemon.query(lambda s: s.call_ids()))
    # No agent may find keys left from an earlier size (a call that never answered).
    cleared = await asyncio.gather(
        *(_set_keys(board, i, "") for i in range(1, calls + 1)), return_exceptions=True
    )
    result.errors += [f"keys cleared: {e}" for e in cleared if isinstance(e, BaseException)]
    gc.collect()
    result.rss_idle = rss_bytes()
    progress(f"load: {calls} call(s), placed at {rate:g}/s")

    async def place(index: int) -> Channel:
        return await board.call(
            service(index), f"c-talk-{CALLER_SECONDS}", "+33611112222", formats=CALLER_FORMATS
        )

    placed = await paced(calls, rate, place)
    callers = [c for c in placed if isinstance(c, Channel)]
    result.errors += [f"originate: {e}" for e in placed if isinstance(e, BaseException)]
    try:
        held = await wait_until(
            lambda: len(observer.recording_started) >= len(callers), 60 + calls * 0.5, 0.1
        )
        if not held:
            result.errors.append(
                f"{len(observer.recording_started)} of {len(callers)} recordings started"
            )
        gc.collect()
        result.rss_held = rss_bytes()
        result.recording_at_rss = len(observer.recording_started)
        await _press_keys(board, observer, result, cycles, rate)
    finally:
        result.errors += await _hang_up_all(board, callers)
    try:
        summaries = await daemon.wait_for_calls(ended_before + len(callers), within=60 + calls)
    except TimeoutError as exc:
        result.errors.append(str(exc)[:300])
        summaries = await daemon.query(lambda s: [s.call_summary(i) for i in s.call_ids()])
    starts = await asyncio.to_thread(_agent_starts, daemon)
    result.setup_ms = setup_times_ms(
        {c: t for c, t in starts.items() if c in observer.recording_started},
        observer.recording_started,
    )
    result.key_ms = times.since(keys_before)
    _count_keys(result, observer, summaries)
    return result


async def _set_keys(board: Switchboard, index: int, keys: str) -> None:
    """The keys agent ``index`` presses within a second (the ``loadkeys`` script)."""
    await board.client.request(
        "POST", "/asterisk/variable", {"variable": f"SIM_KEYS_{tag(index)}", "value": keys}
    )


async def _press_keys(
    board: Switchboard, observer: Observer, result: SizeResult, cycles: int, rate: float
) -> None:
    keys = "*2*3" * cycles
    lowest: list[int] = []
    pressing = True

    async def count_bridges() -> None:
        while pressing:
            count = await _bridged(board.client)
            if count is not None:
                lowest.append(count)
            await asyncio.sleep(0.5)  # a sample every half second, not a wait for a result

    counter = asyncio.create_task(count_bridges())
    try:
        progress(f"load: {result.calls} agents press {keys}, {rate:g} a second")
        pressed = await paced(result.calls, rate, lambda i: _set_keys(board, i, keys))
        result.errors += [f"keys: {e}" for e in pressed if isinstance(e, BaseException)]
        # Every call that records: its agent's keys, each 100 ms and 100 ms apart,
        # start within a second of being set.
        recording = set(observer.recording_started)

        def keyed() -> int:
            digits = observer.agent_digits
            return sum(1 for c in recording if len(digits.get(c, "")) >= len(keys))

        if not await wait_until(lambda: keyed() >= len(recording), 30 + cycles * 2.0, 0.1):
            result.errors.append(
                f"{len(recording) - keyed()} agent(s) pressed fewer than {len(keys)} keys"
            )
        # The last pause's 204 and its row: the call stays up long enough for both.
        await asyncio.sleep(1.0)
    finally:
        pressing = False
        await counter
    result.held_min = min(lowest) if lowest else 0


def _count_keys(
    result: SizeResult, observer: Observer, summaries: Iterable[Mapping[str, Any]]
) -> None:
    by_call = {str(s["id"]): s for s in summaries if s}
    pressed = {c: key_controls(d) for c, d in observer.agent_digits.items()}
    effected = {}
    for call in pressed:
        summary = by_call.get(call)
        if summary is None:
            result.errors.append(f"call {call}: not stored")
            continue
        pauses = summary.get("pauses") or []
        resumed = [p for p in pauses if p.get("ended_at") and p.get("resumed_by") != "hangup"]
        effected[call] = (len(pauses), len(resumed))
        stored = [r for r in summary.get("recordings") or [] if r.get("state") == "stored"]
        if not stored:
            result.errors.append(f"call {call}: no recording stored")
    result.lost_keys = lost_keys(pressed, effected)
    result.keys_reported = sum(p + r for p, r in pressed.values())
    result.controls_stored = sum(p + r for p, r in effected.values())


def _agent_starts(daemon: RunningDaemon) -> dict[str, float]:
    path = daemon.config.ari.event_log
    if path is None or not Path(path).is_file():
        return {}
    with Path(path).open(encoding="utf-8") as lines:
        return agent_starts(lines)


async def _hang_up(board: Switchboard, channel_id: str) -> str | None:
    """Hangs a caller up, trying again while Asterisk does not answer: a caller left
    talking would weigh on every later size. Returns what went wrong, if it stayed up."""
    failure = f"hang-up of {channel_id}: not tried"
    for attempt in range(HANG_UP_TRIES):
        try:
            await board.client.hangup(channel_id)
            return None
        except AriNotFound:
            return None  # already gone
        except AriError as exc:
            failure = f"hang-up of {channel_id}: {exc.error_id}"
            await asyncio.sleep(1.0 + attempt)  # Asterisk is busy: give it time
    return failure


async def _hang_up_all(board: Switchboard, callers: Sequence[Channel]) -> list[str]:
    failures = await asyncio.gather(*(_hang_up(board, c.id) for c in callers))
    return [f for f in failures if f]


# -- the section -------------------------------------------------------------------------
@dataclass
class LoadRun:
    sizes: dict[int, SizeResult] = field(default_factory=dict)
    anchor: SizeResult | None = None
    load_start: list[float] = field(default_factory=list)
    load_end: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.anchor is not None:
            out |= size_figures("concurrent_1", self.anchor, None)
        for calls, result in sorted(self.sizes.items()):
            out |= size_figures(f"concurrent_{calls}", result, self.anchor)
        if self.sizes:
            largest = max(self.sizes)
            held = self.sizes[largest]
            # Named after the size asked for; divided by the calls really recording.
            if held.rss_held and held.rss_idle and held.recording_at_rss:
                per_call = memory_figures(held.recording_at_rss, held.rss_idle, held.rss_held)
                out[f"memory.per_call_{largest}_kib"] = next(iter(per_call.values()))
        return out


async def measure(
    instance: SandboxInstance, workdir: Path, sizes: Sequence[int], cycles: int, rate: float
) -> LoadRun:
    run = LoadRun(load_start=_loadavg())
    site = SandboxSite(instance, workdir)
    site.prepare()
    largest = max(sizes)
    config = load_config(site.write_config(site_config(site, largest)))
    draws = 1 + sum(sizes) + 10
    daemon = RunningDaemon(config, rng=ScriptedRandom([0.0] * draws))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(instance, session)
            settings = dataclasses.replace(board.client.settings, request_timeout=BOARD_TIMEOUT)
            board.client = AriClient(settings, session)
            observer = Observer(instance, session)
            await observer.connect()
            try:
                run.anchor = await run_size(daemon, board, observer, 1, cycles, rate)
                # The largest first: its memory is read in a process that has held no
                # more than one call (freed memory stays in the allocator).
                for calls in sorted(sizes, reverse=True):
                    run.sizes[calls] = await run_size(
                        daemon, board, observer, calls, cycles, rate
                    )
            finally:
                await observer.close()
    finally:
        await daemon.stop()
    run.load_end = _loadavg()
    return run


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def report(run: LoadRun) -> list[str]:
    """Lines for the terminal: each size with its ratios against one call at a time."""
    lines = []
    rows = [run.anchor] if run.anchor else []
    rows += [run.sizes[c] for c in sorted(run.sizes)]
    for result in rows:
        setup = p50_p99(result.setup_ms)
        key = p50_p99(result.key_ms)
        lines.append(
            f"  {result.calls:>4} calls: setup p50/p99 {_ms(setup[0])}/{_ms(setup[1])} ms, "
            f"key p50/p99 {_ms(key[0])}/{_ms(key[1])} ms ({len(result.key_ms)} pauses), "
            f"keys {result.keys_reported} reported / {result.controls_stored} stored, "
            f"lost {result.lost_keys}, held at least {result.held_min}, "
            f"errors {len(result.errors)}"
        )
        lines += [f"      error: {e}" for e in result.errors[:10]]
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load", action="store_true", help="the concurrent-calls section alone (Asterisk)"
    )
    parser.add_argument(
        "--load-sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="calls held at once, comma-separated (default 50,100,200)",
    )
    parser.add_argument(
        "--sip-calls",
        type=whole_number(0),
        default=SIP_CALLS,
        help=f"calls held at once over real SIP with SIPp phones, 0 for none (default {SIP_CALLS})",
    )
    parser.add_argument(
        "--load-profile",
        type=Path,
        default=None,
        help="write a cProfile of this process (the daemon and the bench) over the section",
    )
    parser.add_argument(
        "--load-cycles",
        type=whole_number(1),
        default=CYCLES,
        help=f"*2*3 cycles per call (default {CYCLES})",
    )
    parser.add_argument(
        "--load-rate",
        type=calls_per_second,
        default=RATE,
        help=f"calls placed, and keyed, per second (default {RATE:g})",
    )


async def section(instance: SandboxInstance, workdir: Path, args: argparse.Namespace) -> int:
    """Measures, merges the figures into ``bench/results.json`` and prints them."""
    from bench import load_sip  # it builds on this module

    profile = cProfile.Profile() if args.load_profile else None
    if profile is not None:
        profile.enable()
    run = await measure(instance, workdir, args.load_sizes, args.load_cycles, args.load_rate)
    figures = run.figures()
    lines = ["load: calls held at once (Local channels)", *report(run)]
    errors = sum(len(r.errors) for r in run.sizes.values())
    if args.sip_calls > 0:
        try:
            sip, markers = await load_sip.measure(
                instance, workdir / "sip", args.sip_calls, args.load_cycles, args.load_rate
            )
        except (AssertionError, AriError, TimeoutError) as exc:
            # SIPp's failures are AssertionErrors (tests/sip/sipp.py's SippError).
            sip, markers = SizeResult(args.sip_calls, errors=[f"over SIP: {exc}"]), []
        figures |= load_sip.sip_figures(args.sip_calls, sip, markers)
        leak = load_sip.leak_ms(markers)
        lines += [
            f"load over SIP: pause leak {'-' if leak is None else f'{leak:.0f}'} ms "
            f"(the most marker in any of {len(markers)} files)",
            *report(LoadRun(sizes={sip.calls: sip})),
        ]
        errors += len(sip.errors)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.load_profile)
    load_end = _loadavg()
    lines.insert(1, f"load average at start {run.load_start}, at end {load_end}")
    before, after = results_file.update("load", figures, args.results, load=load_end)
    print("\n".join(lines))
    print("\n".join(results_file.comparison(before, after)))
    print(f"figures merged into {args.results}")
    return 1 if errors else 0


def main(args: argparse.Namespace) -> int:
    """``python -m bench --load``: a sandbox Asterisk of its own, then :func:`section`."""
    with (
        tempfile.TemporaryDirectory(prefix="reccontrol-load-") as folder,
        bench_instance() as instance,
        (Path(folder) / "reccontrol.log").open("a", encoding="utf-8") as log_file,
    ):
        # The daemon logs as in production (INFO), to a file rather than the terminal.
        handler = setup_logging("INFO", log_file)
        try:
            return asyncio.run(section(instance, Path(folder) / "load", args))
        finally:
            logging.getLogger().removeHandler(handler)
