"""The AMI client against a scripted server (R2, S5): a refused login, an action with no
answer, a connection lost under a waiting action and a server that sends junk are each
a typed failure; the client logs in again by itself and the next action works."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controller.ami.client import AmiClient
from controller.ami.errors import ActionFailed, ActionTimeout, LoginRefused, NotConnected
from controller.ami.protocol import AmiMessage
from controller.config.model import AmiSettings
from controller.secrets import Secret
from tests.component.fake_ami import FakeAmi, answer
from tests.waiting import DEFAULT_WITHIN, until

SECRET = "s3cret-ami"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(SECRET)
    yield server
    await server.stop()


# A generous deadline for the answers that must come (greeting, login, actions): a loaded
# machine makes them slower, never absent. A test that needs a timeout asks for a short
# deadline on the one action the fake leaves unanswered.
ANSWERED_WITHIN = 30.0
NEVER_ANSWERED_WITHIN = 0.3


async def client_of(fake: FakeAmi, secret: str = SECRET) -> AmiClient:
    port = await fake.start()
    settings = AmiSettings("reccontrol", Secret(secret, "test"), "127.0.0.1", port)
    return AmiClient(settings, deadline=ANSWERED_WITHIN, initial_delay=0.05, max_delay=0.2)


async def test_logs_in_and_matches_answers_to_actions(fake: FakeAmi) -> None:
    fake.replies["Status"] = lambda m: answer(m, Message="ok", Channel=m.get("Channel") or "")
    client = await client_of(fake)
    await client.connect()
    try:
        first, second = await asyncio.gather(
            client.send("Status", {"Channel": "PJSIP/a-1"}),
            client.send("Status", {"Channel": "PJSIP/b-2"}),
        )
    finally:
        await client.close()
    assert (first.get("Channel"), second.get("Channel")) == ("PJSIP/a-1", "PJSIP/b-2")
    login = fake.received[0]
    assert (login.get("Action"), login.get("Username")) == ("Login", "reccontrol")
    assert SECRET not in repr(client) and SECRET not in repr(login)


async def test_s5_a_refused_login_is_typed(fake: FakeAmi) -> None:
    client = await client_of(fake, secret="wrong")
    with pytest.raises(LoginRefused) as info:
        await client.connect()
    assert info.value.error_id == "ami-login-refused" and "Authentication failed" in str(info.value)
    assert "wrong" not in str(info.value)
    assert not client.connected.is_set()


async def test_an_error_response_is_typed_and_the_session_goes_on(fake: FakeAmi) -> None:
    fake.replies["MixMonitorMute"] = lambda m: answer(m, "Error", Message="No such channel")
    client = await client_of(fake)
    await client.connect()
    try:
        with pytest.raises(ActionFailed) as info:
            await client.mixmonitor_mute("PJSIP/gone-1", True)
        assert info.value.error_id == "ami-action-failed" and info.value.reason == "No such channel"
        assert (await client.send("Ping")).response == "Success"
    finally:
        await client.close()


async def test_r2_no_answer_in_time_is_a_timeout_and_the_next_action_works(fake: FakeAmi) -> None:
    fake.replies["Status"] = lambda m: None
    client = await client_of(fake)
    await client.connect()
    try:
        with pytest.raises(ActionTimeout) as info:
            await client.send("Status", {"Channel": "x"}, deadline=NEVER_ANSWERED_WITHIN)
        assert info.value.error_id == "ami-timeout"
        assert (await client.send("Ping")).response == "Success"
    finally:
        await client.close()


async def test_r2_a_greeting_that_never_comes_is_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    settings = AmiSettings("reccontrol", Secret(SECRET, "test"), "127.0.0.1", port)
    try:
        with pytest.raises(ActionTimeout):
            await AmiClient(settings, deadline=NEVER_ANSWERED_WITHIN).connect()
    finally:
        server.close()


async def test_r2_a_connection_lost_fails_the_waiting_action_and_run_logs_in_again(
    fake: FakeAmi,
) -> None:
    fake.replies["Status"] = lambda m: b""  # hangs up instead of answering
    client = await client_of(fake)
    running = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.connected.wait(), DEFAULT_WITHIN)
        with pytest.raises(NotConnected) as info:
            await client.send("Status", {"Channel": "x"})
        assert info.value.error_id == "ami-not-connected"
        await until(lambda: fake.logins == 2 and client.connected.is_set(), "logged in again")
        assert (await client.send("Ping")).response == "Success"
    finally:
        await client.close()
        running.cancel()
    assert client.logins == 2


async def test_r2_junk_from_the_server_drops_the_connection_and_run_reconnects(
    fake: FakeAmi,
) -> None:
    fake.replies["Status"] = lambda m: b"this is not AMI\r\n"
    client = await client_of(fake)
    running = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.connected.wait(), DEFAULT_WITHIN)
        with pytest.raises(NotConnected):
            await client.send("Status")
        await until(lambda: fake.logins == 2 and client.connected.is_set(), "logged in again")
    finally:
        await client.close()
        running.cancel()


async def test_a_list_action_returns_its_events(fake: FakeAmi) -> None:
    def listing(m: AmiMessage) -> bytes:
        aid = m.action_id
        return (
            f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
            f"Event: CoreShowChannel\r\nActionID: {aid}\r\nUniqueid: 1.1\r\n\r\n"
            f"Event: CoreShowChannel\r\nActionID: {aid}\r\nUniqueid: 1.2\r\n\r\n"
            f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n\r\n"
        ).encode()

    fake.replies["CoreShowChannels"] = listing
    client = await client_of(fake)
    await client.connect()
    try:
        events = await client.channels()
    finally:
        await client.close()
    assert [e.get("Uniqueid") for e in events] == ["1.1", "1.2"]


async def test_an_action_without_a_connection_is_not_connected(fake: FakeAmi) -> None:
    client = await client_of(fake)
    with pytest.raises(NotConnected):
        await client.send("Ping")
