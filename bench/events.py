"""``python -m bench --events``: ARI events through decode -> route -> machines, per
second of the event loop's thread (one core).

No Asterisk: the events are generated from a template of realistic calls (Asterisk 22's
frames, see :func:`frame`), each call with fresh ids, and the REST side is answered at
once, in this process (:class:`Asterisk`, a :class:`~bench.memory.NullAri` that notes
every request). What the daemon asks for is answered as Asterisk answers it: an answered
channel changes state, a playback starts and finishes, an originated agent dials and
enters the application, a snoop enters it, a channel added to a bridge enters it, a
recording starts, a stopped one finishes, a hung-up channel leaves and is destroyed.
So each call goes: inbound StasisStart, answer, announcement, the agent dialled and
answering, bridge and whisper snoop, recording, then ``*2*3`` cycles of the agent's keys
(each a pause or resume and its whispered tone), then the caller hangs up and the call
winds down; with Asterisk's chatter (variables set, state changes) beside it.

The frames of each step are built (JSON text, as the websocket carries them) before the
clock starts; then they are decoded and handled as the daemon's event pump does
(:meth:`EventStream._decode`, the watchdog's probe filter, :meth:`CallManager.handle`),
and the calls' own tasks run what the machines asked for (store writes go to the store
thread, which is not timed). The figure is events over the CPU seconds of the event
loop's thread (``time.thread_time``): other processes on the machine do not count against
it. The wall-clock rate is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import results_file
from bench.fixtures import AlwaysSampled
from bench.memory import NullAri, _offline_config, _write_wav
from bench.reaction import progress
from controller.ari.client import AriClient, Params
from controller.ari.stream import EventStream
from controller.ari.watchdog import Watchdog
from controller.calls.manager import CallManager
from controller.clock import SystemClock
from controller.recordings import LocalVault
from controller.store import SqliteStore, StoreThread

SETTLE_SECONDS = 0.0005
"""How long the feeder sleeps while the calls still run what it fed them."""
TIMESTAMP = "2026-12-02T10:00:02.417+0100"
ASTERISK_ID = "02:42:ac:11:00:02"


def frame(kind: str, app: str, **fields: Any) -> str:
    """One websocket message as Asterisk 22 sends it."""
    return json.dumps(
        {
            "type": kind,
            "timestamp": TIMESTAMP,
            **fields,
            "asterisk_id": ASTERISK_ID,
            "application": app,
        },
        separators=(",", ":"),
    )


def channel(channel_id: str, name: str, state: str = "Up", **extra: Any) -> dict[str, Any]:
    """A channel object as in Asterisk 22's events."""
    return {
        "id": channel_id,
        "name": name,
        "state": state,
        "protocol_id": "",
        "caller": {"name": "", "number": extra.pop("number", "")},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": extra.pop("context", "reccontrol-inbound"),
            "exten": extra.pop("exten", "sales"),
            "priority": 1,
            "app_name": "Stasis",
            "app_data": extra.pop("app_data", ""),
        },
        "creationtime": TIMESTAMP,
        "language": "fr",
        **extra,
    }


