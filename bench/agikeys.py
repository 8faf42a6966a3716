"""Key -> pause on the FastAGI path, in the same run and against the same daemon as the
ARI path's reaction (section 1).

On a dialplan-only site the agent's pause key runs ``Gosub(reccontrol-agi-key,pause,1)``.
In skip mode that subroutine stops the MixMonitor itself (``RECCONTROL_STOPPED=yes``)
before it opens a FastAGI connection to the daemon (``agi://…/pause?live=…``): the
protection takes no round trip to the daemon, whose pause (the row, its own harmless
second ``StopMixMonitor``, the key's sound) follows. In silence mode the protection is
AMI's ``MixMonitorMute``, which only the daemon can send: it sends it first, from the
URL's arguments, then rebuilds the call from its row and takes the key through the ARI
path's own conversation.

A second process (``python -m bench.agikeys``) plays Asterisk's part, as the sandbox
Asterisk plays it for the ARI figure: the FastAGI client of every hook of a call
(``inbound``, ``connected``, the keys, both hang-ups), answering each command at once as
Asterisk 22 words its answers, and the AMI server the daemon is pointed at. Each call
exists in the store as a connected, recording FastAGI call before its first key: it
went through the real ``inbound`` and ``connected`` scripts. A second process, not a
task in the daemon's loop: Asterisk's own work never runs in the daemon's event loop.

The figure, per pause, is ``time.monotonic()`` in that process from the key's header
written on a new connection to:

* silence: the ``MixMonitorMute`` action read whole, the protective command: the
  connection's accept, the header, and the command's way to Asterisk over AMI; not
  Asterisk carrying it out (which the ARI figure's 204 includes);
* skip: the key's sound (``STREAM FILE``) read, the daemon's answer once the pause row
  is written: its ``GET VARIABLE`` round trips, store reads and writes and the
  conversation. Not a protection time: the subroutine stopped the recording before
  the connection, 0 round trips to the daemon.

Keys come ``KEY_GAP_SECONDS`` apart, pause then resume, so the daemon is idle between
them as between an agent's keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import BUDGET_MS
from bench.stats import fraction_below, ratio, summarize
from bench.waiting import wait_until
from controller.demo.site import RunningDaemon, SandboxSite
from controller.web.keys import AGI, AMI

MODES = ("skip", "silence")
SERVICE_PREFIX = "agi-"
"""The bench site's FastAGI services: ``agi-skip``, ``agi-silence`` (bench/reaction.py)."""
KEY_GAP_SECONDS = 0.1
"""Between two keys of a call (pause, then resume): the daemon sleeps in between, as
between an agent's keys, at a quarter of the ARI calls' 400 ms to keep the run short."""
CALLER_NUMBER = "+33611112222"
"""Fictitious, as on the ARI side's calls."""
AGENT_CHANNEL = "Local/alice-agi@sim-agent-{index:08x};1"
"""An agent's channel as the bench site names Alice's (``Local/alice-*``)."""
STAND_IN_USER = "bench"
AMI_LOGIN_FILE = "bench-ami-login"
"""The daemon's AMI secret for the stand-in: random, never checked."""
FEEDBACK = "STREAM FILE"
"""The key's sound: in skip mode, the daemon's answer once the pause row is written."""
STOPPED_FIRST_KEYS = ("pause", "card", "private")
MUTE_ACTION = "MixMonitorMute"
NO_RESULT: dict[str, Any] = {"call_id": None, "pause_ms": [], "first_ms": [], "failures": []}
SESSION_DEADLINE = 30.0
"""Seconds one FastAGI session may take before the stand-in gives up on it."""


def service_name(mode: str) -> str:
    return SERVICE_PREFIX + mode


