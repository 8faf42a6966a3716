"""What the router asks the store about the calls a previous run left open (R1): which
they are, and closing those nobody carries on. Each is one store transaction, waited
for: adoption decides on what it reads."""

from __future__ import annotations

from controller.calls import commands as c
from controller.clock import Clock
from controller.records import OpenCall
from controller.store import SqliteStore, StoreThread


class LeftOpenCalls:
    def __init__(self, store: StoreThread[SqliteStore], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def read(self) -> list[OpenCall]:
        return await self._store.run(lambda s: s.open_calls())

    async def close_interrupted(self, keep: set[str], only: set[str] | None = None) -> int:
        """Closes the calls a previous run left open that nobody carries on; ``only``:
        among those (see :meth:`SqliteStore.close_interrupted_calls`)."""
        now = self._clock.now()
        return await self._store.run(lambda s: s.close_interrupted_calls(now, keep, only))

    async def close_agi(self, commands: list[c.Command]) -> list[c.Command] | None:
        """A FastAGI call whose caller Asterisk no longer has: the plan's ``EndCall``
        carried out only if the row is still open, check and write in one transaction;
        the rest of the plan to run, or None when its hang-up hook closed the row
        meanwhile (the hook reaches the daemon whenever it runs, even during a
        reconnect's check: it saw how the call ended and took the file in)."""
        end = next((cmd for cmd in commands if isinstance(cmd, c.EndCall)), None)
        if end is None:
            return commands
        now = self._clock.now()
        closed = await self._store.run(
            lambda s: s.end_call(
                end.call_id, now, end.outcome, end.agent_id, end.announcement_completed,
                only_open=True,
            )
        )  # fmt: skip
        return [cmd for cmd in commands if cmd is not end] if closed else None
