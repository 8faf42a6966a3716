"""The FastAGI server on a real socket, with raw asyncio clients in Asterisk's place: no
bad input (junk, silence, a 64 KiB line, a reset, one connection too many, an unknown
script, a failing script) stops the event loop or reaches another session (R2)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.agi.errors import ChannelHungUp
from controller.agi.protocol import AgiRequest
from controller.agi.server import AgiServer, close_connection
from controller.agi.session import AgiSession
from controller.config.model import AgiSettings
from tests.component.fake_agi import FakeAsterisk, header
from tests.integration.conftest import free_port
from tests.waiting import DEFAULT_WITHIN, until

REPOSITORY = Path(__file__).resolve().parents[2]
# Well-formed sessions answer each command long before this on any machine: a loaded one
# must not turn a slow answer into a cut session. A test of the cut-off itself starts a
# server of its own with a short read timeout and a peer that never answers.
READ_TIMEOUT = 30.0
SHORT_READ_TIMEOUT = 0.5
CAP = 3


class Scripts:
    """Test scripts: what each saw, for the assertions."""

    def __init__(self) -> None:
        self.echoed: list[str] = []
        self.hung_up = 0
        self.started = 0

    async def echo(self, session: AgiSession, request: AgiRequest) -> None:
        self.started += 1
        value = await session.get_variable("IN")
        await session.set_variable("OUT", f"{request.argument('x')}-{value}")
        self.echoed.append(f"{request.argument('x')}-{value}")

    async def play(self, session: AgiSession, request: AgiRequest) -> None:
        try:
            await session.stream_file("beep", "9")
        except ChannelHungUp:
            self.hung_up += 1
            raise

    async def broken(self, session: AgiSession, request: AgiRequest) -> None:
        raise KeyError("a defect in a script")


async def running(
    scripts: Scripts,
    *,
    read_timeout: float = READ_TIMEOUT,
    cap: int = CAP,
    clock: Callable[[], float] = time.monotonic,
) -> AgiServer:
    settings = AgiSettings(
        port=free_port(), max_connections=cap, read_timeout_seconds=read_timeout
    )
    server = AgiServer(
        settings,
        {"echo": scripts.echo, "play": scripts.play, "broken": scripts.broken},
        clock=clock,
    )
    await server.start()
    return server


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


@pytest.fixture
async def server(scripts: Scripts) -> AsyncIterator[AgiServer]:
    server = await running(scripts)
    yield server
    await server.stop()


async def echo_session(port: int, x: str = "1") -> list[str]:
    """A well-formed session, Asterisk's side: returns the commands it was sent."""
    asterisk = await FakeAsterisk.connect(port)
    await asterisk.send(header(f"echo?x={x}"))
    await asterisk.serve({"GET VARIABLE": "200 result=1 (in)"})
    return asterisk.commands


async def test_r2_a_well_formed_session_runs_its_script_and_closes(
    server: AgiServer, scripts: Scripts
) -> None:
    commands = await echo_session(server.port, "7")
    assert commands == ['GET VARIABLE "IN"', 'SET VARIABLE "OUT" "7-in"']
    assert scripts.echoed == ["7-in"]
    await until(lambda: server.active == 0, "the session ended")