# -- the stand-in for Asterisk (the second process) ----------------------------------------
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass
class AgiChannel:
    """One channel's variables, as Asterisk keeps them for AGI's GET/SET VARIABLE."""

    name: str
    uniqueid: str
    variables: dict[str, str] = field(default_factory=dict)
    inherited: set[str] = field(default_factory=set)
    """Names set with a ``_``/``__`` prefix: the channels this one dials get them."""
    monitors: int = 0

    def dial(self, name: str, uniqueid: str) -> AgiChannel:
        """The channel this one dials, with the variables it inherits."""
        kept = {k: v for k, v in self.variables.items() if k in self.inherited}
        return AgiChannel(name, uniqueid, kept, set(self.inherited))

    def answer(self, line: str) -> str:
        """Asterisk's answer to one AGI command line (``200 result=…``), with the
        effect the command has on the channel."""
        args = _QUOTED.findall(line)
        if line.startswith("GET VARIABLE") and args:
            value = self.variables.get(args[0])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if line.startswith("SET VARIABLE") and len(args) == 2:
            name = args[0].lstrip("_")
            if args[0].startswith("_"):
                self.inherited.add(name)
            self.variables[name] = args[1]
            return "200 result=1"
        if line.startswith("CHANNEL STATUS"):
            return "200 result=6"  # up
        if line.startswith("STREAM FILE"):
            return "200 result=0 endpos=8000"  # played to its end, no key
        if line.startswith("EXEC MixMonitor") and args:
            self._mixmonitor(args[0])
            return "200 result=0"
        if line.startswith("EXEC"):
            return "200 result=0"
        return "200 result=1"

    def _mixmonitor(self, arguments: str) -> None:
        """What MixMonitor leaves: its file (so the hang-up's intake has one to take)
        and its id in the variable its ``i()`` option names."""
        path, _, options = arguments.partition(",")
        named = re.search(r"i\(([A-Za-z_][A-Za-z0-9_]*)\)", options)
        if named:
            self.monitors += 1
            self.variables[named.group(1)] = f"0x7f00{self.monitors:08x}"
        # The option letters before i(…): with a (the resume's), the file goes on.
        appending = "a" in options.split("(")[0]
        if not (appending and os.path.exists(path)):
            _silent_wav(Path(path))


def _silent_wav(path: Path, seconds: float = 0.5) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    # Asterisk's, as the recording folder: the vault adopts no file someone else made.
    folder = path.parent.stat()
    os.chown(path, folder.st_uid, folder.st_gid)


def header(port: int, script: str, channel: AgiChannel) -> bytes:
    """The header block Asterisk 22 sends on a FastAGI connection."""
    fields = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": channel.name,
        "agi_language": "fr",
        "agi_type": channel.name.split("/", 1)[0],
        "agi_uniqueid": channel.uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": CALLER_NUMBER,
        "agi_calleridname": "",
        "agi_context": "site-inbound",
        "agi_extension": "0140000001",
        "agi_priority": "2",
    }
    return "".join(f"{k}: {v}\n" for k, v in fields.items()).encode() + b"\n"


@dataclass
class AmiStandIn:
    """Greets, accepts the login, answers every action ``Success``; notes when each
    ``MixMonitorMute`` arrived whole."""

    mutes: list[tuple[float, str, str]] = field(default_factory=list)
    """(``time.monotonic()``, channel, state) of each ``MixMonitorMute`` read."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        fields: dict[str, str] = {}
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if text:
                    key, _, value = text.partition(":")
                    fields.setdefault(key.strip().lower(), value.strip())
                    continue
                if fields.get("action", "").lower() == MUTE_ACTION.lower():
                    self.mutes.append(
                        (time.monotonic(), fields.get("channel", ""), fields.get("state", ""))
                    )
                answer = f"Response: Success\r\nActionID: {fields.get('actionid', '')}\r\n\r\n"
                writer.write(answer.encode())
                fields = {}
        except ConnectionError:
            pass
        finally:
            writer.close()


@dataclass
class Session:
    sent: float
    """When the header was written."""
    first: float | None
    """When the daemon's first command was read."""
    watched: float | None
    """When the first line starting with the watched text was read."""


