"""Whether a sandbox Asterisk still answers, and what its threads are doing when not."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from controller.sandbox import SandboxInstance


def answers_ari(instance: SandboxInstance, app: str, within: float) -> bool:
    """True once ``GET /ari/asterisk/ping`` answers 200 and the events websocket of
    ``app`` upgrades (101); False if not within ``within`` seconds. Both: Asterisk has
    been seen answering REST while the upgrade for an application hung. Each attempt
    has its own short deadline, so a stuck server fails the probe instead of hanging it."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if _pings(instance, min(remaining, 3.0)) and _upgrades(instance, app, min(remaining, 3.0)):
            return True
        time.sleep(0.2)


def _token(instance: SandboxInstance) -> str:
    pair = f"{instance.ari_username}:{instance.ari_password}".encode()
    return base64.b64encode(pair).decode()


def _pings(instance: SandboxInstance, timeout: float) -> bool:
    request = urllib.request.Request(  # noqa: S310 - a fixed http URL on 127.0.0.1
        f"{instance.ari_url}/ari/asterisk/ping",
        headers={"Authorization": f"Basic {_token(instance)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _upgrades(instance: SandboxInstance, app: str, timeout: float) -> bool:
    """The websocket handshake of ``/ari/events?app=APP`` by hand: the status line only,
    then the connection is dropped (Asterisk unregisters the application)."""
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /ari/events?app={app} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{instance.http_port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Basic {_token(instance)}\r\n\r\n"
    )
    try:
        with socket.create_connection(("127.0.0.1", instance.http_port), timeout=timeout) as sock:
            sock.sendall(handshake.encode())
            status = sock.recv(64)
    except OSError:
        return False
    return status.startswith(b"HTTP/1.1 101")


def backtrace(instance: SandboxInstance) -> str:
    """Every thread's backtrace of the instance's Asterisk (gdb attaches and detaches),
    or why there is none. Its binary and libraries are the chroot's: gdb reads them
    there, or it would match the host's libraries against its memory."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "gdb is not installed: no backtrace\n"
    command = [gdb, "-batch", "-nx", "-ex", "set pagination off"]
    binary = instance.root / "usr/sbin/asterisk"
    command += ["-ex", f"set sysroot {instance.root}", "-ex", f"file {binary}"]
    command += ["-ex", f"attach {instance.pid}"]
    command += ["-ex", "thread apply all bt", "-ex", "detach"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return f"gdb did not finish with pid {instance.pid} within 120 s\n"
    return done.stdout + done.stderr
