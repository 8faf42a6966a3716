"""Fixtures shared by every test layer. The sandbox Asterisk is defined here, once: each
test process (each pytest-xdist worker of ``pytest -n``) has one instance for its whole
session, shared by its integration tests and fault scenarios, and a test that stops,
kills or restarts Asterisk takes one of its own with ``own_asterisk``."""

from __future__ import annotations

import fcntl
import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from controller.sandbox import Sandbox, SandboxError, SandboxInstance
from controller.sandbox.host import is_alive
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.postgresql_store import PostgresStore
from tests.asterisk_health import answers_ari, backtrace
from tests.integration.conftest import OWNED, free_port
from tests.postgresql import PostgresMissing, PostgresServer, postgres_server
from tests.prepare import suite_sandbox

StoreOpener = Callable[..., SqliteStore]

# Files that play calls or kill processes for minutes, longest first, then the other
# real-Asterisk files, then the quick ones: in parallel workers (pytest -n, a file to a
# worker) the long files start at once and the many short ones fill the gaps, instead of
# one long file starting last and running alone.
LONGEST_FIRST = (
    "test_daemon_killed_calls.py",
    "test_sip_phones.py",
    "test_agi_sip_phones.py",
    "test_payments.py",
    "test_containers.py",
    "test_purge_kill.py",
    # The authorisation matrix: some 280 cases in a browser, about four minutes.
    "test_matrix.py",
)
REAL_TIME_DIRS = ("faults", "integration", "browser")
# How long the worker's Asterisk has to answer ARI before a test takes it.
_ANSWER_SECONDS = 10.0
# The application the check opens an events websocket for: never one a test uses.
# Asterisk unregisters an application by name when its websocket closes, and handles
# that close after the check has moved on: under the name of the application the test
# then registers (the daemon's or a probe's), that could unregister the test's own.
PROBE_APP = "health-check"


