"""The FastAGI server on a real socket, with raw asyncio clients in Asterisk's place: no
bad input (junk, silence, a 64 KiB line, a reset, one connection too many, an unknown
script, a failing script) stops the event loop or reaches another session (R2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controller.agi.errors import ChannelHungUp
from controller.agi.protocol import AgiRequest
from controller.agi.server import AgiServer
from controller.agi.session import AgiSession
from controller.config.model import AgiSettings
from tests.component.fake_agi import FakeAsterisk, header
from tests.integration.conftest import free_port
from tests.waiting import until

READ_TIMEOUT = 0.5
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
    scripts: Scripts, *, read_timeout: float = READ_TIMEOUT, cap: int = CAP
) -> AgiServer:
    settings = AgiSettings(
        port=free_port(), max_connections=cap, read_timeout_seconds=read_timeout
    )
    server = AgiServer(
        settings, {"echo": scripts.echo, "play": scripts.play, "broken": scripts.broken}
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
    timeout = 2.0
    server = await running(scripts, read_timeout=timeout)
    try:
        silent = await FakeAsterisk.connect(server.port)
        await silent.send(header("echo?x=1")[:60])
        closing = asyncio.ensure_future(silent.closed_after())
        await echo_session(server.port, "2")
        assert scripts.echoed == ["2-in"]
        assert not closing.done(), "the other session waited for the silent one"
        took = await closing
        assert timeout * 0.9 <= took < timeout + 10
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
    server: AgiServer, scripts: Scripts
) -> None:
    client = await FakeAsterisk.connect(server.port)
    await client.send(header("echo?x=6"))
    assert await client.command() == 'GET VARIABLE "IN"'
    took = await client.closed_after()
    assert took < READ_TIMEOUT + 5
    # Nothing more was sent on a session whose answers can no longer be matched.
    assert client.unread == b"" and scripts.echoed == []


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