@pytest.mark.parametrize(
    "junk",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\n\n",
        b"\n",
        b"agi_network: yes\nagi_network: yes\n\n",
    ],
    ids=["http", "binary", "empty-block", "repeated-key"],
)
async def test_r2_junk_is_closed_without_an_answer_and_the_next_session_runs(
    server: AgiServer, scripts: Scripts, junk: bytes
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(junk)
    await client.closed_after()
    assert client.unread == b""
    assert scripts.started == 0
    assert await echo_session(server.port) == ['GET VARIABLE "IN"', 'SET VARIABLE "OUT" "1-in"']


async def test_r2_half_a_header_then_silence_is_cut_off_after_the_read_timeout_while_others_run(
    scripts: Scripts,
) -> None:
    """A peer that writes part of the block and falls silent holds its session for the
    read timeout, not forever; meanwhile a well-formed session completes."""
    server = await running(scripts)
    try:
        # The read timeout is far longer than a session takes: the other session's end
        # while the silent one still waits shows it did not wait for it.
        silent = await FakeAsterisk.connect(server.port)
        await silent.send(header("echo?x=1")[:60])
        await until(lambda: server.active == 1, "the silent connection is a session")
        await echo_session(server.port, "2")
        assert scripts.echoed == ["2-in"]
        await until(lambda: server.active == 1, "the well-formed session ended")
        assert not silent.reader.at_eof(), "the silent session was cut before its timeout"
        silent.close()
    finally:
        await server.stop()
    timeout = 2.0
    server = await running(scripts, read_timeout=timeout)
    try:
        # Timed from before the connection, so the server's own clock starts later.
        started = time.monotonic()
        silent = await FakeAsterisk.connect(server.port)
        await silent.send(header("echo?x=1")[:60])
        await silent.closed_after()
        took = time.monotonic() - started
        assert timeout * 0.9 <= took < timeout + DEFAULT_WITHIN
        assert silent.unread == b""
    finally:
        await server.stop()


async def test_r2_a_64_kib_line_ends_that_session_only(server: AgiServer, scripts: Scripts) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(b"agi_network: " + b"x" * 65536 + b"\n")
    await client.closed_after()
    assert scripts.started == 0
    await echo_session(server.port)
    assert scripts.echoed == ["1-in"]


async def test_r2_one_connection_over_the_cap_is_closed_at_once_the_others_are_served(
    scripts: Scripts,
) -> None:
    server = await running(scripts, read_timeout=30.0)
    try:
        idle = [await FakeAsterisk.connect(server.port) for _ in range(CAP)]
        await until(lambda: server.active == CAP, "the first connections are sessions")
        extra = await FakeAsterisk.connect(server.port)
        assert await extra.closed_after() < 10.0  # at once, not after the 30 s read timeout
        assert server.counters.refused == 1
        # The earlier ones are still served.
        first = idle[0]
        await first.send(header("echo?x=3"))
        await first.serve({"GET VARIABLE": "200 result=1 (in)"})
        assert scripts.echoed == ["3-in"]
        await until(lambda: server.active == CAP - 1, "the served one ended")
        for client in idle[1:]:
            client.close()
        await until(lambda: server.active == 0, "the idle ones ended on close")
    finally:
        await server.stop()


async def test_r2_a_client_gone_in_the_middle_of_a_command_ends_its_session_only(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("echo?x=4"))
    assert await client.command() == 'GET VARIABLE "IN"'
    client.writer.transport.abort()  # a reset, no answer
    await until(lambda: server.active == 0, "the session ended")
    assert scripts.echoed == []
    await echo_session(server.port, "5")
    assert scripts.echoed == ["5-in"]


async def test_r2_a_client_gone_in_the_middle_of_the_header_ends_its_session_only(
    scripts: Scripts,
) -> None:
    """The case where a header loop that waits for the blank line spins or blocks for
    ever: here the session ends at once, long before the read timeout."""
    server = await running(scripts, read_timeout=30.0)
    try:
        client = await FakeAsterisk.connect(server.port)
        await client.send(header("echo?x=1")[:100])
        client.writer.write_eof()
        assert await client.closed_after() < 10.0
        assert client.unread == b"" and scripts.started == 0
        await until(lambda: server.active == 0, "the session ended")
        await echo_session(server.port)
        assert scripts.echoed == ["1-in"]
    finally:
        await server.stop()


async def test_r2_a_command_never_answered_ends_the_session_after_the_read_timeout(
    scripts: Scripts,
) -> None:
    server = await running(scripts, read_timeout=SHORT_READ_TIMEOUT)
    try:
        client = await FakeAsterisk.connect(server.port)
        await client.send(header("echo?x=6"))
        assert await client.command() == 'GET VARIABLE "IN"'
        took = await client.closed_after()
        # Well before the test's own deadline: it is the read timeout that cut it.
        assert took < DEFAULT_WITHIN / 2
        # Nothing more was sent on a session whose answers can no longer be matched.
        assert client.unread == b"" and scripts.echoed == []
    finally:
        await server.stop()


async def test_r2_an_unknown_script_is_told_to_the_dialplan_and_closed(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("nosuch?service=sales"))
    await client.serve({})
    assert client.commands == ['SET VARIABLE "RECCONTROL_ERROR" "unknown-script"']
    assert scripts.started == 0 and server.counters.unknown_scripts == 1


async def test_r2_a_bad_script_name_or_argument_is_told_as_a_bad_request(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("echo?x=%0aHANGUP"))
    await client.serve({})
    assert client.commands == ['SET VARIABLE "RECCONTROL_ERROR" "bad-request"']
    assert scripts.started == 0


async def test_r2_a_failing_script_is_told_as_an_internal_error_and_the_server_goes_on(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("broken"))
    await client.serve({})
    assert client.commands == ['SET VARIABLE "RECCONTROL_ERROR" "internal-error"']
    await echo_session(server.port)
    assert scripts.echoed == ["1-in"]


async def test_r2_hangup_during_a_playback_ends_the_script_with_nothing_more_sent(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("play"))
    await client.serve({"STREAM FILE": "HANGUP|200 result=-1 endpos=1600"})
    assert client.commands == ['STREAM FILE "beep" "9"']
    assert scripts.hung_up == 1


async def test_r2_a_dead_channel_answer_ends_the_script_as_a_hang_up(
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("play"))
    dead = "511 Command Not Permitted on a dead channel or intercept routine"
    await client.serve({"STREAM FILE": dead})
    assert client.commands == ['STREAM FILE "beep" "9"'] and scripts.hung_up == 1


async def test_r2_stopping_the_server_ends_open_sessions(scripts: Scripts) -> None:
    server = await running(scripts, read_timeout=30.0)
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("echo?x=8"))
    assert await client.command() == 'GET VARIABLE "IN"'
    await server.stop()
    assert await client.closed_after() < 10.0
    assert server.active == 0


