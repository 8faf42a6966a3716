"""Memory held per concurrent call.

Three views, from the narrowest to the whole process:

* ``machine``: N pure :class:`~controller.calls.call.Call` objects, each bridged with a live
  recording.
  ``tracemalloc`` counts the Python heap they hold.
* ``manager``: the real :class:`CallManager` with its store thread (SQLite in a temporary
  folder), vault and per-call task, queue and timers, fed real events for N calls up
  to the same state. Only the ARI transport is replaced (:class:`NullAri` answers every
  REST call at once, without I/O). Measured twice, in separate passes: the RSS of the
  process (``/proc/self/statm``; tracemalloc off, since it inflates RSS) and the
  tracemalloc heap with the top allocation sites. After the calls end, what is still
  held shows a leak, if any.
* ``live`` (with Asterisk): the RSS of the process running the daemon while it holds N
  real recorded calls on the sandbox, against the same process idle, and what it still
  holds once they ended (RSS rarely shrinks: freed memory stays in the allocator, so
  this is not a leak figure; the ``manager`` view's second round is).

Each view first runs a few calls through to the end, so imports, caches and the
SQLite statement cache are warm before the measurement starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import math
import os
import tempfile
import time
import tracemalloc
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.fixtures import AlwaysSampled, connected_call
from bench.waiting import wait_until
from controller.ari.client import AriClient, Params
from controller.ari.errors import AriError
from controller.ari.events import parse_event
from controller.ari.models import Channel
from controller.calls.manager import CallManager
from controller.clock import SystemClock
from controller.config import Config, load_config
from controller.demo.site import RunningDaemon, Switchboard
from controller.recordings import LocalVault
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore, StoreThread

PAGE = os.sysconf("SC_PAGE_SIZE")
# Live calls arrive one every RAMP_SECONDS, as a busy trunk would bring them.
RAMP_SECONDS = 0.1
AGENT_NAME = "Local/alice-talk@sim-agent-{:08x};1"
# Seconds the bench's own REST calls to the sandbox wait for an answer.
BOARD_TIMEOUT = 30.0


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE


@dataclass
class Footprint:
    view: str
    calls: int
    per_call_bytes: float
    """Python heap held while the calls are live, divided by their number (NaN: not
    measured)."""
    left_per_call_bytes: float | None = None
    """Growth per call over a second round of calls, once they ended: a leak if not ~0."""
    rss_per_call_bytes: float | None = None
    rss_left_per_call_bytes: float | None = None
    rss_idle_bytes: int | None = None
    top_sites: list[tuple[str, float]] = field(default_factory=list)
    """Allocation sites (file:line) and bytes per call, largest first."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "per_call_bytes": _round(self.per_call_bytes),
            "left_per_call_bytes": _round(self.left_per_call_bytes),
            "rss_per_call_bytes": _round(self.rss_per_call_bytes),
            "rss_left_per_call_bytes": _round(self.rss_left_per_call_bytes),
            "rss_idle_bytes": self.rss_idle_bytes,
            "top_sites": [{"site": s, "per_call_bytes": round(b)} for s, b in self.top_sites],
        }


def _round(value: float | None) -> int | None:
    return None if value is None or math.isnan(value) else round(value)


def _top_sites(
    before: tracemalloc.Snapshot, during: tracemalloc.Snapshot, calls: int, count: int = 6
) -> list[tuple[str, float]]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for stat in during.compare_to(before, "lineno")[:count]:
        frame = stat.traceback[0]
        name = frame.filename
        name = os.path.relpath(name, here) if name.startswith(here) else _short(name)
        rows.append((f"{name}:{frame.lineno}", stat.size_diff / calls))
    return rows


def _short(path: str) -> str:
    """``…/site-packages/aiohttp/x.py`` -> ``aiohttp/x.py``; the stdlib by its module path."""
    parts = path.split(os.sep)
    for marker in ("site-packages", "lib-dynload"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1 :])
    return "/".join(parts[-2:])


