"""What recording a snoop channel on the caller does to the pause, hold music and a
muted caller, against recording the bridge: one real call each, on the sandbox Asterisk,
through :class:`bench.cpu_calls.MinimalRecorder`. The product depends on all three:

* **pause** (A5): the agent keys ``*2``, hums the 2600 Hz marker for 3 s, keys ``*3``
  (the sandbox's ``alice-pause`` script); the application pauses and resumes the
  recording straight from the event reader. The figure: milliseconds of marker in the
  file (0: nothing said during the pause leaked);
* **hold music** (A9): both ends silent, music on hold played on the caller's channel
  (``POST /channels/{id}/moh``) for 4 s, as the daemon holds a call. The figure: seconds
  of sound in the file (0: the music was not recorded);
* **muted caller** (assisted payment): the caller hums 500 Hz throughout; the caller's
  channel is muted (``POST /channels/{id}/mute?direction=in``) for 4 s. The figure:
  seconds of the caller's tone in the file during the mute (0: not recorded), taken as
  4 s less the longest stretch without the tone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from bench.cpu_calls import Call, MinimalRecorder
from bench.waiting import wait_until
from controller.sandbox import SandboxInstance
from tests.audio import Audio, read_wav, tone_frames, tone_seconds

WAYS = ("snoop", "bridge")
MARKER_HZ = 2600.0
CALLER_HZ = 500.0
HELD_SECONDS = 4.0
SOUND_LEVEL = 0.005
"""RMS of a 100 ms frame above which it carries sound (music on hold: 0.03-0.07)."""
FRAME_SECONDS = 0.1
LIMIT = 120.0
"""Seconds a check's call may take on a loaded machine before it is a failure."""


@dataclass(frozen=True)
class Finding:
    check: str
    way: str
    figure: float
    unit: str
    detail: str

    @property
    def key(self) -> str:
        """The figure's name in ``bench/results.json``."""
        return f"cpu.{self.way}_{self.check}_{self.unit}"


def sound_seconds(audio: Audio, frame_seconds: float = FRAME_SECONDS) -> float:
    """Seconds of the frames that carry sound (RMS above :data:`SOUND_LEVEL`)."""
    size = int(audio.rate * frame_seconds)
    frames = len(audio.samples) // size
    if frames == 0:
        return 0.0
    blocks = audio.samples[: frames * size].reshape(frames, size)
    levels = np.sqrt(np.mean(blocks**2, axis=1))
    return float(np.sum(levels > SOUND_LEVEL)) * frame_seconds


def longest_absence(present: list[bool], frame_seconds: float) -> float:
    """Seconds of the longest run of frames without the tone, after it was first heard
    (a loaded machine drops frames here and there: 100 ms frames ride over them)."""
    longest = run = 0
    heard = False
    for on in present:
        heard = heard or on
        run = 0 if on else run + 1
        if heard:
            longest = max(longest, run)
    return longest * frame_seconds


async def _finished(app: MinimalRecorder, call: Call) -> Path:
    """The call's file, once the caller has left and the recording is over."""
    if not await wait_until(lambda: call.caller not in app.calls, LIMIT, 0.1):
        raise TimeoutError(f"{call.recording}: the caller did not leave")

    async def stopped() -> bool:
        try:
            await app.rest("GET", f"/recordings/live/{call.recording}")
        except RuntimeError:
            return True
        return False

    for _ in range(int(LIMIT * 5)):
        if await stopped():
            break
        await asyncio.sleep(0.2)
    return app.instance.recording_dir / f"{call.recording}.wav"


async def pause(app: MinimalRecorder) -> Finding:
    app.pause_on_keys = True
    call = await app.place(10, LIMIT, agent="Local/alice-pause@sim-agent")
    audio = read_wav(await _finished(app, call))
    leak = tone_seconds(audio, MARKER_HZ) * 1000
    heard = tone_seconds(audio, CALLER_HZ)
    return Finding(
        "pause_leak", app.way, leak, "ms",
        f"{leak:.0f} ms of the marker in the file; {heard:.1f} s of the caller, "
        f"{audio.duration:.1f} s in all",
    )


async def hold(app: MinimalRecorder) -> Finding:
    silent = "Local/silent@sim-caller"
    call = await app.place(0, LIMIT, caller=silent, agent=silent)
    await asyncio.sleep(1.5)  # a stretch of silence before the music, not a wait for a result
    await app.rest("POST", f"/channels/{call.caller}/moh")
    await asyncio.sleep(HELD_SECONDS)  # the hold measured
    await app.rest("DELETE", f"/channels/{call.caller}/moh")
    await asyncio.sleep(1.5)
    await app.rest("DELETE", f"/channels/{call.caller}")
    audio = read_wav(await _finished(app, call))
    music = sound_seconds(audio)
    return Finding(
        "hold_music", app.way, music, "s",
        f"{music:.1f} s of sound in the file for {HELD_SECONDS:.0f} s of music on hold "
        f"played on the caller's channel ({audio.duration:.1f} s in all)",
    )


async def mute(app: MinimalRecorder) -> Finding:
    call = await app.place(12, LIMIT)
    await asyncio.sleep(3.0)  # the caller heard before the mute
    await app.rest("POST", f"/channels/{call.caller}/mute", direction="in")
    await asyncio.sleep(HELD_SECONDS)  # the mute measured
    await app.rest("DELETE", f"/channels/{call.caller}/mute", direction="in")
    audio = read_wav(await _finished(app, call))
    frames = tone_frames(audio, CALLER_HZ, FRAME_SECONDS).tolist()
    gap = longest_absence(frames, FRAME_SECONDS)
    recorded = max(0.0, HELD_SECONDS - gap)
    return Finding(
        "muted_caller", app.way, recorded, "s",
        f"the caller's tone is missing {gap:.1f} s at most for {HELD_SECONDS:.0f} s muted: "
        f"{recorded:.1f} s of the muted caller in the file",
    )


CHECKS: tuple[Callable[[MinimalRecorder], Awaitable[Finding]], ...] = (pause, hold, mute)


async def run(instance: SandboxInstance) -> tuple[list[Finding], list[str]]:
    """Every check, each way; returns the findings and the failures."""
    findings: list[Finding] = []
    failures: list[str] = []
    async with aiohttp.ClientSession() as session:
        for check in CHECKS:
            for way in WAYS:
                app = MinimalRecorder(instance, session, way)
                await app.connect()
                try:
                    findings.append(await check(app))
                except (TimeoutError, RuntimeError, OSError, ValueError) as exc:
                    failures.append(f"{check.__name__}, {way}: {exc}")
                finally:
                    await app.close()
                failures += [f"{check.__name__}, {way}: {e}" for e in app.errors]
                for path in instance.recording_dir.glob(f"{way}-*.wav"):
                    with contextlib.suppress(OSError):
                        path.unlink()
    return findings, failures
