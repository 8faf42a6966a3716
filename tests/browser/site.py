"""The console's test site: the real daemon, in a thread of its own, on the sandbox
Asterisk, with named persons of every role and calls recorded by Asterisk.

The daemon runs its own event loop in a thread so the tests can drive the browser with
Playwright's sync API from the test's thread (see ``conftest.py``); the tests reach its
store through :meth:`ConsoleDaemon.query`, which runs on the daemon's store thread.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiohttp

from controller.access.credentials import hash_password, hash_token
from controller.audit.entries import Entry
from controller.clock import Clock, ShiftedClock
from controller.config import load_config
from controller.demo.run import DEMO_LEGAL
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.demo.site import paris_weekday_10h as office_hours
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore
from controller.web.console.render import SESSIONS
from controller.web.console.sessions import Sessions
from tests.integration.flow import service, standard_agents

T = TypeVar("T")

# Services of the site. Every person below has at least one of them out of scope.
SERVICES = ("sales", "support", "hotline")
# Seconds the scripted callers talk once the agent answered: long enough for a recording
# a browser can seek in, short enough for a module's set-up.
TALK_SECONDS = 6
# Every sampling draw is below the rate: each answered call is recorded.
RECORDED_DRAW = 0.1


@dataclass(frozen=True)
class Account:
    """A person of the access list and the secret they sign in with."""

    id: str
    name: str
    role: str
    services: tuple[str, ...]
    kind: Literal["password", "token"]
    secret: str
    phone: str | None = None
    """The phone a supervisor listens live on (``access.persons.<id>.phone``, S8)."""

    def in_scope(self, service_name: str) -> bool:
        return "*" in self.services or service_name in self.services


def _account(
    pid: str, name: str, role: str, services: tuple[str, ...], kind: Literal["password", "token"]
) -> Account:
    # Made per run: nothing the suite would hand out is ever written in the repository.
    secret = secrets.token_urlsafe(16) if kind == "password" else secrets.token_urlsafe(32)
    return Account(pid, name, role, services, kind, secret)


def make_accounts() -> dict[str, Account]:
    """One person per role with a scope, plus a second supervisor on the other service."""
    accounts = (
        _account("mleroy", "Marc Leroy", "supervisor", ("sales",), "password"),
        _account("rlambert", "Rose Lambert", "supervisor", ("support",), "token"),
        _account("snguyen", "Sophie Nguyen", "quality", ("sales",), "token"),
        _account("cdubois", "Claire Dubois", "dpo", ("sales", "support"), "password"),
        _account("tadmin", "Théo Admin", "admin", ("support",), "token"),
    )
    return {account.id: account for account in accounts}


def access_section(folder: Path, accounts: dict[str, Account]) -> dict[str, Any]:
    """The ``access`` section, with each person's hash written in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    persons: dict[str, Any] = {}
    for account in accounts.values():
        if account.kind == "password":
            # The lowest cost the daemon accepts: a sign-in test pays it at each attempt.
            encoded, key = hash_password(account.secret, log2_n=14), "password_hash_file"
        else:
            encoded, key = hash_token(account.secret), "token_hash_file"
        path = folder / f"{account.id}.{account.kind}-hash"
        path.write_text(encoded + "\n", encoding="utf-8")
        path.chmod(0o600)
        persons[account.id] = {
            "name": account.name,
            "role": account.role,
            "services": list(account.services),
            key: str(path),
        }
        if account.phone is not None:
            persons[account.id]["phone"] = account.phone
    return {"persons": persons}


