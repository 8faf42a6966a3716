"""The integration tests run on a real Asterisk 22 in the sandbox chroot (its fixtures,
shared with the fault scenarios, are in ``tests/conftest.py``).

Every test here is marked ``integration``. Without root or debootstrap the fixtures
fail with the sandbox's own sentence: a skipped integration test would hide that
nothing was checked against Asterisk.
"""

from __future__ import annotations

import os
import random
import re
import socket
from collections import deque
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


# Below Linux's ephemeral range (32768-60999 by default), which outgoing connections
# and every bind to port 0 draw from: a port picked here and bound a moment later (a
# daemon started, or restarted after a kill on the same port its calls name) cannot be
# taken meanwhile by another process's connection or pick. Each pytest-xdist worker has
# a block of its own; a process outside xdist, the last block.
PORT_BLOCKS = 9
PORT_BLOCK = 1000
FIRST_PORT = 20000


def _port_block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else -1
    block = index % (PORT_BLOCKS - 1) if index >= 0 else PORT_BLOCKS - 1
    start = FIRST_PORT + block * PORT_BLOCK
    return range(start, start + PORT_BLOCK)


# The last picks, not taken again soon: a daemon of an earlier test may still be closing.
_picked: deque[int] = deque(maxlen=PORT_BLOCK // 4)


def free_port() -> int:
    """A TCP port nobody listens on right now, from this process's own block, not one of
    its recent picks."""
    block = _port_block()
    offset = random.randrange(len(block))
    for step in range(len(block)):
        port = block[(offset + step) % len(block)]
        if port in _picked:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _picked.append(port)
        return port
    raise RuntimeError(f"no free TCP port left in {block.start}-{block.stop - 1}")
