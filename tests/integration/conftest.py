"""The integration tests run on a real Asterisk 22 in the sandbox chroot (its fixtures,
shared with the fault scenarios, are in ``tests/conftest.py``).

Every test here is marked ``integration``. Without root or debootstrap the fixtures
fail with the sandbox's own sentence: a skipped integration test would hide that
nothing was checked against Asterisk.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

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
