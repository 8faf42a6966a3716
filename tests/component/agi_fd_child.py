"""A FastAGI server in a process of its own, with a low open-file limit: the parent
floods it, and asks it over stdin/stdout what it saw. Beside the server, a task opens
a file every few milliseconds, as the rest of the daemon (ARI's sockets, the store, the
vault) needs descriptors while the flood goes on.

``python -m tests.component.agi_fd_child FD_LIMIT``: prints the port, then answers each
line read on stdin with one JSON line: ``exhaust`` first takes every descriptor left,
``release`` gives them back, ``quit`` ends it."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time

from controller.agi.protocol import AgiRequest
from controller.agi.server import AgiServer
from controller.agi.session import AgiSession
from controller.config.model import AgiSettings

MAX_CONNECTIONS = 10000
"""The most the config allows: more than the open-file limit can hold."""


async def echo(session: AgiSession, request: AgiRequest) -> None:
    value = await session.get_variable("IN")
    await session.set_variable("OUT", f"{request.argument('x')}-{value}")


class Neighbour:
    """Stands for the rest of the daemon: opens (and closes) a file in a loop."""

    def __init__(self) -> None:
        self.opened = 0
        self.failed = 0
        self.held: list[int] = []
        self.paused = False

    def exhaust(self) -> None:
        """Takes every descriptor left, as a leak elsewhere in the process would."""
        self.paused = True
        while True:
            try:
                self.held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                return

    def release(self) -> None:
        for fd in self.held:
            os.close(fd)
        self.held.clear()
        self.paused = False

    async def run(self) -> None:
        while True:
            if self.paused:
                await asyncio.sleep(0.01)
                continue
            try:
                fd = os.open(os.devnull, os.O_RDONLY)
            except OSError:
                self.failed += 1
            else:
                os.close(fd)
                self.opened += 1
            await asyncio.sleep(0.002)


async def main(fd_limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))
    settings = AgiSettings(port=0, max_connections=MAX_CONNECTIONS, read_timeout_seconds=60.0)
    server = AgiServer(settings, {"echo": echo})
    await server.start()
    neighbour = Neighbour()
    running = asyncio.ensure_future(neighbour.run())
    loop = asyncio.get_running_loop()
    lines = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    print(json.dumps({"port": server.port}), flush=True)
    while (line := await lines.readline()) and line.strip() != b"quit":
        if line.strip() == b"exhaust":
            neighbour.exhaust()
        elif line.strip() == b"release":
            neighbour.release()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        state = {
            "active": server.active,
            "sessions": server.counters.sessions,
            "refused": server.counters.refused,
            "opened": neighbour.opened,
            "failed": neighbour.failed,
            "cpu": usage.ru_utime + usage.ru_stime,
            "wall": time.monotonic(),
        }
        print(json.dumps(state), flush=True)
    running.cancel()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