async def run_session(
    port: int, script: str, channel: AgiChannel, watch: str | None = None
) -> Session:
    """One FastAGI session, as Asterisk runs ``AGI(agi://…/script)`` on ``channel``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(SESSION_DEADLINE):
            writer.write(header(port, script, channel))
            sent = time.monotonic()
            first: float | None = None
            watched: float | None = None
            while line := await reader.readline():
                now = time.monotonic()
                first = now if first is None else first
                if watch is not None and watched is None and line.startswith(watch.encode()):
                    watched = now
                text = line.decode("utf-8", "replace").rstrip("\n")
                writer.write(channel.answer(text).encode() + b"\n")
    finally:
        writer.close()
    return Session(sent, first, watched)


async def one_call(request: dict[str, Any], ami: AmiStandIn) -> dict[str, Any]:
    """A call through the shipped hooks, its pause keys timed; the result as JSON data."""
    port, mode, index = int(request["agi_port"]), str(request["mode"]), int(request["index"])
    cycles, spool = int(request["cycles"]), str(request["spool"])
    failures: list[str] = []
    pauses: list[float] = []
    firsts: list[float] = []
    where = f"FastAGI {mode} call {index + 1}"
    caller = AgiChannel(f"PJSIP/trunk-{index:08x}", f"1765000000.{2 * index}")
    caller.variables["ASTSPOOLDIR"] = spool
    await run_session(port, f"inbound?service={service_name(mode)}", caller)
    call_id = caller.variables.get("RECCONTROL_CALL_ID")
    if not call_id:
        return {**NO_RESULT, "failures": [f"{where}: the inbound script set no call id"]}
    agent = caller.dial(AGENT_CHANNEL.format(index=index), f"1765000000.{2 * index + 1}")
    agent.variables["ASTSPOOLDIR"] = spool
    await run_session(port, "connected", agent)
    if not agent.variables.get("RECCONTROL_MIXMONITOR"):
        failures.append(f"{where}: connected started no MixMonitor")
    for cycle in range(cycles if not failures else 0):
        for key in ("pause", "resume"):
            await asyncio.sleep(KEY_GAP_SECONDS)
            script = key_subroutine(agent, key)
            mutes = len(ami.mutes)
            session = await run_session(port, script, agent, FEEDBACK if mode == "skip" else None)
            if agent.variables.get("RECCONTROL_KEY") != "done":
                failures.append(f"{where}, {key} {cycle + 1}: the daemon did not take the key")
            if key != "pause":
                continue
            reached = _reached(session, mode, ami.mutes[mutes:], agent.name)
            if reached is None:
                failures.append(f"{where}, pause {cycle + 1}: no {_watched(mode)} reached us")
            else:
                pauses.append((reached - session.sent) * 1000)
                firsts.append(((session.first or reached) - session.sent) * 1000)
    await run_session(port, "hangup", agent)
    await run_session(port, "hangup", caller)
    return {"call_id": call_id, "pause_ms": pauses, "first_ms": firsts, "failures": failures}


def key_subroutine(agent: AgiChannel, key: str) -> str:
    """What the shipped ``[reccontrol-agi-key]`` does before its ``AGI()``: clears the
    key's result, stops the recording itself for a private key, or a pause or card key
    in skip mode, and names the key's script with the channel's state as arguments."""
    variables = agent.variables
    variables.pop("RECCONTROL_KEY", None)
    variables.pop("RECCONTROL_STOPPED", None)
    live = bool(variables.get("RECCONTROL_MIXMONITOR"))
    mode = variables.get("RECCONTROL_PAUSE_MODE", "")
    if live and (key == "private" or (key in STOPPED_FIRST_KEYS and mode == "skip")):
        variables["RECCONTROL_STOPPED"] = "yes"  # and StopMixMonitor, at once
    paused = variables.get("RECCONTROL_PAUSED", "")
    return f"{key}?live={int(live)}&mode={mode}&paused={paused}"


def _watched(mode: str) -> str:
    return "key's sound" if mode == "skip" else MUTE_ACTION


def _reached(
    session: Session, mode: str, mutes: list[tuple[float, str, str]], channel: str
) -> float | None:
    if mode == "skip":
        return session.watched
    return next((at for at, name, state in mutes if name == channel and state == "1"), None)


async def stand_in() -> None:
    """The second process: prints the AMI port, then runs one call per request line
    read on stdin (JSON) and prints its result line; ends with stdin."""
    ami = AmiStandIn()
    server = await asyncio.start_server(ami.serve, "127.0.0.1", 0)
    print(f"ami {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            result = await one_call(json.loads(line), ami)
        except (OSError, TimeoutError, ValueError, KeyError) as exc:
            result = {**NO_RESULT, "failures": [f"the stand-in failed: {exc!r}"]}
        print(json.dumps(result), flush=True)
    server.close()


# -- the bench's side ----------------------------------------------------------------------
class StandIn:
    """The stand-in process, from the bench: started before the daemon (whose AMI it is)."""

    def __init__(self, process: asyncio.subprocess.Process, ami_port: int) -> None:
        self._process = process
        self.ami_port = ami_port

    @classmethod
    async def start(cls) -> StandIn:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.agikeys",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().split()
        if len(first) != 2 or first[0] != "ami":
            process.kill()
            await process.wait()
            raise RuntimeError("the FastAGI stand-in did not start")
        return cls(process, int(first[1]))

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        line = await self._process.stdout.readline()
        if not line:
            return {**NO_RESULT, "failures": ["the stand-in process ended"]}
        result: dict[str, Any] = json.loads(line)
        return result

    async def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


def ami_section(site: SandboxSite, port: int) -> dict[str, Any]:
    """The daemon's ``ami`` section, pointed at the stand-in (which takes any secret)."""
    site.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = site.workdir / AMI_LOGIN_FILE
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(16) + "\n")
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": STAND_IN_USER,
        "password_file": str(secret),
    }


