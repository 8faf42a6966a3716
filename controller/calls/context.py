"""A call in progress as the router holds it: its machine, and the queue and task that
run its batches one at a time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from controller.calls.call import Call
from controller.calls.executor import Batch
from controller.calls.messages import Message


@dataclass
class CallContext:
    machine: Call
    queue: asyncio.Queue[Batch] = field(default_factory=asyncio.Queue)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a batch runs, so batches of one call never interleave."""
    task: asyncio.Task[None] | None = None
    finished: bool = False
    waiting: list[tuple[Message, float | None]] | None = None
    """While a key's pause is sent ahead of the machine hearing the key: the messages
    for the call meanwhile, handed to the machine after the key, in their order."""
