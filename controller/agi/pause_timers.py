"""The limit of each FastAGI call's pause (M2): one timer per call, re-armed by a new
pause, cancelled by a resume or the hang-up, and dropped when the daemon stops (a
restarted daemon re-arms them from the store)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Fire = Callable[[str, str, str], None]
"""What a timer calls at the limit: (call id, pause id, agent channel)."""


class PauseTimers:
    def __init__(self, fire: Fire) -> None:
        self._fire = fire
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start(self, call_id: str, pause_id: str, channel: str, seconds: float) -> None:
        self.cancel(call_id)
        loop = asyncio.get_running_loop()
        self._timers[call_id] = loop.call_later(seconds, self._due, call_id, pause_id, channel)

    def cancel(self, call_id: str) -> None:
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _due(self, call_id: str, pause_id: str, channel: str) -> None:
        self._timers.pop(call_id, None)
        self._fire(call_id, pause_id, channel)
