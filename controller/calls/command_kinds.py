"""The five kinds of command a call machine returns, by how the executor carries them
out. Kept apart from the commands themselves so that groups of commands can live in
modules of their own (:mod:`~controller.calls.masking_commands`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestCommand:
    """A request to Asterisk: awaited, one after another, in the batch's order."""


@dataclass(frozen=True)
class StoreCommand:
    """A write, queued to the store thread; nothing waits for it."""


@dataclass(frozen=True)
class WorkCommand:
    """Work off the event loop (a read, the vault, the payment API) whose answer, if
    any, comes back to the call as a message."""


@dataclass(frozen=True)
class TimerCommand:
    """Starts or cancels one of the call's named timers."""


@dataclass(frozen=True)
class ControlCommand:
    """For the executor itself: a log line, or the end of the call."""
