"""The calls' named timers on the event loop: a call's ``StartTimer`` replaces its
timer of that name, and a call that is over loses them all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import assert_never

from controller.calls import commands as c

Fire = Callable[[str, str], None]
"""Told (call id, timer name) when a timer fires."""


class CallTimers:
    def __init__(self, fire: Fire) -> None:
        self._fire = fire
        self._handles: dict[str, dict[str, asyncio.TimerHandle]] = {}

    def run(self, call_id: str, command: c.Timer) -> None:
        timers = self._handles.setdefault(call_id, {})
        match command:
            case c.StartTimer(name=name, seconds=seconds):
                old = timers.pop(name, None)
                if old is not None:
                    old.cancel()
                loop = asyncio.get_running_loop()
                timers[name] = loop.call_later(seconds, self._fire, call_id, name)
            case c.CancelTimer(name=name):
                handle = timers.pop(name, None)
                if handle is not None:
                    handle.cancel()
            case _:
                assert_never(command)

    def drop(self, call_id: str) -> None:
        for handle in self._handles.pop(call_id, {}).values():
            handle.cancel()

    def drop_all(self) -> None:
        for call_id in list(self._handles):
            self.drop(call_id)
