"""The four ways :mod:`bench.cpu` records the same calls, each one run of N calls.

Every call is the same: a scripted caller (``c-talk-<S>`` of the sandbox dialplan) who
talks S seconds and hangs up, and the agent ``alice-talk`` who talks back until then,
both Local channels with audio that speak PCMU, as a SIP trunk's calls do (with no codec
named, a Local channel takes every format and runs at 192 kHz: resampling would then
weigh on every way and hide what recording costs). What differs is who records:

* ``reccontrol``: the daemon, a process of its own as ``reccontrol run`` starts it,
  announcement, sampling, bridge recording and vaulting included;
* ``native``: a dialplan with no controller at all (``sim-native`` in the sandbox's
  simulation.conf): the announcement, ``MixMonitor`` on the caller's channel, ``Dial()``;
* ``snoop`` and ``bridge``: :class:`MinimalRecorder`, a minimal ARI application that
  bridges the two and records either a snoop channel on the caller (``spy=both``: an
  audiohook, as MixMonitor records; the bridge stays two-party) or the bridge (a
  Recorder channel joins it and the bridge mixes three);
* ``whisper``: the bridge recorded as in ``bridge``, plus the snoop the daemon keeps on
  the agent's channel for the whole call to whisper its key tones (``spy=none``,
  ``whisper=out``, A10): what that snoop costs Asterisk.

Each run returns the CPU seconds Asterisk spent from the first call placed until every
channel was gone, and the daemon's until every recording was vaulted (reccontrol only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import CALLER_FORMATS
from bench.stereo import cpu_seconds
from bench.waiting import wait_until
from controller.ari.client import AriClient
from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxInstance

REPO = Path(__file__).resolve().parents[1]
SERVICE = "cpu"
AGENT = "Local/alice-talk@sim-agent"
ANNOUNCEMENT = "bench-cpu-announce"
ANNOUNCEMENT_SECONDS = 1.0
CALLER_NUMBER = "+33611112222"
MINIMAL_APP = "bench-cpu"
MINIMAL_WAYS = ("snoop", "bridge", "whisper")
"""What the minimal application records: a snoop on the caller, the bridge, or the
bridge with a whisper snoop on the agent's channel as the daemon keeps one (A10)."""
WAV_HEADER = 44
SLIN_BYTES_PER_SECOND = 16000
"""8 kHz, 16-bit mono: what the WAV recordings of every variant hold."""
POLL_SECONDS = 0.5
"""How often Asterisk is asked whether the calls are over: the same for every variant."""


@dataclass
class RunCost:
    """What one run of N calls cost, one variant."""

    variant: str
    asterisk_s: float
    round: int = 0
    daemon_s: float = 0.0
    """The daemon's process (reccontrol only)."""
    app_s: float = 0.0
    """This process, where the minimal application runs (snoop and bridge only)."""
    recordings: int = 0
    recorded_s: float = 0.0
    wall_s: float = 0.0


def within(calls: int, seconds: int) -> float:
    """How long a run may take before it is a failure: the calls, plus a generous margin
    for a loaded machine (never a short deadline)."""
    return seconds + 120.0 + 2.0 * calls


def wav_seconds(size: int) -> float:
    return max(0, size - WAV_HEADER) / SLIN_BYTES_PER_SECOND


