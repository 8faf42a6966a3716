"""A sandbox Asterisk instance owned by this bench process, always stopped on the way out."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from controller.demo.site import free_port
from controller.sandbox import Sandbox, SandboxInstance
from controller.sandbox.host import is_alive

# Instances are named after the bench process that owns them.
OWNED = re.compile(r"^bench-(\d+)$")


@contextmanager
def bench_instance() -> Iterator[SandboxInstance]:
    """Starts instance ``bench-<pid>`` on a free port; stops and wipes it on the way out."""
    sandbox = Sandbox.from_environment()
    sandbox.ensure_built()
    # A bench killed before its clean-up leaves its instance running: stop it.
    for name in sandbox.instances():
        owner = OWNED.match(name)
        if owner and not is_alive(int(owner.group(1))):
            sandbox.reset(name)
    name = f"bench-{os.getpid()}"
    try:
        instance = sandbox.up(name=name, http_port=free_port())
        yield instance
    finally:
        print(f"stopping sandbox instance {name}", file=sys.stderr, flush=True)
        sandbox.reset(name)