class RecordCount(logging.Handler):
    """How many records the ``reccontrol.agi`` logger emitted: the volume of log output
    a flood costs, not what the lines say."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.fixture
def agi_records() -> Iterator[RecordCount]:
    logger = logging.getLogger("reccontrol.agi")
    counter = RecordCount()
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)


FLOOD = 300


async def test_r2_a_flood_of_junk_and_refused_connections_costs_a_bounded_number_of_log_lines(
    scripts: Scripts, agi_records: RecordCount
) -> None:
    """Hundreds of junk connections, unknown scripts and connections over the cap: the
    counters stay exact, the warnings logged are a handful, not one per connection."""
    # The whole flood inside one of the warnings' windows, however long a loaded machine
    # takes to play it: the server's clock stands still.
    server = await running(scripts, read_timeout=30.0, clock=lambda: 1000.0)
    try:
        for _ in range(FLOOD // 3):
            junk = await FakeAsterisk.connect(server.port)
            await junk.send(b"GET / HTTP/1.1\r\n\r\n")
            await junk.closed_after()
            unknown = await FakeAsterisk.connect(server.port)
            await unknown.send(header("nosuch"))
            await unknown.serve({})
        idle = [await FakeAsterisk.connect(server.port) for _ in range(CAP)]
        await until(lambda: server.active == CAP, "the idle connections are sessions")
        for _ in range(FLOOD // 3):
            extra = await FakeAsterisk.connect(server.port)
            await extra.closed_after()
        assert server.counters.bad_headers == FLOOD // 3
        assert server.counters.unknown_scripts == FLOOD // 3
        assert server.counters.refused == FLOOD // 3
        for client in idle:
            client.close()
        await until(lambda: server.active == 0, "the idle ones ended on close")
    finally:
        await server.stop()
    # The first few one by one, then one summary line (at the latest when it stops).
    assert agi_records.count <= 12, f"{agi_records.count} records for {FLOOD} connections"


def child_state(child: subprocess.Popen[str], order: str = "state") -> dict[str, Any]:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(f"{order}\n")
    child.stdin.flush()
    state: dict[str, Any] = json.loads(child.stdout.readline())
    return state


def all_answered(child: subprocess.Popen[str], connections: int) -> bool:
    """Every connection so far is a session or was refused."""
    state = child_state(child)
    return int(state["active"]) + int(state["refused"]) >= connections


IDLE_FLOOD = 1500
FLOOD_BATCH = 100
FD_LIMIT = 256


@pytest.fixture
def fd_child() -> Iterator[subprocess.Popen[str]]:
    """The server of :mod:`tests.component.agi_fd_child`, its open-file limit lowered."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.component.agi_fd_child", str(FD_LIMIT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    try:
        yield child
    finally:
        if child.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                child.stdin.write("quit\n")
                child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def test_r2_thousands_of_idle_connections_leave_the_daemon_its_descriptors(
    fd_child: subprocess.Popen[str],
) -> None:
    """A server whose agi.max_connections (10000) is more than its open-file limit
    (256) can hold, flooded by 1500 idle connections: the rest of the process can still
    open files meanwhile (ARI's sockets, the store, the vault need them), the loop does
    not spin, and once the flood stops a well-formed session is served."""
    child = fd_child
    flood: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        assert child.stdout is not None
        port = json.loads(child.stdout.readline())["port"]
        before = child_state(child)
        for _ in range(IDLE_FLOOD // FLOOD_BATCH):
            async with asyncio.timeout(DEFAULT_WITHIN):
                batch = [asyncio.open_connection("127.0.0.1", port) for _ in range(FLOOD_BATCH)]
                flood += await asyncio.gather(*batch)
            await until(
                functools.partial(all_answered, child, len(flood)),
                "every connection so far was taken or refused",
            )
            state = child_state(child)
            assert state["failed"] == 0, f"the daemon ran out of descriptors at {len(flood)}"
        during = child_state(child)
        assert during["opened"] > before["opened"]
        # Accepting 1500 connections is milliseconds of work, not seconds of spinning.
        assert during["cpu"] - before["cpu"] < 5.0
        for _, writer in flood:
            writer.transport.abort()
        flood.clear()
        await until(lambda: child_state(child)["active"] == 0, "the flood's sessions ended")
        assert await echo_session(port, "9") == ['GET VARIABLE "IN"', 'SET VARIABLE "OUT" "9-in"']
        assert child_state(child)["failed"] == 0
    finally:
        for _, writer in flood:
            writer.transport.abort()


async def test_r2_closing_a_connection_whose_peer_never_reads_ends_within_its_deadline() -> None:
    """A peer that stops reading while data is still buffered for it: the close resets
    it after the deadline instead of waiting for ever, so its session (and its place
    under agi.max_connections) ends."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        _, writer = await asyncio.open_connection(sock=ours)
        writer.write(b"x" * 4_000_000)  # far more than both socket buffers hold
        started = time.monotonic()
        await asyncio.wait_for(close_connection(writer, within=0.5), timeout=DEFAULT_WITHIN)
        assert time.monotonic() - started < 10.0
        assert writer.transport.is_closing()
        theirs.setblocking(False)
        with contextlib.suppress(BlockingIOError, ConnectionResetError):
            while theirs.recv(65536):
                pass
        # Everything not yet sent was dropped: the connection is gone, not still flushing.
        assert writer.transport.get_write_buffer_size() == 0


async def test_r2_out_of_descriptors_the_server_pauses_accepting_without_spinning_then_serves(
    fd_child: subprocess.Popen[str],
) -> None:
    """Every descriptor taken elsewhere in the process: connections wait in the kernel's
    queue while the loop stays nearly idle (no accept retried in a busy loop), and are
    served once descriptors are free again."""
    child = fd_child
    assert child.stdout is not None
    port = json.loads(child.stdout.readline())["port"]
    before = child_state(child, "exhaust")
    waiting = [asyncio.ensure_future(echo_session(port, str(n))) for n in range(5)]
    # CPU time over two seconds of wall time while nothing can be accepted.
    await until(lambda: child_state(child)["wall"] - before["wall"] >= 2.0, "two seconds")
    during = child_state(child)
    busy = (during["cpu"] - before["cpu"]) / (during["wall"] - before["wall"])
    assert busy < 0.5, f"the loop was busy {busy:.0%} of the time"
    assert not any(task.done() for task in waiting)
    child_state(child, "release")
    served = await asyncio.gather(*waiting)
    assert [commands[1] for commands in served] == [
        f'SET VARIABLE "OUT" "{n}-in"' for n in range(5)
    ]