def machine_footprint(calls: int) -> Footprint:
    rng = AlwaysSampled()
    [connected_call(i, rng) for i in range(3)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        start = tracemalloc.get_traced_memory()[0]
        held = [connected_call(i, rng) for i in range(calls)]
        gc.collect()
        during = tracemalloc.take_snapshot()
        used = tracemalloc.get_traced_memory()[0] - start
        top = _top_sites(before, during, calls)
        del held
    finally:
        tracemalloc.stop()
    return Footprint("machine", calls, used / calls, top_sites=top)


# -- the call manager, with no Asterisk behind it -----------------------------------------
class NullAri(AriClient):
    """Answers every REST call at once, as Asterisk would, and notes what was asked."""

    def __init__(self, client: AriClient) -> None:
        super().__init__(client.settings, _unused_session(client))
        self.playbacks: list[str] = []
        self.agents: list[tuple[str, str]] = []
        self.recordings: list[str] = []

    async def request(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Any:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        if method == "POST" and path == "/channels":
            channel_id = query.get("channelId", "")
            call_id = query.get("appArgs", "").partition(",")[2]
            self.agents.append((channel_id, call_id))
            return {"id": channel_id, "name": AGENT_NAME.format(len(self.agents))}
        if method == "POST" and "/play/" in path:
            playback_id = path.rsplit("/", 1)[1]
            self.playbacks.append(playback_id)
            return {"id": playback_id, "state": "queued"}
        if method == "POST" and path == "/bridges":
            return {"id": query.get("bridgeId", ""), "technology": "simple_bridge"}
        if method == "POST" and path.endswith("/record"):
            self.recordings.append(query["name"])
            return {"name": query["name"], "format": "wav", "state": "queued"}
        return None

    def forget(self) -> None:
        self.playbacks.clear()
        self.agents.clear()
        self.recordings.clear()


def _unused_session(client: AriClient) -> aiohttp.ClientSession:
    # NullAri never sends anything; the base class only keeps the session.
    return client._session


def _offline_config(workdir: Path) -> Config:
    for name in ("ari-password", "caller-hmac-key"):
        path = workdir / name
        path.write_text("bench-secret-" + name + "-0123456789\n")
        path.chmod(0o600)
    everywhere = [{"days": "daily", "from": "00:00", "to": "24:00"}]
    data = {
        "organisation": {
            "name": "Bench SAS",
            "address": "1 rue du Banc, 75011 Paris",
            "dpo": {"name": "Claire Dubois", "email": "dpo@bench.example"},
        },
        "timezone": "Europe/Paris",
        "ari": {
            "url": "http://127.0.0.1:9",
            "username": "reccontrol",
            "password_file": str(workdir / "ari-password"),
        },
        "store": {"path": str(workdir / "reccontrol.sqlite3")},
        "recordings": {
            "asterisk_dir": str(workdir / "incoming"),
            "vault_dir": str(workdir / "vault"),
        },
        "privacy": {"caller_hmac_key_file": str(workdir / "caller-hmac-key")},
        "legal": {"staff_representatives_informed": "2025-01-06"},
        "agents": {
            "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": everywhere}
        },
        "services": {
            "sales": {
                "language": "fr",
                "purposes": ["training", "quality"],
                "announcement": {"sound": "bench/announce", "version": "bench"},
                "full_notice": "bench/notice",
                "sampling": {"rate": 0.5},
                "target": "Local/alice-talk@sim-agent",
                "answer_timeout": 10,
                "retention_days": 30,
            }
        },
    }
    path = workdir / "reccontrol.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@dataclass
class Held:
    callers: list[str]
    agents: list[str]
    recordings: list[str]


class ManagerRig:
    """A CallManager fed the events Asterisk would send, call by call."""

    def __init__(
        self,
        manager: CallManager,
        ari: NullAri,
        store: StoreThread[SqliteStore],
        incoming: Path,
        app: str,
    ) -> None:
        self.manager = manager
        self.app = app
        self.store = store
        self.ari = ari
        self.incoming = incoming
        self._serial = 0

    async def _event(self, data: dict[str, Any]) -> None:
        # Asterisk names the application on every event; the router acts only on ours.
        data = {"application": self.app, **data}
        await self.manager.handle(parse_event(data, time.monotonic()))

    async def _until(self, done: Callable[[], bool], what: str, within: float = 30.0) -> None:
        if not await wait_until(done, within, step=0.005):
            raise TimeoutError(f"manager rig: {what} did not happen within {within} s")
        await asyncio.sleep(0.05)

    async def connect(self, calls: int) -> Held:
        """Brings ``calls`` new calls to: bridged, sampled, recording."""
        ari = self.ari
        ari.forget()
        first = self._serial
        callers = [f"bench-{first + i}.1" for i in range(calls)]
        self._serial += calls
        for index, channel_id in enumerate(callers):
            await self._event(
                {
                    "type": "StasisStart",
                    "args": ["inbound", "sales"],
                    "channel": {
                        "id": channel_id,
                        "name": f"PJSIP/trunk-{first + index:08x}",
                        "state": "Ring",
                        "caller": {"name": "", "number": f"+3361111{first + index:04d}"},
                        "dialplan": {"context": "reccontrol-inbound", "exten": "sales"},
                    },
                }
            )
        await self._until(lambda: len(ari.playbacks) >= calls, "announcements")
        for playback_id in ari.playbacks:
            await self._event(
                {"type": "PlaybackFinished", "playback": {"id": playback_id, "state": "done"}}
            )
        await self._until(lambda: len(ari.agents) >= calls, "agent dialling")
        for index, (channel_id, call_id) in enumerate(ari.agents):
            await self._event(
                {
                    "type": "StasisStart",
                    "args": ["agent", call_id],
                    "channel": {
                        "id": channel_id,
                        "name": AGENT_NAME.format(first + index),
                        "state": "Up",
                    },
                }
            )
        await self._until(lambda: len(ari.recordings) >= calls, "recordings")
        for name in ari.recordings:
            await self._event({"type": "RecordingStarted", "recording": {"name": name}})
        await asyncio.sleep(0.1)
        if self.manager.active_calls < calls:
            raise RuntimeError("manager rig: calls ended before they were measured")
        held = Held(callers, [a for a, _ in ari.agents], list(ari.recordings))
        ari.forget()
        return held

    async def hang_up(self, held: Held) -> None:
        """The callers hang up; Asterisk finishes each recording and the agent leaves."""
        for channel_id in held.callers:
            await self._event({"type": "StasisEnd", "channel": {"id": channel_id}})
        for name in held.recordings:
            _write_wav(self.incoming / f"{name}.wav")
            await self._event(
                {"type": "RecordingFinished", "recording": {"name": name, "state": "done"}}
            )
        for channel_id in held.agents:
            await self._event({"type": "StasisEnd", "channel": {"id": channel_id}})
        await self._until(lambda: self.manager.active_calls == 0, "the end of the calls")
        # Recordings are adopted on a worker thread, then written by the store thread.
        for _ in range(3):
            await asyncio.sleep(0.1)
            await self.store.run(lambda s: None)
        self.ari.forget()


def _write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 800)


