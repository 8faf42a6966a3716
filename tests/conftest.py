"""Fixtures shared by every test layer. The sandbox Asterisk is defined here, once, so
the integration tests and the fault scenarios share one instance per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from controller.sandbox import Sandbox, SandboxError, SandboxInstance, default_root
from controller.sandbox.host import is_alive
from controller.store import SqliteStore
from tests.integration.conftest import OWNED, REPOSITORY, free_port


@pytest.fixture
def fresh_db() -> Iterator[SqliteStore]:
    """An empty, fully migrated in-memory store."""
    store = SqliteStore.open(":memory:")
    yield store
    store.close()


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    """The sandbox chroot, built once (about a minute) and reused afterwards."""
    try:
        box = Sandbox(default_root(), REPOSITORY / "config" / "asterisk", REPOSITORY / "dialplan")
        box.ensure_built()
        # A test run killed before its teardown leaves its instances running: stop them.
        for name in box.instances():
            owner = OWNED.match(name)
            if owner and not is_alive(int(owner.group(1))):
                box.reset(name)
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    return box


@pytest.fixture(scope="session")
def asterisk(sandbox: Sandbox) -> Iterator[SandboxInstance]:
    """One Asterisk for the whole test session, with its own name and port."""
    name = f"pytest-{os.getpid()}"
    try:
        instance = sandbox.up(name=name, http_port=free_port())
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield instance
    sandbox.reset(name)
    # The last instance to stop takes the chroot's mounts with it.
    if not sandbox.running_instances():
        assert sandbox.mounts() == [], f"still mounted after the last instance: {sandbox.mounts()}"
