"""The demo, run by its own code in a thread of its own, held with its daemon running
(as ``reccontrol demo --keep`` holds it) while the test's thread drives the browser."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from controller.demo.console import SignIn, console_lines, make_sign_ins
from controller.demo.run import Scenario, run_scenarios
from controller.demo.site import RunningDaemon
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore

T = TypeVar("T")

# A short subset of the demo's calls: one recorded in a service the quality analyst
# sees, one recorded in a service outside her scope, one the caller objects to.
SCENARIOS = (
    Scenario("Sampled: recorded after the announcement", "sales", "c-talk-6", "B", 0.05),
    Scenario("Queue call: the member who answered decides", "hotline", "c-talk-6", "B", 0.05),
    Scenario("Unsampled; agent records for mediation (*1)", "mediation", "c-talk-8", "E", 0.95),
    Scenario("Caller objects during the announcement", "sales", "c-key-9-2-3", "A"),
)


@dataclass
class HeldDemo:
    """What the demo printed and its daemon, while it is held."""

    sign_ins: list[SignIn]
    lines: list[str] = field(default_factory=list)
    daemon: RunningDaemon | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    loop: asyncio.AbstractEventLoop | None = None

    def query(self, fn: Callable[[SqliteStore], T]) -> T:
        """``fn(store)`` on the held daemon's store thread."""
        if self.daemon is None or self.loop is None:
            raise RuntimeError("the demo is not held")
        running = asyncio.run_coroutine_threadsafe(self.daemon.store.run(fn), self.loop)
        return running.result(60)


@contextmanager
def held_demo(
    instance: SandboxInstance, workdir: Path, scenarios: Sequence[Scenario] = SCENARIOS
) -> Iterator[HeldDemo]:
    """Runs the demo's calls, then keeps its daemon up until the block ends."""
    held = HeldDemo(make_sign_ins())
    ready, failed = threading.Event(), []
    release: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def hold(daemon: RunningDaemon, results: list[dict[str, Any]]) -> None:
        web = daemon.config.web
        held.daemon, held.results, held.loop = daemon, results, asyncio.get_running_loop()
        held.url = f"http://{web.host}:{web.port}"
        held.lines.extend(console_lines(held.url, held.sign_ins))
        done = asyncio.Event()
        release.append((asyncio.get_running_loop(), done))
        ready.set()
        await done.wait()

    def run() -> None:
        try:
            asyncio.run(
                run_scenarios(
                    instance,
                    workdir,
                    lambda _: None,
                    scenarios,
                    sign_ins=held.sign_ins,
                    while_running=hold,
                )
            )
        except BaseException as exc:  # the test's thread says what went wrong
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="demo", daemon=True)
    thread.start()
    try:
        ready.wait(timeout=240)
        if failed:
            raise failed[0]
        if not release:
            raise TimeoutError("the demo's calls did not end within 240 s")
        yield held
    finally:
        for loop, done in release:
            loop.call_soon_threadsafe(done.set)
        thread.join(timeout=60)
