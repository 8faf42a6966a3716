"""The load section over real SIP: calls held at once between SIPp phones, and the pause
leak measured on the audio.

Two SIPp processes play the sandbox's SIP phones (:mod:`tests.sip.sipp`): the trunk
places ``calls`` calls at ``rate`` a second (PCMU RTP, RFC 4733 keys) to one service, and
agent alice's phone answers every one of them. The daemon bridges and records each.
Every agent's media is the same: talk long enough for the last call to be up, then
``cycles`` times ``*2``, the 2600 Hz marker from the moment the 2 is released, ``*3``,
talk. The marker is said only while the recording should be paused, so whatever of it
is in a stored WAV (the tone detector of :mod:`tests.audio`, 10 ms frames) leaked:
``sip_<n>.pause_leak_ms`` is the most any call's file holds. ``held_min``: the fewest
two-party bridges counted while keys were arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import (
    ANNOUNCEMENT_SECONDS,
    BOARD_TIMEOUT,
    Observer,
    SizeResult,
    _agent_starts,
    _bridged,
    _count_keys,
    setup_times_ms,
    size_figures,
)
from bench.reaction import progress
from controller.ari.client import AriClient
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.sandbox import SandboxInstance
from tests.audio import read_wav, tone_seconds
from tests.sip.media import PACKET_MS, Part, duration_ms, keys, tone, write_pcap
from tests.sip.scenarios import answering_phone, calling_trunk
from tests.sip.sipp import Phone, sip_phones

AGENT_VOICE = 1100.0
CALLER_VOICE = 500.0
PAUSE_MARKER = 2600.0
"""What the agent says while the recording is paused."""
MARKER_MS = 1000
TALK_MS = 1000
SETTLE_MS = 4000
"""After the last call is placed, for it to be answered and recording before any key."""
SERVICE = "sipload"


def agent_media(calls: int, rate: float, cycles: int) -> list[Part]:
    """The agent talks until every call should be up, then pauses and resumes
    ``cycles`` times, humming the marker from the release of each 2 until its *3."""
    parts: list[Part] = [tone(AGENT_VOICE, packets_ms(calls / rate * 1000) + SETTLE_MS)]
    for _ in range(cycles):
        parts += [*keys("*2"), tone(PAUSE_MARKER, MARKER_MS), *keys("*3")]
        parts.append(tone(AGENT_VOICE, TALK_MS))
    return parts


def packets_ms(ms: float) -> int:
    """``ms`` rounded up to whole RTP packets (20 ms): what a phone's media can last."""
    return math.ceil(ms / PACKET_MS) * PACKET_MS


def leak_ms(marker_seconds: Sequence[float]) -> float | None:
    """The largest marker time found in any call's file, in ms (None: no file read)."""
    return max(marker_seconds) * 1000 if marker_seconds else None


def sip_figures(calls: int, result: SizeResult, markers: Sequence[float]) -> dict[str, Any]:
    """``sip_50.pause_leak_ms`` (the most), ``sip_50.leaking_calls`` (files holding any
    marker, one 10 ms frame or more) and the figures every size has."""
    out = size_figures(f"sip_{calls}", result, None)
    out[f"sip_{calls}.pause_leak_ms"] = leak_ms(markers)
    out[f"sip_{calls}.leaking_calls"] = sum(1 for m in markers if m > 0)
    return out


@dataclasses.dataclass
class ManyCalls(Phone):
    """One SIPp process for many calls: ``calls`` in all, started ``rate`` a second, up to
    ``calls`` at once (the agent's phone answers as many)."""

    calls: int = 1
    rate: float = 1.0

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("-m")
        command[at + 1] = str(self.calls)
        # Calls per 1000 ms, at most `calls` open at once.
        per_second = max(1, round(self.rate))
        return [*command, "-r", str(per_second), "-rp", "1000", "-l", str(self.calls)]


def site_config(site: SandboxSite) -> dict[str, Any]:
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    announcement = site.tone_sound("bench-load-announce", [(1800.0, ANNOUNCEMENT_SECONDS)])
    everywhere = [{"days": "daily", "from": "00:00", "to": "24:00"}]
    return site.config_data(
        services={
            SERVICE: {
                "language": "fr",
                "purposes": ["training", "quality"],
                "announcement": {"sound": announcement, "version": "bench"},
                "full_notice": announcement,
                "no_agent_sound": announcement,
                "sampling": {"rate": 0.5},
                "target": "PJSIP/alice",
                "answer_timeout": 30,
                "retention_days": 30,
            }
        },
        agents={
            "alice": {"name": "Alice Martin", "endpoints": ["PJSIP/alice"], "windows": everywhere}
        },
    )


