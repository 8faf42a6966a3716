"""The daemon as a real process (``python -m controller run``), killed with SIGKILL at a
named step: ``RECCONTROL_STOP_AT`` makes it announce the step on stderr and block
there, so the kill lands exactly at that step whatever the machine's speed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from controller.stoppoints import ANNOUNCEMENT, ENV

EXITED = "\x00daemon exited"
"""Put after the last line once the daemon's stderr closed."""


class DaemonProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self._config = config
        self._log = log
        self.process: asyncio.subprocess.Process | None = None
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.seen: list[str] = []

    async def start(self, fault_point: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != ENV}
        if fault_point:
            env[ENV] = fault_point
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller",
            "run",
            "-c",
            str(self._config),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._lines = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(self.process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        with self._log.open("a", encoding="utf-8") as log:
            while line := await process.stderr.readline():
                text = line.decode(errors="replace").rstrip("\n")
                log.write(text + "\n")
                log.flush()
                self.seen.append(text)
                self._lines.put_nowait(text)
        self._lines.put_nowait(EXITED)

    async def next_line(self) -> str:
        """The next line on stderr; raises at once if the daemon exited meanwhile (a web
        port taken by another process, say), with its last words."""
        line = await self._lines.get()
        if line == EXITED:
            self._lines.put_nowait(EXITED)
            last = "\n".join(self.seen[-5:])
            raise AssertionError(f"the daemon exited; its last lines:\n{last}")
        return line

    async def wait_for(self, needle: str, within: float = 60.0) -> str:
        """The first line from now on that contains ``needle``."""
        async with asyncio.timeout(within):
            while True:
                line = await self.next_line()
                if needle in line:
                    return line

    async def frozen_at(self, point: str, within: float = 60.0) -> None:
        await self.wait_for(f"{ANNOUNCEMENT}{point}", within)

    async def frozen_at_all(self, points: tuple[str, ...], within: float = 60.0) -> None:
        """Every point reached, in whatever order: points of different threads (the
        store's, the event loop's) announce themselves in no fixed order."""
        waiting = {f"{ANNOUNCEMENT}{point}" for point in points}
        async with asyncio.timeout(within):
            while waiting:
                waiting.discard(await self.next_line())

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as the kernel's OOM killer or a power cut."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()
        if self._reader is not None:
            await self._reader
