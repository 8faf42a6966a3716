"""Waiting on a condition instead of sleeping for a guessed time.

A test that sleeps and then asserts passes or fails with the machine's load. These
helpers poll until the condition holds, with a deadline far beyond the normal time, so a
slow machine only makes the test slower; a condition that never holds still fails it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
DEFAULT_WITHIN = 30.0


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    within: float = DEFAULT_WITHIN,
    every: float = 0.05,
) -> T:
    """Polls ``probe`` until it returns a value other than None, and returns it."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {within} s")
        await asyncio.sleep(every)


async def until(condition: Callable[[], bool], what: str, within: float = DEFAULT_WITHIN) -> None:
    """Polls a plain ``condition`` until it holds."""

    async def probe() -> bool | None:
        return True if condition() else None

    await eventually(probe, what, within, every=0.01)


def blocking_until(
    probe: Callable[[], T | None],
    what: str,
    within: float = DEFAULT_WITHIN,
    every: float = 0.1,
) -> T:
    """:func:`eventually` for code outside the event loop (fixtures that run commands):
    polls ``probe`` until it returns a value other than None, and returns it."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {within} s")
        time.sleep(every)