async def _with_manager(fn: Callable[[ManagerRig], Awaitable[Footprint]]) -> Footprint:
    with tempfile.TemporaryDirectory(prefix="reccontrol-bench-") as folder:
        workdir = Path(folder)
        config = _offline_config(workdir)
        store: StoreThread[SqliteStore] = StoreThread(
            lambda: SqliteStore.open(config.store.path), SqliteStore.close
        )
        await store.start()
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
        vault.prepare()
        config.recordings.asterisk_dir.mkdir()
        async with aiohttp.ClientSession() as session:
            ari = NullAri(AriClient(config.ari, session))
            manager = CallManager(
                config=config,
                client=ari,
                store=store,
                vault=vault,
                clock=SystemClock(),
                rng=AlwaysSampled(),
            )
            rig = ManagerRig(manager, ari, store, config.recordings.asterisk_dir, config.ari.app)
            try:
                await rig.hang_up(await rig.connect(3))
                return await fn(rig)
            finally:
                await manager.close(grace=2.0)
                await store.stop()


async def manager_footprint(calls: int) -> Footprint:
    """Holds ``calls`` calls, ends them, then does it again: the second round's growth
    is what a long-running daemon would keep per call."""

    async def rss_pass(rig: ManagerRig) -> Footprint:
        gc.collect()
        idle = rss_bytes()
        held = await rig.connect(calls)
        gc.collect()
        during = rss_bytes()
        await rig.hang_up(held)
        gc.collect()
        first_round = rss_bytes()
        await rig.hang_up(await rig.connect(calls))
        gc.collect()
        second_round = rss_bytes()
        return Footprint(
            "manager",
            calls,
            0.0,
            rss_per_call_bytes=(during - idle) / calls,
            rss_left_per_call_bytes=(second_round - first_round) / calls,
            rss_idle_bytes=idle,
        )

    async def heap_pass(rig: ManagerRig) -> Footprint:
        gc.collect()
        tracemalloc.start(1)
        try:
            before = tracemalloc.take_snapshot()
            start = tracemalloc.get_traced_memory()[0]
            held = await rig.connect(calls)
            gc.collect()
            during = tracemalloc.take_snapshot()
            used = tracemalloc.get_traced_memory()[0] - start
            await rig.hang_up(held)
            gc.collect()
            first_round = tracemalloc.get_traced_memory()[0]
            await rig.hang_up(await rig.connect(calls))
            gc.collect()
            second_round = tracemalloc.get_traced_memory()[0]
            top = _top_sites(before, during, calls)
        finally:
            tracemalloc.stop()
        return Footprint(
            "manager", calls, used / calls, (second_round - first_round) / calls, top_sites=top
        )

    rss = await _with_manager(rss_pass)
    heap = await _with_manager(heap_pass)
    heap.rss_per_call_bytes = rss.rss_per_call_bytes
    heap.rss_left_per_call_bytes = rss.rss_left_per_call_bytes
    heap.rss_idle_bytes = rss.rss_idle_bytes
    return heap


