"""The AMI wire format, pure (R2, S5): hostile input (junk, an oversize line or message,
a message never ended) is a typed failure, never a crash or an unbounded buffer; what
is sent cannot be injected into; a secret stays out of a repr."""

from __future__ import annotations

import pytest

from controller.ami.errors import BadMessage, MessageTooLarge, UnsafeValue
from controller.ami.protocol import (
    MAX_FIELDS,
    MAX_LINE,
    MAX_MESSAGE,
    AmiMessage,
    MessageReader,
    action,
    parse_banner,
)


def feed_all(reader: MessageReader, data: bytes) -> list[AmiMessage]:
    out = []
    for line in data.splitlines(keepends=True):
        got = reader.feed(line)
        if got is not None:
            out.append(got)
    return out


def test_messages_are_key_value_lines_ended_by_a_blank_line() -> None:
    reader = MessageReader()
    data = (
        b"Response: Success\r\nActionID: rc-1\r\nMessage: Authentication accepted\r\n\r\n"
        b"\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\n\r\n"
    )
    first, second = feed_all(reader, data)
    assert first.response == "Success" and first.action_id == "rc-1"
    assert first.get("message") == "Authentication accepted"
    assert second.event == "FullyBooted" and second.get("Uptime") == "12"
    assert not reader.in_message


def test_a_value_keeps_its_colons_and_an_empty_value_is_empty() -> None:
    (message,) = feed_all(MessageReader(), b"Event: X\r\nChannel: PJSIP/a:b\r\nEmpty:\r\n\r\n")
    assert message.get("Channel") == "PJSIP/a:b" and message.get("Empty") == ""


def test_a_message_without_its_blank_line_is_not_yet_a_message() -> None:
    reader = MessageReader()
    assert feed_all(reader, b"Response: Success\r\nActionID: rc-1\r\n") == []
    assert reader.in_message


@pytest.mark.parametrize(
    "line",
    [b"garbage without colon\r\n", b": no key\r\n", b"Bad Key: x\r\n", b"\xff\xfe: x\r\n"],
)
def test_junk_is_a_typed_failure(line: bytes) -> None:
    with pytest.raises(BadMessage) as info:
        MessageReader().feed(line)
    assert info.value.error_id == "ami-bad-message"


def test_an_oversize_line_or_message_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        MessageReader().feed(b"Key: " + b"x" * MAX_LINE + b"\r\n")
    reader = MessageReader()
    with pytest.raises(MessageTooLarge) as info:
        for n in range(MAX_MESSAGE):
            reader.feed(f"K{n}: {'v' * 200}\r\n".encode())
    assert info.value.error_id == "ami-message-too-large"
    reader = MessageReader()
    with pytest.raises(MessageTooLarge):
        for n in range(MAX_FIELDS + 1):
            reader.feed(f"K{n}: v\r\n".encode())


def test_a_line_cut_before_its_end_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        MessageReader().feed(b"Response: Succ")


def test_the_greeting_must_be_asterisks() -> None:
    assert parse_banner(b"Asterisk Call Manager/9.0.0\r\n") == "Asterisk Call Manager/9.0.0"
    with pytest.raises(BadMessage):
        parse_banner(b"SSH-2.0-OpenSSH_9.6\r\n")


def test_actions_are_built_with_their_id_and_refuse_injection() -> None:
    data = action("MixMonitorMute", "rc-7", {"Channel": "PJSIP/alice-0001", "State": "1"})
    assert data == (
        b"Action: MixMonitorMute\r\nActionID: rc-7\r\nChannel: PJSIP/alice-0001\r\n"
        b"State: 1\r\n\r\n"
    )
    for value in ("x\r\nAction: Originate", "x\nA: b", "x\x00"):
        with pytest.raises(UnsafeValue) as info:
            action("Status", "rc-1", {"Channel": value})
        assert info.value.error_id == "ami-unsafe-value"
    with pytest.raises(UnsafeValue):
        action("Status", "rc-1", {"Chan\r\nnel": "x"})


def test_s5_a_secret_is_neither_in_a_repr_nor_in_a_refusal() -> None:
    message = AmiMessage((("Action", "Login"), ("Secret", "hunter2")))
    assert "hunter2" not in repr(message)
    with pytest.raises(UnsafeValue) as info:
        action("Login", "rc-1", {"Username": "u", "Secret": "hunter2\r\n"})
    assert "hunter2" not in str(info.value)
