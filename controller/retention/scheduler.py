"""Runs the purge on a schedule inside the daemon (T4), off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from controller.retention.purge import PurgeReport

log = logging.getLogger("reccontrol.retention")

PurgeOnce = Callable[[threading.Event], PurgeReport]


class PurgeScheduler:
    """Every ``interval`` seconds, runs ``purge_once`` on its own thread.

    Stopping sets an event the purge checks between batches, then waits for the thread:
    a purge cut short is finished by the next one.
    """

    def __init__(self, purge_once: PurgeOnce, interval: float, first_delay: float) -> None:
        self._purge_once = purge_once
        self._interval = interval
        self._first_delay = first_delay
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reccontrol-purge")
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.failures = 0
        """Scheduled runs that raised, or finished with errors (each one logged)."""
        self.last: PurgeReport | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reccontrol-purge")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, True)

    async def run_now(self) -> PurgeReport:
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(self._executor, self._purge_once, self._stop)
        self.runs += 1
        self.last = report
        return report

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay)
        while not self._stop.is_set():
            try:
                report = await self.run_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed purge must not stop the daemon; the next run tries again.
                self.failures += 1
                log.exception("purge failed")
            else:
                log.info("purge: %s", "; ".join(report.summary()))
                for name in report.unknown_files:
                    log.warning("purge: file in the vault that no recording knows: %s", name)
                if report.marked_missing:
                    log.warning(
                        "purge: %d recording file(s) missing: %s",
                        len(report.marked_missing),
                        ", ".join(report.marked_missing),
                    )
                for problem in report.errors:
                    log.error("purge: %s", problem)
                if report.errors:
                    self.failures += 1
            await asyncio.sleep(self._interval)
