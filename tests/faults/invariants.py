"""What must hold a few seconds after any call ends, whatever failed during it:

* no channel of ours left in the Stasis application;
* no bridge of ours left (the daemon names its bridges ``rc-…``);
* no file left in Asterisk's recording folder (but those already there when the scenario
  began: the Asterisk is shared with the integration tests, whose own files are theirs);
* every recording row final: ``stored`` with its file in the vault and the same
  SHA-256, or ``discarded``/``failed`` with no file, or gone with a deletion receipt.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from controller.ari import AriClient
from controller.ari.errors import AriNotFound
from tests.audio import plaintext
from tests.waiting import eventually

FINAL_WITHOUT_FILE = ("discarded", "failed")


@dataclass
class Invariants:
    client: AriClient
    """A client straight to Asterisk (not through any proxy under test)."""
    app: str
    recording_dir: Path
    store: Path
    vault: Path
    violations: list[str] = field(default_factory=list)
    preexisting: frozenset[str] = frozenset()
    """Files in Asterisk's folder before the scenario began: not its doing."""

    def new_files(self) -> list[str]:
        """Files in Asterisk's folder that were not there when the scenario began."""
        return sorted(
            p.name for p in self.recording_dir.iterdir() if p.name not in self.preexisting
        )

    async def check(self) -> list[str]:
        problems: list[str] = []
        try:
            application = await self.client.get_application(self.app)
            channels = list(application.channel_ids)
        except AriNotFound:
            channels = []
        if channels:
            problems.append(f"{len(channels)} channel(s) still in Stasis: {channels}")
        bridges = [
            b["id"]
            for b in await self.client.request("GET", "/bridges") or []
            if str(b.get("id", "")).startswith("rc-")
        ]
        if bridges:
            problems.append(f"bridge(s) of ours left: {bridges}")
        files = self.new_files()
        if files:
            problems.append(f"file(s) left in Asterisk's recording folder: {files}")
        problems += await asyncio.to_thread(self._rows)
        return problems

    def _rows(self) -> list[str]:
        problems: list[str] = []
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            for row in db.execute("SELECT id, state, path, sha256 FROM recordings"):
                state = row["state"]
                if state == "stored":
                    path = Path(row["path"] or "")
                    if path.parent != self.vault or not path.is_file():
                        problems.append(f"recording {row['id']} stored without its vault file")
                    elif hashlib.sha256(plaintext(path)).hexdigest() != row["sha256"]:
                        problems.append(f"recording {row['id']}: vault file hash differs")
                elif state not in FINAL_WITHOUT_FILE:
                    problems.append(f"recording {row['id']} is {state}")
        return problems

    async def hold_within(self, seconds: float = 5.0) -> float:
        """Waits until every invariant holds; returns how long that took. Raises with the
        remaining violations if they still do not hold after ``seconds``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        problems: list[str] = []

        async def hold() -> bool | None:
            nonlocal problems
            problems = await self.check()
            return None if problems else True

        try:
            await eventually(hold, "the invariants", seconds, every=0.1)
        except AssertionError:
            raise AssertionError("invariants broken: " + "; ".join(problems)) from None
        return loop.time() - start
