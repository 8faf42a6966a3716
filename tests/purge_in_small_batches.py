"""``reccontrol purge`` as the command runs it (the batches' store and file work
overlapped), in batches small enough that a test's few hundred
recordings make several: a kill test can then stop it between batches, while one batch's
files go and the next is condemned (T4)::

    python -m tests.purge_in_small_batches CONFIG

Exit status 0 when the purge reported no error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controller.clock import SystemClock
from controller.config import load_config
from controller.retention.purge import run_purge
from controller.store.opening import open_configured

BATCH = 40


def main() -> int:
    config = load_config(Path(sys.argv[1]))
    store = open_configured(config.store, audit_key=config.audit.checkpoint_key)
    try:
        report = run_purge(
            config,
            SystemClock(),
            store,
            batch_size=BATCH,
            overlapped=True,
        )
    finally:
        store.close()
    print("\n".join(report.summary()))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