def site_data(
    site: SandboxSite,
    accounts: dict[str, Account],
    targets: dict[str, str] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The site's config. ``targets``: the agent a service's calls go to, by service
    (``Local/alice-talk@sim-agent`` for the others). ``web`` in ``sections`` is merged
    into the default address (a free port on the loopback); any other section replaces
    the default one."""
    web = sections.pop("web", {})
    targets = targets or {}
    services = {
        name: service(site, target=targets[name]) if name in targets else service(site)
        for name in SERVICES
    }
    data = site.config_data(
        services=services,
        agents=standard_agents(),
        access=access_section(site.workdir / "access", accounts),
        **sections,
    )
    data["web"] = {**data["web"], **web}
    # What the register and the notices need beyond the rest (D1), as the demo has it.
    data["legal"] = {**data.get("legal", {}), **DEMO_LEGAL}
    return data


class ConsoleDaemon:
    """The daemon as ``reccontrol run`` builds it, running in a thread's event loop."""

    def __init__(
        self,
        site: SandboxSite,
        accounts: dict[str, Account],
        clock: Clock | None = None,
        targets: dict[str, str] | None = None,
        sessions_clock: Callable[[], float] | None = None,
        **sections: Any,
    ) -> None:
        self.site, self.accounts = site, accounts
        # Office hours by default, so the standard agents' calls are recorded.
        self.clock = clock or ShiftedClock(office_hours())
        self.sessions_clock = sessions_clock
        """When given, what the console's sessions read their idle time from."""
        site.prepare()
        data = site_data(site, accounts, targets, **sections)
        self.config = load_config(site.write_config(data))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="console-daemon", daemon=True
        )
        self._daemon: RunningDaemon | None = None

    @property
    def url(self) -> str:
        web = self.config.web
        scheme = "https" if web.tls_certificate is not None else "http"
        return f"{scheme}://{web.host}:{web.port}"

    def run(self, coro: Coroutine[Any, Any, T], within: float = 120.0) -> T:
        """Runs ``coro`` on the daemon's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(within)

    def on_asterisk(self, fn: Callable[[Switchboard], Awaitable[T]], within: float = 120.0) -> T:
        """``fn(board)`` on the daemon's loop, with a switchboard of its own: places
        calls and asks the sandbox Asterisk over ARI, as the integration tests do."""

        async def switched() -> T:
            async with aiohttp.ClientSession() as session:
                return await fn(Switchboard(self.site.instance, session))

        return self.run(switched(), within)

    def query(self, fn: Callable[[SqliteStore], T]) -> T:
        """``fn(store)`` on the daemon's store thread: the store as the daemon sees it."""
        return self.run(self.daemon.store.run(fn))

    @property
    def daemon(self) -> RunningDaemon:
        if self._daemon is None:
            raise RuntimeError("the console's daemon is not started")
        return self._daemon

    def start(self) -> None:
        self._thread.start()

        async def started() -> RunningDaemon:
            daemon = RunningDaemon(
                self.config,
                clock=self.clock,
                rng=ScriptedRandom([RECORDED_DRAW] * 50),
            )
            if self.sessions_clock is not None:
                idle = self.config.web.session_idle_seconds
                daemon.app[SESSIONS] = Sessions(idle, clock=self.sessions_clock)
            # A bound, not a sleep (see tests/integration/flow.py).
            await daemon.start(within=30.0)
            return daemon

        self._daemon = self.run(started())

    def stop(self) -> None:
        try:
            if self._daemon is not None:
                self.run(self._daemon.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()

    def access_entries(self, after_seq: int = 0) -> list[Entry]:
        """The access log's entries after ``after_seq``, read through the store."""
        return self.query(lambda s: list(s.access_entries(after_seq)))

    def last_seq(self) -> int:
        """The sequence number of the access log's newest entry (0 when empty)."""
        return self.query(lambda s: s.audit_head()[0])

    def record_calls(self, services: tuple[str, ...] = SERVICES) -> dict[str, RecordedCall]:
        """One call per service, answered by Alice and recorded by the sandbox Asterisk;
        by service, once every recording is stored."""
        return self.run(self._record_calls(services), within=240.0)

    async def _record_calls(self, services: tuple[str, ...]) -> dict[str, RecordedCall]:
        daemon = self.daemon
        before = len(await daemon.query(lambda s: s.call_ids()))
        numbers = {name: _caller_number() for name in services}
        async with aiohttp.ClientSession() as session:
            board = Switchboard(self.site.instance, session)
            for name in services:
                await board.call(name, f"c-talk-{TALK_SECONDS}", numbers[name])
            calls = await daemon.wait_for_calls(before + len(services), within=120.0)
        recorded = {}
        for call in calls[before:]:
            (recording,) = call["recordings"]
            service_name = call["service"]
            recorded[service_name] = RecordedCall(
                service_name, call["id"], recording["id"], numbers[service_name], call
            )
        return recorded


@dataclass(frozen=True)
class RecordedCall:
    """A call the sandbox Asterisk recorded, and the number it came from."""

    service: str
    call_id: str
    recording_id: str
    number: str
    summary: dict[str, Any]


def _caller_number() -> str:
    # A fresh French mobile number per call: no caller's earlier objection applies.
    return "+336" + "".join(secrets.choice("0123456789") for _ in range(8))


@contextmanager
def running_console(
    instance: SandboxInstance,
    workdir: Path,
    accounts: dict[str, Account],
    clock: Clock | None = None,
    targets: dict[str, str] | None = None,
    sessions_clock: Callable[[], float] | None = None,
    **sections: Any,
) -> Iterator[ConsoleDaemon]:
    """The daemon with the console, on ``instance``, with ``sections`` in its config
    (``targets``: as :func:`site_data` has them; ``sessions_clock``: as
    :class:`ConsoleDaemon` has it)."""
    console = ConsoleDaemon(
        SandboxSite(instance, workdir), accounts, clock, targets, sessions_clock, **sections
    )
    try:
        console.start()
        yield console
    finally:
        console.stop()
