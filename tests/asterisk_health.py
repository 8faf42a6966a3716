"""Whether a sandbox Asterisk still answers, and what its threads are doing when not."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from controller.sandbox import SandboxInstance


def answers_ari(instance: SandboxInstance, within: float) -> bool:
    """True once ``GET /ari/asterisk/ping`` answers 200; False if it has not within
    ``within`` seconds (each request has its own short deadline, so a stuck HTTP
    server fails the probe instead of hanging it)."""
    token = base64.b64encode(f"{instance.ari_username}:{instance.ari_password}".encode())
    request = urllib.request.Request(  # noqa: S310 - a fixed http URL on 127.0.0.1
        f"{instance.ari_url}/ari/asterisk/ping",
        headers={"Authorization": f"Basic {token.decode()}"},
    )
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            with urllib.request.urlopen(request, timeout=min(remaining, 3.0)) as answer:  # noqa: S310
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)


def backtrace(pid: int) -> str:
    """Every thread's backtrace of process ``pid`` (gdb attaches and detaches), or why
    there is none."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "gdb is not installed: no backtrace\n"
    command = [gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off"]
    command += ["-ex", "thread apply all bt"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return f"gdb did not finish with pid {pid} within 120 s\n"
    return done.stdout + done.stderr
