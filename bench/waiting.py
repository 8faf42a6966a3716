"""Polling for state that only the code under measurement holds (no event to await)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(done: Callable[[], bool], within: float, step: float = 0.02) -> bool:
    """True once ``done()`` holds, False if ``within`` seconds pass first."""
    deadline = time.monotonic() + within
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(step, remaining))
    return True
