"""Killing a command at one of its named stop points (``controller/stoppoints.py``).

The command announces each stop point on stderr and waits there; the test kills it
with SIGKILL at the one it names, so the crash lands between two exact steps, never at
a moment chosen by a clock.
"""

from __future__ import annotations

import signal
import subprocess

from controller.stoppoints import ANNOUNCEMENT
from controller.stoppoints import ENV as STOP_AT

KILL_TIMEOUT = 120.0
"""How long a killed process may take to be reaped: generous, a loaded machine is slow."""


def start_stopping_at(
    command: list[str], env: dict[str, str], step: str, *, stdout: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """Starts ``command`` so that it stops at ``step``; its stderr is piped for
    :func:`kill_at_step`."""
    return subprocess.Popen(
        command, env={**env, STOP_AT: step}, stdout=stdout, stderr=subprocess.PIPE, text=True
    )


def kill_at_step(process: subprocess.Popen[str], step: str) -> None:
    """Waits until ``process`` announces ``step``, then kills it there with SIGKILL.
    Fails naming what it printed if it ends without reaching the step."""
    assert process.stderr is not None
    lines: list[str] = []
    try:
        # stderr closes only when the process ends: one that never reaches the step
        # ends the loop with it.
        for line in process.stderr:
            lines.append(line)
            if line.strip() == f"{ANNOUNCEMENT}{step}":
                break
        else:
            raise AssertionError(f"{process.args!r} never reached {step}: {''.join(lines)}")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=KILL_TIMEOUT)
        assert process.returncode == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