def _run_order(item: pytest.Item) -> int:
    if item.path.name in LONGEST_FIRST:
        return LONGEST_FIRST.index(item.path.name)
    return len(LONGEST_FIRST) + (0 if item.path.parent.name in REAL_TIME_DIRS else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort by file: each file's tests stay together and in their order.
    items.sort(key=_run_order)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test process's own (each pytest-xdist worker has one),
    started on first use and stopped at the end of the session."""
    try:
        with postgres_server() as server:
            yield server
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """An empty database of this test's own on the worker's server, dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each store test runs on both backends (N1)."""
    return str(request.param)


@pytest.fixture
def open_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreOpener:
    """Opens the test's store on the backend of this run: a SQLite file in the test's
    folder, or the test's own PostgreSQL database. Every call opens the same store."""
    if backend == "sqlite":
        return lambda **kwargs: SqliteStore.open(tmp_path / "store.sqlite3", **kwargs)
    url = request.getfixturevalue("postgres_url")
    password = Secret(request.getfixturevalue("postgres").password)
    return lambda **kwargs: PostgresStore.connect(url, password=password, **kwargs)


@pytest.fixture
def site_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The ``store`` section of a test site on the backend of this run (for
    ``tests.sites.write_site``): the password of PostgreSQL's in a file, as ``*_file``."""
    if backend == "sqlite":
        return {"path": str(tmp_path / "store.sqlite3")}
    url = request.getfixturevalue("postgres_url")
    password = tmp_path / "store-password"
    password.write_text(request.getfixturevalue("postgres").password + "\n", encoding="utf-8")
    return {"url": url, "password_file": str(password), "node": "node-a"}


@pytest.fixture
def fresh_db(open_store: StoreOpener) -> Iterator[SqliteStore]:
    """An empty, fully migrated store, on each backend."""
    store = open_store()
    yield store
    store.close()


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    """The sandbox chroot, built once (about a minute) and reused afterwards."""
    try:
        box = suite_sandbox()
        box.ensure_built()
        # A test run killed before its teardown leaves its instances running: stop them.
        for name in box.instances():
            owner = OWNED.match(name)
            if owner and not is_alive(int(owner.group(1))):
                box.reset(name)
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    return box


@contextmanager
def _tests_lock(sandbox: Sandbox, operation: int) -> Iterator[None]:
    """A lock beside the chroot's own, between test processes (workers, parallel runs)."""
    path = sandbox.root.parent / f".{sandbox.root.name}.tests.lock"
    with open(path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, operation)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def steady(sandbox: Sandbox) -> Iterator[None]:
    """While held, no instance of any test process is between a kill and its restart,
    and none is starting or stopping: the chroot's mounts match its running instances.

    An instance killed and not yet started again runs no more, yet its proc mount stays
    for the restart; without this, a check that "no instance runs, so nothing is
    mounted" would fail whenever another worker's fault scenario is at that point."""
    with _tests_lock(sandbox, fcntl.LOCK_EX), sandbox.exclusive():
        yield


@contextmanager
def own_instance(sandbox: Sandbox, suffix: str = "") -> Iterator[SandboxInstance]:
    """An Asterisk of this test process's own, on free ports, named after the process
    (so a later run can stop it if this one is killed); stopped and wiped on the way out."""
    name = f"pytest-{os.getpid()}" + (f"-{suffix}" if suffix else "")
    try:
        instance = sandbox.up(name=name, http_port=free_port())
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield instance
    finally:
        sandbox.reset(name)


class _SharedAsterisk:
    """The worker's Asterisk, replaced by a fresh one if it stops answering."""

    def __init__(self, sandbox: Sandbox, notes: Path) -> None:
        self.sandbox, self.notes = sandbox, notes
        self._stack = ExitStack()
        self.instance = self._stack.enter_context(own_instance(sandbox))
        self.last_test = ""

    def answering(self, test: str) -> SandboxInstance:
        """The instance, proven to answer ARI. One that does not is a stuck Asterisk:
        its threads' backtraces are kept, a warning says where, and a fresh instance
        takes its place, so one stuck Asterisk does not fail every later test of the
        worker while the cause is looked into."""
        last, self.last_test = self.last_test, test
        if answers_ari(self.instance, PROBE_APP, within=_ANSWER_SECONDS):
            return self.instance
        stuck = self.instance
        where = self.notes / f"asterisk-{stuck.name}-{stuck.pid}-backtrace.txt"
        where.write_text(backtrace(stuck), encoding="utf-8")
        self._stack.close()
        self._stack = ExitStack()
        self.instance = self._stack.enter_context(own_instance(self.sandbox))
        warnings.warn(
            f"Asterisk {stuck.name} (pid {stuck.pid}) stopped answering ARI after "
            f"{last or 'its start'}; replaced by a fresh instance. Thread backtraces: {where}",
            stacklevel=1,
        )
        return self.instance

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def _shared_asterisk(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_SharedAsterisk]:
    shared = _SharedAsterisk(sandbox, tmp_path_factory.getbasetemp())
    try:
        yield shared
    finally:
        shared.close()
    with steady(sandbox):
        running, mounts = sandbox.running_instances(), sandbox.mounts()
    # The last instance to stop takes the chroot's mounts with it.
    if not running:
        assert mounts == [], f"still mounted after the last instance: {mounts}"


@pytest.fixture
def asterisk(_shared_asterisk: _SharedAsterisk, request: pytest.FixtureRequest) -> SandboxInstance:
    """One Asterisk for the whole test session (of this worker), with its own name and
    port, checked to answer before each test that takes it."""
    return _shared_asterisk.answering(request.node.nodeid)


@pytest.fixture
def own_asterisk(sandbox: Sandbox) -> Iterator[SandboxInstance]:
    """An Asterisk of this test's own, for a test that kills or restarts it: doing that to
    the session's one would cut the other tests. The test holds off :func:`steady` checks
    of other processes until its instance is stopped for good."""
    with _tests_lock(sandbox, fcntl.LOCK_SH), own_instance(sandbox, "own") as instance:
        yield instance