async def live_footprint(daemon: RunningDaemon, instance: SandboxInstance, calls: int) -> Footprint:
    """The daemon's RSS while it holds ``calls`` real, recorded calls on Asterisk."""
    async with aiohttp.ClientSession() as session:
        board = Switchboard(instance, session)
        # The bench's own trunk calls: under load Asterisk was seen to take more than the
        # usual 5 s to answer an originate. A timed-out one may still have been placed,
        # so it is waited for rather than retried (a retry would place a second call).
        settings = dataclasses.replace(board.client.settings, request_timeout=BOARD_TIMEOUT)
        board.client = AriClient(settings, session)
        ended = len(await daemon.query(lambda s: s.call_ids()))
        gc.collect()
        await asyncio.sleep(0.5)
        idle = rss_bytes()
        callers = []
        for _ in range(calls):
            # One call every RAMP seconds, originated one after the other.
            callers.append(await board.call("hold", "c-talk-120", "+33611112222"))
            await asyncio.sleep(RAMP_SECONDS)
        deadline = time.monotonic() + 30 + calls * 0.2
        while True:
            bridges = await board.client.request("GET", "/bridges") or []
            full = [b for b in bridges if len(b.get("channels", [])) == 2]
            if len(full) >= calls and daemon.calls.active_calls >= calls:
                break
            if time.monotonic() > deadline:
                channels = await board.client.request("GET", "/channels") or []
                stored = await daemon.query(lambda s: [s.call_summary(i) for i in s.call_ids()])
                lines = unbridged(callers, channels, full, stored)
                raise TimeoutError(
                    f"live memory: {len(full)} of {calls} calls bridged, "
                    f"{daemon.calls.active_calls} open in the daemon" + "".join(lines)
                )
            await asyncio.sleep(0.2)
        # Recording starts right after bridging; let every RecordingStarted arrive.
        await asyncio.sleep(1.0)
        gc.collect()
        during = rss_bytes()
        for channel in callers:
            await _hang_up(board, channel.id)
        await daemon.wait_for_calls(ended + calls, within=60 + calls * 0.5)
        gc.collect()
        after = rss_bytes()
    return Footprint(
        "live",
        calls,
        math.nan,
        rss_per_call_bytes=(during - idle) / calls,
        rss_left_per_call_bytes=(after - idle) / calls,
        rss_idle_bytes=idle,
    )


def unbridged(
    callers: list[Channel],
    channels: list[dict[str, Any]],
    full_bridges: list[dict[str, Any]],
    stored: list[dict[str, Any] | None],
) -> list[str]:
    """One line per placed call that is not in a two-party bridge: where its entry
    channel is now and what the daemon stored about it. A Local channel's ``;2`` half
    is the one that enters the dialplan (and the daemon's call); ``callers`` holds the
    ``;1`` halves the bench originated."""
    bridged = {channel for bridge in full_bridges for channel in bridge.get("channels", [])}
    by_name = {c.get("name", ""): c for c in channels}
    by_entry = {call["channel_id"]: call for call in stored if call and call.get("channel_id")}
    lines = []
    for index, caller in enumerate(callers, 1):
        entry = by_name.get(caller.name.removesuffix(";1") + ";2")
        if entry is not None and entry.get("id") in bridged:
            continue
        if entry is None:
            lines.append(f"\n  call {index} ({caller.name}): its entry channel is gone")
            continue
        dialplan = entry.get("dialplan") or {}
        where = f"{dialplan.get('context')},{dialplan.get('exten')} in {dialplan.get('app_name')}"
        call = by_entry.get(entry.get("id"))
        said = (
            "the daemon stored no call for it"
            if call is None
            else f"daemon call {call['id']}, outcome {call.get('outcome') or 'none yet'}"
        )
        lines.append(f"\n  call {index} ({entry.get('name')}): at {where}; {said}")
    return lines


async def _hang_up(board: Switchboard, channel_id: str) -> None:
    with contextlib.suppress(AriError):
        await board.client.hangup(channel_id)