@dataclass
class AgiKeyRun:
    calls: int = 0
    cycles: int = 0
    pause_ms: dict[str, list[float]] = field(default_factory=dict)
    first_ms: dict[str, list[float]] = field(default_factory=dict)
    """Per pause: header written -> the daemon's first command read."""
    ari_ms: list[float] = field(default_factory=list)
    """Section 1's reccontrol figures, same run, for the ratio."""
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ari = summarize(self.ari_ms)
        modes: dict[str, Any] = {}
        for mode in MODES:
            samples, firsts = self.pause_ms.get(mode, []), self.first_ms.get(mode, [])
            ends = [total - first for total, first in zip(samples, firsts, strict=True)]
            agi = summarize(samples)
            modes[mode] = {
                **agi.as_dict(),
                "ratio_median": ratio(agi.median, ari.median),
                "ratio_p95": ratio(agi.p95, ari.p95),
                "under_budget": fraction_below(samples, BUDGET_MS),
                # Medians: accept and header; then from the daemon's first AGI command
                # to the figure's end (negative: the figure ended before it, as the
                # silence mode's mute does).
                "split_ms": {
                    "header_to_first_command": summarize(firsts).median,
                    "first_command_to_end": summarize(ends).median,
                },
            }
        return {
            "calls": self.calls,
            "cycles": self.cycles,
            "key_gap_seconds": KEY_GAP_SECONDS,
            "modes": modes,
            "ari": ari.as_dict(),
            "ari_under_budget": fraction_below(self.ari_ms, BUDGET_MS),
            "budget_ms": BUDGET_MS,
            "samples_ms": {m: [round(v, 4) for v in self.pause_ms.get(m, [])] for m in MODES},
            "failures": self.failures,
        }


async def measure(
    daemon: RunningDaemon,
    site: SandboxSite,
    stand_in: StandIn,
    calls: int,
    cycles: int,
    ari_ms: list[float],
) -> AgiKeyRun:
    """``calls`` calls of ``cycles`` pause/resume keys in each pause mode, the modes
    alternating call by call so that both see the same machine state."""
    server, ami = daemon.app[AGI], daemon.app[AMI]
    assert server is not None and ami is not None, "the bench site has agi and ami sections"
    run = AgiKeyRun(calls=calls, cycles=cycles, ari_ms=list(ari_ms))
    if not await wait_until(ami.connected.is_set, 10):
        run.failures.append("the daemon did not log in to the AMI stand-in")
        return run
    spool = str(site.instance.recording_dir.parent)
    run.pause_ms = {mode: [] for mode in MODES}
    run.first_ms = {mode: [] for mode in MODES}
    index = 0
    for _ in range(calls):
        for mode in MODES:
            request = {
                "agi_port": server.port, "mode": mode, "index": index,
                "cycles": cycles, "spool": spool,
            }  # fmt: skip
            index += 1
            result = await stand_in.call(request)
            run.pause_ms[mode] += result["pause_ms"]
            run.first_ms[mode] += result["first_ms"]
            run.failures += result["failures"]
            if result["call_id"]:
                run.failures += await _stored(daemon, result["call_id"], cycles, mode)
    return run


async def _stored(daemon: RunningDaemon, call_id: str, cycles: int, mode: str) -> list[str]:
    """What the store must hold once both hang-ups ran: every pause, resumed by the
    agent, the recording vaulted, the call ended, no alert."""
    call = await daemon.query(lambda s: s.call_summary(call_id))
    where = f"FastAGI {mode} call {call_id[:8]}"
    if call is None:
        return [f"{where}: not in the store"]
    problems = []
    resumed = [p for p in call["pauses"] if p["resumed_by"] == "agent"]
    if len(resumed) != cycles:
        problems.append(f"{where}: {len(resumed)} of {cycles} pauses stored, resumed by the agent")
    states = [r["state"] for r in call["recordings"]]
    if states != ["stored"]:
        problems.append(f"{where}: recordings {states}, not one stored")
    if not call["ended_at"]:
        problems.append(f"{where}: not ended")
    problems += [f"{where}: alert {a['kind']}" for a in call["alerts"]]
    return problems


if __name__ == "__main__":
    asyncio.run(stand_in())
