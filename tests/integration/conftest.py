"""Fixtures for the integration tests: a real Asterisk 22 in the sandbox chroot.

Every test here is marked ``integration``. Without root or debootstrap the fixtures
fail with the sandbox's own sentence: a skipped integration test would hide that
nothing was checked against Asterisk.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.sandbox import Sandbox, SandboxError, SandboxInstance, default_root
from controller.sandbox.host import is_alive

REPOSITORY = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# Instances are named after the pytest process that owns them.
OWNED = re.compile(r"^pytest-(\d+)(?:-|$)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    """A TCP port nobody listens on right now, for one more instance's ARI."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