async def measure(
    instance: SandboxInstance, workdir: Path, calls: int, cycles: int, rate: float
) -> tuple[SizeResult, list[float]]:
    """The calls over SIP; returns the size's result and each stored file's marker time
    (seconds)."""
    site = SandboxSite(instance, workdir)
    site.prepare()
    config = load_config(site.write_config(site_config(site)))
    daemon = RunningDaemon(config, rng=ScriptedRandom([0.0] * (calls + 5)))
    await daemon.start()
    result = SizeResult(calls)
    markers: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(instance, session)
            settings = dataclasses.replace(board.client.settings, request_timeout=BOARD_TIMEOUT)
            board.client = AriClient(settings, session)
            observer = Observer(instance, session)
            await observer.connect()
            try:
                await _calls(daemon, board, observer, result, workdir, cycles, rate, instance)
            finally:
                await observer.close()
        summaries = await daemon.query(lambda s: [s.call_summary(i) for i in s.call_ids()])
    finally:
        await daemon.stop()
    starts = _agent_starts(daemon)
    result.setup_ms = setup_times_ms(
        {c: t for c, t in starts.items() if c in observer.recording_started},
        observer.recording_started,
    )
    _count_keys(result, observer, summaries)
    for summary in summaries:
        for recording in summary["recordings"]:
            if recording["state"] == "stored" and recording.get("path"):
                audio = await asyncio.to_thread(read_wav, Path(recording["path"]))
                markers.append(tone_seconds(audio, PAUSE_MARKER))
    if len(markers) < calls:
        result.errors.append(f"{len(markers)} of {calls} recordings stored")
    return result, markers


async def _calls(
    daemon: RunningDaemon,
    board: Switchboard,
    observer: Observer,
    result: SizeResult,
    workdir: Path,
    cycles: int,
    rate: float,
    instance: SandboxInstance,
) -> None:
    calls = result.calls
    media = agent_media(calls, rate, cycles)
    # The caller talks through, and hangs up once the agent's last key is well past.
    hangup_after = duration_ms(media) + packets_ms(ANNOUNCEMENT_SECONDS * 1000) + 3000
    phones_dir = workdir / "sipp"
    async with sip_phones(instance.sip_port, instance.phone_ports, phones_dir) as phones:
        agent_pcap = write_pcap(phones_dir / "alice.pcap", media)
        caller_pcap = write_pcap(phones_dir / "trunk.pcap", [tone(CALLER_VOICE, hangup_after)])
        agent = ManyCalls(
            "alice",
            answering_phone("alice", agent_pcap),
            phones.phone_ports["alice"],
            phones_dir,
            calls=calls,
            rate=rate,
        )
        trunk = ManyCalls(
            "trunk",
            calling_trunk(SERVICE, "+33611112222", caller_pcap, hangup_after),
            phones.phone_ports["trunk"],
            phones_dir,
            remote=phones.asterisk_sip,
            calls=calls,
            rate=rate,
        )
        phones.phones += [agent, trunk]
        times = daemon.calls.reaction_times_ms
        before = times.count
        progress(f"load over SIP: {calls} call(s) placed at {rate:g}/s by SIPp")
        await agent.start()
        await trunk.start()
        samples = await _count_while(board, trunk)
        result.key_ms = times.since(before)
        keyed = observer.key_times
        if keyed:
            during = [n for at, n in samples if keyed[0] <= at <= keyed[-1]]
            result.held_min = min(during) if during else None
        for phone in (trunk, agent):
            try:
                await phone.finished(60 + calls)
            except AssertionError as exc:
                result.errors.append(str(exc).splitlines()[0])
    with contextlib.suppress(TimeoutError):
        await daemon.wait_for_calls(calls, within=60 + calls)


async def _count_while(board: Switchboard, trunk: Phone) -> list[tuple[float, int]]:
    """Two-party bridges, counted every half second until the trunk's calls are over."""
    samples: list[tuple[float, int]] = []
    assert trunk.process is not None
    while trunk.process.returncode is None:
        count = await _bridged(board.client)
        if count is not None:
            samples.append((time.monotonic(), count))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(trunk.process.wait()), 0.5)
    return samples