async def _no_channels(client: AriClient, limit: float) -> None:
    deadline = time.monotonic() + limit
    while True:
        channels = await client.request("GET", "/channels") or []
        if not channels:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(channels)} channel(s) still up after {limit:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


def _files(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}*.wav") if p.is_file())


def _take_files(folder: Path, prefix: str) -> tuple[int, float]:
    """How many recordings start with ``prefix`` and their seconds; then removes them
    (a full-size run writes hundreds of MB)."""
    files = _files(folder, prefix)
    seconds = sum(wav_seconds(p.stat().st_size) for p in files)
    for path in files:
        path.unlink()
    return len(files), seconds


def announcement(instance: SandboxInstance) -> str:
    """The announcement file both the daemon and the native dialplan play."""
    site = SandboxSite(instance, Path("unused"))
    instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    return site.tone_sound(ANNOUNCEMENT, [(1800.0, ANNOUNCEMENT_SECONDS)])


# -- A: the daemon -------------------------------------------------------------------------
def daemon_config(site: SandboxSite, seconds: int) -> dict[str, Any]:
    """One service that records every call (an exemption allows a rate of 1: the bench
    must record the same calls the other variants record) to the talking agent."""
    sound = announcement(site.instance)
    everywhere = [{"days": "daily", "from": "00:00", "to": "24:00"}]
    data = site.config_data(
        services={
            SERVICE: {
                "language": "fr",
                "purposes": ["training", "quality"],
                "announcement": {"sound": sound, "version": "bench"},
                "full_notice": sound,
                "no_agent_sound": sound,
                "sampling": {"rate": 1.0},
                "exemption": {
                    "legal_basis": "benchmark site: every call is recorded to measure its cost"
                },
                "target": AGENT,
                # A loaded machine answers late: a call without an agent records nothing.
                "answer_timeout": 30,
                "retention_days": 30,
            }
        },
        agents={
            "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": everywhere}
        },
    )
    # The sandbox site keeps every ARI event in a file, for debugging; a production
    # daemon does not unless ari.event_log is set (config/example.yaml).
    del data["ari"]["event_log"]
    return data


class DaemonProcess:
    """``python -m controller run`` in a process of its own, logging as in production
    (INFO) to a file; under cProfile when ``profile`` names the output."""

    def __init__(self, config: Path, log: Path, profile: Path | None = None) -> None:
        self.config = config
        self.log = log
        self.profile = profile
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prefix = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *prefix, "-m", "controller", "run", "-c", str(self.config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def ready(self, port: int, limit: float = 120.0) -> None:
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"the daemon exited ({self.process.returncode}): {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the daemon was not ready within {limit:.0f} s")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _recordings(database: Path) -> list[tuple[str, float | None]]:
    """(state, seconds) of every recording in the daemon's store, read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT state, duration_seconds FROM recordings").fetchall()
    return [(str(state), seconds) for state, seconds in rows]


def _settled(database: Path, calls: int) -> bool:
    """Every call ended and no recording still live (a call whose agent never answered
    has none: it is counted as missing afterwards, not waited for)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        (ended,) = db.execute("SELECT count(*) FROM calls WHERE ended_at IS NOT NULL").fetchone()
    return int(ended) >= calls and all(state != "live" for state, _ in _recordings(database))


def _vaulted(database: Path) -> tuple[int, float]:
    stored = [d for state, d in _recordings(database) if state == "stored"]
    return len(stored), sum(d or 0.0 for d in stored)


async def run_reccontrol(
    instance: SandboxInstance,
    board: Switchboard,
    workdir: Path,
    calls: int,
    seconds: int,
    profile: Path | None = None,
) -> RunCost:
    site = SandboxSite(instance, workdir)
    site.prepare()
    data = daemon_config(site, seconds)
    config = site.write_config(data)
    daemon = DaemonProcess(config, workdir / "reccontrol.log", profile)
    daemon.start()
    try:
        await daemon.ready(int(data["web"]["port"]))
        client = board.client
        started = time.monotonic()
        asterisk, own = cpu_seconds(instance.pid), cpu_seconds(daemon.pid)
        for _ in range(calls):
            await board.call(SERVICE, f"c-talk-{seconds}", CALLER_NUMBER, formats=CALLER_FORMATS)
        await _no_channels(client, within(calls, seconds))
        asterisk = cpu_seconds(instance.pid) - asterisk
        database = workdir / "reccontrol.sqlite3"
        if not await wait_until(lambda: _settled(database, calls), within(calls, 0), step=0.2):
            raise TimeoutError(f"the {calls} calls did not all end with their recording vaulted")
        own = cpu_seconds(daemon.pid) - own
        wall = time.monotonic() - started
    finally:
        daemon.stop()
    stored, recorded = _vaulted(workdir / "reccontrol.sqlite3")
    return RunCost("reccontrol", asterisk, 0, own, 0.0, stored, recorded, wall)


