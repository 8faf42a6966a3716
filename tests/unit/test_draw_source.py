"""The daemon as ``reccontrol run`` builds it draws from the OS CSPRNG (P4): the source
it wires is checked on the built application, not on Python's library."""

from __future__ import annotations

import random
from pathlib import Path

from controller.daemon import build_app
from controller.web.keys import RNG
from tests.sites import load_site, write_site


def test_p4_the_built_daemon_wires_the_os_csprng(tmp_path: Path) -> None:
    """P4: without an injected source the daemon's draws come from ``SystemRandom``
    (os.urandom), nothing seeded and nothing that merely looks random; an injected
    source, as the tests use, is the one wired."""
    config = load_site(write_site(tmp_path))
    assert type(build_app(config)[RNG]) is random.SystemRandom
    seeded = random.Random(4)
    assert build_app(config, rng=seeded)[RNG] is seeded