class Asterisk(NullAri):
    """Answers every REST call at once and turns each into the events Asterisk would
    send for it (:meth:`answers`)."""

    def __init__(self, client: AriClient, incoming: Path) -> None:
        super().__init__(client)
        self.incoming = incoming
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.names: dict[str, str] = {}
        """Channel id -> channel name, for the events about it."""

    async def request(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Any:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        self.requests.append((method, path, query))
        return await super().request(method, path, params, body)

    def answers(self, app: str) -> list[str]:
        """The frames for the requests made since the last call, in their order."""
        frames: list[str] = []
        asked, self.requests = self.requests, []
        for method, path, query in asked:
            frames += self._answer(app, method, path.split("/")[1:], query)
        return frames

    def channel(self, channel_id: str, state: str = "Up") -> dict[str, Any]:
        return channel(channel_id, self.names.get(channel_id, "Local/x@sim-agent-0;1"), state)

    def _answer(self, app: str, method: str, parts: list[str], query: dict[str, str]) -> list[str]:
        match method, parts:
            case "POST", ["channels", channel_id, "answer"]:
                return [frame("ChannelStateChange", app, channel=self.channel(channel_id))]
            case "POST", ["channels", channel_id, "play", playback_id]:
                playback = {
                    "id": playback_id,
                    "media_uri": query.get("media", ""),
                    "target_uri": f"channel:{channel_id}",
                    "language": "fr",
                }
                return [
                    frame("PlaybackStarted", app, playback=playback | {"state": "playing"}),
                    frame("PlaybackFinished", app, playback=playback | {"state": "done"}),
                ]
            case "POST", ["channels"]:
                agent = query.get("channelId", "")
                self.names[agent] = f"Local/alice-talk@sim-agent-{len(self.names):08x};1"
                args = query.get("appArgs", "").split(",")
                peer = self.channel(agent, "Ring")
                return [
                    frame("Dial", app, peer=peer, dialstatus="", dialstring="alice-talk"),
                    frame("Dial", app, peer=peer, dialstatus="ANSWER", dialstring="alice-talk"),
                    frame("StasisStart", app, args=args, channel=self.channel(agent)),
                    frame(
                        "ChannelVarset",
                        app,
                        variable="BRIDGEPEER",
                        value="",
                        channel=self.channel(agent),
                    ),
                ]
            case "POST", ["channels", _, "snoop", snoop_id]:
                self.names[snoop_id] = f"Snoop/{snoop_id}"
                args = query.get("appArgs", "").split(",")
                return [frame("StasisStart", app, args=args, channel=self.channel(snoop_id))]
            case "POST", ["bridges", bridge_id, "addChannel"]:
                bridge = {
                    "id": bridge_id,
                    "technology": "simple_bridge",
                    "bridge_type": "mixing",
                    "channels": [query.get("channel", "")],
                }
                entered = self.channel(query.get("channel", ""))
                return [frame("ChannelEnteredBridge", app, bridge=bridge, channel=entered)]
            case "POST", ["bridges", bridge_id, "record"]:
                recording = {
                    "name": query.get("name", ""),
                    "format": "wav",
                    "target_uri": f"bridge:{bridge_id}",
                }
                return [
                    frame("RecordingStarted", app, recording=recording | {"state": "recording"})
                ]
            case "POST", ["recordings", "live", name, "stop"]:
                _write_wav(self.incoming / f"{name}.wav")
                finished = {"name": name, "format": "wav", "state": "done", "duration": 1}
                return [frame("RecordingFinished", app, recording=finished)]
            case "DELETE", ["channels", channel_id]:
                gone = self.channel(channel_id)
                return [
                    frame("ChannelHangupRequest", app, channel=gone, cause=16, soft=True),
                    frame("StasisEnd", app, channel=gone),
                    frame(
                        "ChannelDestroyed", app, channel=gone, cause=16, cause_txt="Normal Clearing"
                    ),
                ]
            case "DELETE", ["bridges", bridge_id]:
                bridge = {
                    "id": bridge_id,
                    "technology": "simple_bridge",
                    "bridge_type": "mixing",
                    "channels": [],
                }
                return [frame("BridgeDestroyed", app, bridge=bridge)]
        return []


@dataclass
class Throughput:
    events: int
    calls: int
    thread_seconds: float
    wall_seconds: float
    json_per_s: float = float("nan")
    """The anchor, measured in the same run: the same frames through ``json.loads``
    alone, the least any consumer of the websocket does with them."""
    failures: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.events / self.thread_seconds if self.thread_seconds else float("nan")

    @property
    def wall_per_s(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds else float("nan")

    @property
    def json_ratio(self) -> float:
        """Events handled per frame merely decoded in the same time: the figure with
        the machine's speed (and load) divided out."""
        return self.per_s / self.json_per_s if self.json_per_s else float("nan")


def figures(run: Throughput) -> dict[str, float | None]:
    """The section's headline figures for ``bench/results.json``."""
    return {
        "events_per_s": run.per_s,
        "events_wall_per_s": run.wall_per_s,
        "events_json_loads_per_s": run.json_per_s,
        "events_vs_json_loads_ratio": run.json_ratio,
    }


def json_rate(frames: list[str], seconds: float = 0.5) -> float:
    """Frames decoded by ``json.loads`` per second of this thread, over ``frames``
    repeated for at least ``seconds`` of it."""
    loads, clock = json.loads, time.thread_time
    decoded, started = 0, clock()
    while (spent := clock() - started) < seconds:
        for text in frames:
            loads(text)
        decoded += len(frames)
    return decoded / spent


class Feeder:
    """Decodes and handles frames as the daemon's event pump does, timing its thread."""

    def __init__(
        self,
        stream: EventStream,
        watchdog: Watchdog,
        manager: CallManager,
        store: StoreThread[SqliteStore],
    ) -> None:
        self.stream = stream
        self.store = store
        self.watchdog = watchdog
        self.manager = manager
        self.events = 0
        self.thread_seconds = 0.0
        self.wall_seconds = 0.0
        self.own_seconds = 0.0
        """This thread's time spent looking whether the calls are done: not theirs."""
        self.sample: list[str] = []
        """The frames of the first wave measured, for the anchor."""
        self.sampling = False

    async def feed(self, frames: list[str]) -> None:
        manager, watchdog, decode = self.manager, self.watchdog, self.stream._decode
        thread, wall = time.thread_time(), time.perf_counter()
        for text in frames:
            decoded = decode(text, time.monotonic())
            if decoded is None or watchdog.observe(decoded[0]):
                continue
            await manager.handle(decoded[0])
        own = self.own_seconds
        await self._settle()
        self.thread_seconds += time.thread_time() - thread - (self.own_seconds - own)
        self.wall_seconds += time.perf_counter() - wall
        self.events += len(frames)
        if self.sampling:
            self.sample += frames

    async def _settle(self) -> None:
        """Until the calls have run what the frames asked for: their queued batches (on
        their own tasks) and the store's answers (an objection looked up). Waiting on
        the store thread is idle time for this thread, so not counted."""
        calls = self.manager.router.calls

        def busy() -> bool:
            # The feeder's own look at the calls is taken out of the figure.
            started = time.thread_time()
            found = any(not ctx.queue.empty() or ctx.lock.locked() for ctx in calls.values())
            self.own_seconds += time.thread_time() - started
            return found

        while True:
            await asyncio.sleep(0)
            if busy():
                # Asleep, not spinning: this thread's time is the figure's.
                await asyncio.sleep(SETTLE_SECONDS)
                continue
            # The store thread runs in order: once this is done, so are the reads the
            # calls asked for before it; their answers are then ready to run here.
            await self.store.run(_nothing)
            await asyncio.sleep(0)
            if not busy():
                return


def _nothing(store: SqliteStore) -> None:
    return None


async def _wave(
    feeder: Feeder, ari: Asterisk, app: str, first: int, calls: int, cycles: int
) -> None:
    """``calls`` calls at once, from their StasisStart to their end."""
    callers = [f"1764398403.{first + i}" for i in range(calls)]
    for index, caller in enumerate(callers):
        ari.names[caller] = f"PJSIP/trunk-{first + index:08x}"
    await feeder.feed(
        [
            frame(
                "StasisStart",
                app,
                args=["inbound", "sales"],
                channel=channel(
                    caller, ari.names[caller], "Ring", number=f"+336{first + i:08d}"[:12]
                ),
            )
            for i, caller in enumerate(callers)
        ]
    )
    # Whatever the daemon asked for is answered, until it asks for nothing more.
    for _ in range(20):
        frames = ari.answers(app)
        if not frames:
            break
        await feeder.feed(frames)
    agents = {
        call_id: feeder.manager.router.calls[call_id].machine.agent_channel_id
        for call_id in list(feeder.manager.router.calls)
    }
    for digit in "*2*3" * cycles:
        keys = [
            frame(
                "ChannelDtmfReceived", app, digit=digit, duration_ms=100, channel=ari.channel(agent)
            )
            for agent in agents.values()
        ]
        await feeder.feed(keys + ari.answers(app))
        await feeder.feed(ari.answers(app))
    hangups = []
    for caller in callers:
        gone = ari.channel(caller)
        hangups += [
            frame("ChannelHangupRequest", app, channel=gone, cause=16, soft=False),
            frame("StasisEnd", app, channel=gone),
        ]
    await feeder.feed(hangups)
    for _ in range(20):
        frames = ari.answers(app)
        if not frames:
            break
        await feeder.feed(frames)


async def measure(total_calls: int, concurrent: int, cycles: int) -> Throughput:
    """``total_calls`` calls, ``concurrent`` at a time, each with ``cycles`` key cycles."""
    with tempfile.TemporaryDirectory(prefix="reccontrol-bench-events-") as folder:
        config = _offline_config(Path(folder))
        store: StoreThread[SqliteStore] = StoreThread(
            lambda: SqliteStore.open(config.store.path), SqliteStore.close
        )
        await store.start()
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
        vault.prepare()
        config.recordings.asterisk_dir.mkdir()
        async with aiohttp.ClientSession() as session:
            ari = Asterisk(AriClient(config.ari, session), config.recordings.asterisk_dir)
            manager = CallManager(
                config=config,
                client=ari,
                store=store,
                vault=vault,
                clock=SystemClock(),
                rng=AlwaysSampled(),
            )
            feeder = Feeder(EventStream(ari), Watchdog(ari, 5.0), manager, store)
            app = config.ari.app
            try:
                await _wave(feeder, ari, app, 0, min(concurrent, 5), 1)  # warm-up
                await _drained(manager, store)
                feeder.events, feeder.thread_seconds, feeder.wall_seconds = 0, 0.0, 0.0
                done = 0
                while done < total_calls:
                    size = min(concurrent, total_calls - done)
                    progress(f"  events: calls {done + 1}-{done + size} of {total_calls}")
                    feeder.sampling = done == 0
                    await _wave(feeder, ari, app, 1000 + done, size, cycles)
                    done += size
                    await _drained(manager, store)
                json_per_s = json_rate(feeder.sample)
                failures = []
                if manager.active_calls:
                    failures.append(f"{manager.active_calls} call(s) did not end")
                if feeder.stream.dropped:
                    failures.append(f"{feeder.stream.dropped} frame(s) dropped")
            finally:
                await manager.close(grace=2.0)
                await store.stop()
    return Throughput(
        feeder.events,
        total_calls,
        feeder.thread_seconds,
        feeder.wall_seconds,
        json_per_s,
        failures,
    )


async def _drained(manager: CallManager, store: StoreThread[SqliteStore]) -> None:
    """Untimed: ended calls' files and rows are taken in, the store thread catches up,
    and a collection runs, so one wave's leftovers do not weigh on the next."""
    for _ in range(200):
        if not manager.executor.settling and not manager.active_calls:
            break
        await asyncio.sleep(0.01)
    await store.run(lambda s: None)
    gc.collect()


QUICK_CALLS = 200
"""Calls replayed by ``python -m bench --quick``."""


def main(args: argparse.Namespace) -> int:
    """``--events`` alone, or as a section of the whole bench (``--quick``: fewer calls)."""
    load = [round(x, 2) for x in os.getloadavg()]
    calls = min(args.events_calls, QUICK_CALLS) if args.quick else args.events_calls
    concurrent = min(args.events_concurrent, calls)
    progress(f"events: {calls} calls, {concurrent} at once, {args.events_cycles} *2*3 cycles each")
    run = asyncio.run(measure(calls, concurrent, args.events_cycles))
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(
        f"events: {run.events} events of {run.calls} calls in {run.thread_seconds:.2f} s of "
        f"the event loop's thread ({run.wall_seconds:.2f} s wall): {run.per_s:,.0f} events/s "
        f"on one core ({run.wall_per_s:,.0f}/s wall); load average at start {load}, "
        f"at end {load_end}"
    )
    print(
        f"  anchor, same run: the same frames through json.loads alone, "
        f"{run.json_per_s:,.0f}/s: the pipeline handles {run.json_ratio:.3f} event "
        "per frame decoded"
    )
    for failure in run.failures:
        print(f"  ! {failure}")
    before, after = results_file.update("events", figures(run), args.results, load=load_end)
    print("\n".join(results_file.comparison(before, after)))
    print(f"figures merged into {args.results}")
    return 1 if run.failures else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        action="store_true",
        help="event throughput alone: decode -> route -> machines, REST answered at once",
    )
    parser.add_argument(
        "--events-calls", type=int, default=2000, help="calls replayed for --events (2000)"
    )
    parser.add_argument("--events-concurrent", type=int, default=200, help="of them at once (200)")
    parser.add_argument("--events-cycles", type=int, default=4, help="*2*3 key cycles per call (4)")