# -- B: MixMonitor in the dialplan -----------------------------------------------------------
async def run_native(
    instance: SandboxInstance, board: Switchboard, calls: int, seconds: int
) -> RunCost:
    client = board.client
    sound = announcement(instance)
    prefix = "native-"
    started = time.monotonic()
    asterisk = cpu_seconds(instance.pid)
    for _ in range(calls):
        await client.originate(
            f"Local/{secrets.token_hex(6)}@sim-native",
            context="sim-caller",
            extension=f"c-talk-{seconds}",
            variables={"SIM_ANNOUNCE": Path(sound).name, "SIM_AGENT": AGENT},
            formats=CALLER_FORMATS,
        )
    await _no_channels(client, within(calls, seconds))
    asterisk = cpu_seconds(instance.pid) - asterisk
    wall = time.monotonic() - started
    count, recorded = _take_files(instance.recording_dir, prefix)
    return RunCost("native", asterisk, 0, 0.0, 0.0, count, recorded, wall)


# -- C and D: a minimal ARI application --------------------------------------------------------
@dataclass
class Call:
    caller: str
    agent: str
    bridge: str
    snoop: str
    recording: str
    keys: str = ""
    """The agent's keys so far (the pause keys, when the application acts on them)."""


class MinimalRecorder:
    """The smallest ARI application that bridges a caller to the agent and records the
    call, ``way`` ``snoop`` (a snoop channel on the caller, ``spy=both``) or ``bridge``
    (the bridge). Raw aiohttp, no reccontrol code; it hangs the agent up when the caller
    leaves."""

    def __init__(
        self, instance: SandboxInstance, session: aiohttp.ClientSession, way: str
    ) -> None:
        if way not in MINIMAL_WAYS:
            raise ValueError(f"way must be one of {', '.join(MINIMAL_WAYS)}, not {way!r}")
        self.instance, self.session, self.way = instance, session, way
        self.started: set[str] = set()
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Call] = {}
        self.pause_on_keys = False
        """``*2`` pauses the recording, ``*3`` resumes it, straight from the reader."""
        self.errors: list[str] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def _headers(self) -> dict[str, str]:
        auth = aiohttp.BasicAuth(self.instance.ari_username, self.instance.ari_password)
        return {"Authorization": auth.encode()}

    async def connect(self) -> None:
        self._ws = await self.session.ws_connect(
            self.instance.events_url,
            params={"app": MINIMAL_APP, "subscribeAll": "false"},
            headers=self._headers,
        )
        self._reader = asyncio.create_task(self._read(self._ws), name="bench-cpu-app")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            kind, channel = event.get("type"), (event.get("channel") or {}).get("id", "")
            if kind == "StasisStart":
                self.started.add(channel)
            elif kind == "StasisEnd" and channel in self.calls:
                task = asyncio.create_task(self._hang_up(self.calls.pop(channel)))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind == "ChannelDtmfReceived" and self.pause_on_keys and channel in self.agents:
                await self._key(self.agents[channel], str(event.get("digit", "")))

    async def _key(self, call: Call, digit: str) -> None:
        call.keys += digit
        method = {"*2": "POST", "*3": "DELETE"}.get(call.keys[-2:])
        if method is None:
            return
        try:
            await self._rest(method, f"/recordings/live/{call.recording}/pause")
        except RuntimeError as exc:
            self.errors.append(str(exc))

    async def _rest(self, method: str, path: str, **params: str) -> Any:
        url = self.instance.ari_url + "/ari" + path
        async with self.session.request(
            method, url, params=params, headers=self._headers
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} answered {response.status}: {text[:200]}")
            return json.loads(text) if text.strip() else None

    async def _hang_up(self, call: Call) -> None:
        for method, path in (
            ("DELETE", f"/channels/{call.agent}"),
            ("DELETE", f"/channels/{call.snoop}"),
            ("DELETE", f"/bridges/{call.bridge}"),
        ):
            with contextlib.suppress(RuntimeError):  # already gone: the caller's hang-up
                await self._rest(method, path)

    async def place(
        self, seconds: int, limit: float, caller: str | None = None, agent: str = AGENT
    ) -> Call:
        """One call, recorded once both ends are in the bridge; ``caller``: its endpoint
        (by default the caller who talks ``seconds`` seconds)."""
        tag = secrets.token_hex(6)
        ids = {part: f"cpu-{tag}-{part}" for part in "cabs"}
        call = Call(ids["c"], ids["a"], ids["b"], ids["s"], f"{self.way}-{tag}")
        await self._rest(
            "POST", "/channels", endpoint=caller or f"Local/c-talk-{seconds}@sim-caller",
            app=MINIMAL_APP, channelId=call.caller, formats=CALLER_FORMATS,
        )
        # The agent as the daemon dials it: with the caller's codec (the daemon names the
        # caller as originator; this application has no bridge yet to take it from).
        await self._rest(
            "POST", "/channels", endpoint=agent, app=MINIMAL_APP, channelId=call.agent,
            formats=CALLER_FORMATS,
        )
        if not await wait_until(lambda: {call.caller, call.agent} <= self.started, limit, 0.05):
            raise TimeoutError(f"call {tag}: not both in the application within {limit:.0f} s")
        self.calls[call.caller] = call
        self.agents[call.agent] = call
        await self._rest("POST", "/bridges", type="mixing", bridgeId=call.bridge)
        await self._rest(
            "POST", f"/bridges/{call.bridge}/addChannel", channel=f"{call.caller},{call.agent}"
        )
        name = call.recording
        if self.way in ("bridge", "whisper"):
            await self._rest(
                "POST", f"/bridges/{call.bridge}/record", name=name, format="wav",
                ifExists="overwrite",
            )
            if self.way == "whisper":
                # The daemon's whisper snoop (A10), up on the agent's channel all call.
                await self._rest(
                    "POST", f"/channels/{call.agent}/snoop", spy="none", whisper="out",
                    app=MINIMAL_APP, snoopId=call.snoop,
                )
            return call
        await self._rest(
            "POST", f"/channels/{call.caller}/snoop", spy="both", app=MINIMAL_APP,
            snoopId=call.snoop,
        )
        if not await wait_until(lambda: call.snoop in self.started, limit, 0.05):
            raise TimeoutError(f"call {tag}: the snoop channel did not start")
        await self._rest(
            "POST", f"/channels/{call.snoop}/record", name=name, format="wav",
            ifExists="overwrite",
        )
        return call

    async def rest(self, method: str, path: str, **params: str) -> Any:
        """A request of the application's own (hold music, mute...)."""
        return await self._rest(method, path, **params)


async def run_minimal(
    instance: SandboxInstance,
    board: Switchboard,
    session: aiohttp.ClientSession,
    way: str,
    calls: int,
    seconds: int,
) -> RunCost:
    client = board.client
    app = MinimalRecorder(instance, session, way)
    await app.connect()
    try:
        started = time.monotonic()
        asterisk, own = cpu_seconds(instance.pid), time.process_time()
        for _ in range(calls):
            await app.place(seconds, within(calls, seconds))
        await _no_channels(client, within(calls, seconds))
        asterisk = cpu_seconds(instance.pid) - asterisk
        own = time.process_time() - own
        wall = time.monotonic() - started
    finally:
        await app.close()
    count, recorded = _take_files(instance.recording_dir, f"{way}-")
    return RunCost(way, asterisk, 0, 0.0, own, count, recorded, wall)
