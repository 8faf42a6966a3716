"""The FastAGI wire format: the header block, the response lines and the command lines
we send. Every hostile input is a typed failure with its ``error_id``, never a crash and
never a value on the wire that could add an argument or a command (R2)."""

from __future__ import annotations

import pytest

from controller.agi import commands
from controller.agi.errors import (
    AgiError,
    ChannelHungUp,
    DeadChannel,
    HeaderError,
    HeaderIncomplete,
    HeaderTooLarge,
    InvalidCommand,
    RequestError,
    ResponseError,
    UnsafeValue,
    UsageError,
)
from controller.agi.protocol import (
    HANGUP,
    MAX_HEADER_LINE_BYTES,
    MAX_HEADER_LINES,
    AgiResponse,
    HeaderParser,
    ResponseReader,
    parse_header,
    parse_response_line,
)

CALLER = "+33612345678"
LONG = b"x" * MAX_HEADER_LINE_BYTES
MANY_ARGUMENTS = "inbound?" + "&".join(f"k{i}=v" for i in range(20))
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


def block(**extra: str) -> list[bytes]:
    """A header block as Asterisk 22 sends it for ``AGI(agi://…/inbound?service=sales)``."""
    fields = {
        "agi_network": "yes",
        "agi_network_script": "inbound?service=sales",
        "agi_request": "agi://127.0.0.1:4573/inbound?service=sales",
        "agi_channel": "Local/sales@sim-entry-00000001;2",
        "agi_language": "en",
        "agi_type": "Local",
        "agi_uniqueid": "1733541234.42",
        "agi_version": "22.10.1",
        "agi_callerid": CALLER,
        "agi_calleridname": "Jeanne",
        "agi_callingpres": "0",
        "agi_context": "site-inbound",
        "agi_extension": "0140000001",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140245",
    }
    fields.update(extra)
    lines = [f"{k}: {v}\n".encode() for k, v in fields.items() if v != "<absent>"]
    return [*lines, b"\n"]


def test_r2_a_block_as_asterisk_sends_it_gives_the_script_and_its_arguments() -> None:
    request = parse_header(block(agi_arg_1="first", agi_arg_2="second, with a comma"))
    assert request.script == "inbound"
    assert request.argument("service") == "sales" and request.argument("other") is None
    assert request.query == (("service", "sales"),)
    assert request.args == ("first", "second, with a comma")
    assert request.channel == "Local/sales@sim-entry-00000001;2"
    assert request.uniqueid == "1733541234.42"
    assert (request.language, request.context, request.priority) == ("en", "site-inbound", "2")
    assert request.caller_number == CALLER and request.calleridname == "Jeanne"


def test_r2_the_callers_number_and_name_stay_out_of_the_requests_repr() -> None:
    text = repr(parse_header(block()))
    assert CALLER not in text and "Jeanne" not in text and "0140000001" not in text
    assert "1733541234.42" in text


def test_r2_numbers_in_the_dialplans_arguments_or_channel_name_stay_out_of_the_repr() -> None:
    """``AGI(agi://…/inbound?service=sales&from=${CALLERID(num)},${CALLERID(num)})`` on
    a Local channel named after the number: the repr, which a log line may carry, keeps
    the script and the unique id only."""
    number = "0612345678"
    request = parse_header(
        block(
            agi_network_script=f"inbound?service=sales&from={number}",
            agi_channel=f"Local/{number}@sim-entry-00000001;2",
            agi_arg_1=number,
        )
    )
    assert request.argument("from") == number and request.args == (number,)
    text = repr(request)
    assert number not in text
    assert "inbound" in text and "1733541234.42" in text


def test_r2_script_from_the_request_url_when_asterisk_gives_no_network_script() -> None:
    request = parse_header(
        block(
            agi_network_script="<absent>",
            agi_request="agi://[::1]:4573/inbound?service=support&lang=fr%2Dbe",
        )
    )
    assert request.script == "inbound"
    assert request.query == (("service", "support"), ("lang", "fr-be"))


def test_r2_an_unknown_caller_has_no_number() -> None:
    assert parse_header(block(agi_callerid="unknown")).caller_number == ""


def test_r2_a_name_in_latin_1_is_replaced_not_fatal() -> None:
    lines = block()
    lines.insert(3, b"agi_rdnis: Ren\xe9\n")
    parse_header(lines)  # no error: a caller's Latin-1 name must not lose the call
    lines = block()
    lines[9] = b"agi_calleridname: Ren\xe9e\n"
    assert parse_header(lines).calleridname == "Ren\ufffde"


@pytest.mark.parametrize(
    ("lines", "error", "error_id"),
    [
        ([b"GET / HTTP/1.1\r\n", b"\r\n"], HeaderError, "agi-bad-header"),
        ([b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"], HeaderError, "agi-bad-header"),
        ([b"agi_channel no colon\n", b"\n"], HeaderError, "agi-bad-header"),
        ([b"AGI_CHANNEL: upper\n", b"\n"], HeaderError, "agi-bad-header"),
        ([b"agi_chann\xe9l: x\n", b"\n"], HeaderError, "agi-bad-header"),
        ([b"\n"], HeaderError, "agi-bad-header"),
        ([b"agi_channel: a\n", b"agi_channel: b\n", b"\n"], HeaderError, "agi-bad-header"),
        ([b"agi_channel: a\n", b"agi_uniqueid: 1.2\n"], HeaderIncomplete, "agi-header-incomplete"),
        ([b"agi_channel: " + LONG + b"\n"], HeaderTooLarge, "agi-header-too-large"),
    ],
    ids=[
        "http", "tls", "no-colon", "upper-case", "key-not-ascii", "empty", "twice", "no-blank",
        "long",
    ],
)  # fmt: skip
def test_r2_junk_instead_of_a_header_is_a_typed_failure(
    lines: list[bytes], error: type[AgiError], error_id: str
) -> None:
    with pytest.raises(error) as raised:
        parse_header(lines)
    assert raised.value.error_id == error_id


def test_r2_a_block_of_many_long_lines_stops_at_the_block_bound() -> None:
    """Each line under its own bound and fewer lines than theirs, yet 80 KiB in all:
    refused once the block passes 64 KiB, not kept for the session."""
    lines = [f"agi_x{n}: ".encode() + b"y" * 4000 + b"\n" for n in range(20)]
    with pytest.raises(HeaderTooLarge) as raised:
        parse_header(block()[:-1] + lines + [b"\n"])
    assert raised.value.error_id == "agi-header-too-large"


def test_r2_more_header_lines_than_the_bound_stop_at_the_bound() -> None:
    parser = HeaderParser()
    with pytest.raises(HeaderTooLarge):
        for n in range(MAX_HEADER_LINES + 10):
            parser.feed(f"agi_x{n}: y\n".encode())
    # It stopped at the bound: the line after it was the one refused.
    assert n == MAX_HEADER_LINES


@pytest.mark.parametrize(
    ("fields", "error_id"),
    [
        ({"agi_uniqueid": "<absent>"}, "agi-bad-header"),
        ({"agi_uniqueid": "1.2 ; rm"}, "agi-bad-header"),
        ({"agi_network_script": "<absent>", "agi_request": "http://x/inbound"}, "agi-bad-header"),
        ({"agi_network_script": ""}, "agi-bad-request"),
        ({"agi_network_script": "../etc/passwd"}, "agi-bad-request"),
        ({"agi_network_script": "Inbound"}, "agi-bad-request"),
        ({"agi_network_script": "inbound?service"}, "agi-bad-request"),
        ({"agi_network_script": "inbound?service=a&service=b"}, "agi-bad-request"),
        ({"agi_network_script": "inbound?service=%ff"}, "agi-bad-request"),
        ({"agi_network_script": "inbound?service=a%0aVERBOSE"}, "agi-bad-request"),
        ({"agi_network_script": "inbound?service=" + "a" * 300}, "agi-bad-request"),
        ({"agi_network_script": MANY_ARGUMENTS}, "agi-bad-request"),
        ({"agi_arg_2": "gap"}, "agi-bad-header"),
        ({"agi_arg_1": "a", "agi_arg_900": "far"}, "agi-header-too-large"),
    ],
    ids=[
        "no-uniqueid", "uniqueid-junk", "not-agi-url", "no-script", "path", "upper", "no-value",
        "twice", "not-utf8", "newline", "long-value", "too-many", "arg-gap", "arg-far",
    ],
)  # fmt: skip
def test_r2_a_bad_script_or_argument_is_refused_by_name(
    fields: dict[str, str], error_id: str
) -> None:
    with pytest.raises((HeaderError, RequestError)) as raised:
        parse_header(block(**fields))
    assert raised.value.error_id == error_id
    assert "passwd" not in str(raised.value) and "VERBOSE" not in str(raised.value)


# -- responses ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "response"),
    [
        ("200 result=0", AgiResponse("0")),
        ("200 result=1 (timeout) endpos=1234", AgiResponse("1", "timeout", 1234)),
        ("200 result=57 endpos=8000", AgiResponse("57", None, 8000)),
        ("200 result=-1 endpos=0", AgiResponse("-1", None, 0)),
        ("200 result=1 (a value (with) parens)", AgiResponse("1", "a value (with) parens")),
        ("200 result=0123 (timeout)", AgiResponse("0123", "timeout")),
    ],
)
def test_r2_a_200_answer_gives_result_data_and_endpos(line: str, response: AgiResponse) -> None:
    assert parse_response_line(line) == response


def test_r2_result_as_a_number_only_when_it_is_one() -> None:
    assert AgiResponse("57").number == 57 and AgiResponse("-1").number == -1
    assert AgiResponse("").number is None and AgiResponse("1a").number is None


@pytest.mark.parametrize(
    ("line", "error", "error_id"),
    [
        ("510 Invalid or unknown command", InvalidCommand, "agi-invalid-command"),
        (DEAD, DeadChannel, "agi-dead-channel"),
        ("520 Invalid command syntax.  Proper usage not available.", UsageError, "agi-usage"),
        ("100 result=0 Trying...", ResponseError, "agi-bad-response"),
        ("999 what", ResponseError, "agi-bad-response"),
        ("200 result", ResponseError, "agi-bad-response"),
        ("", ResponseError, "agi-bad-response"),
        ("hello", ResponseError, "agi-bad-response"),
    ],
)  # fmt: skip
def test_r2_odd_response_codes_are_typed_failures(
    line: str, error: type[AgiError], error_id: str
) -> None:
    with pytest.raises(error) as raised:
        ResponseReader().feed(line.encode() + b"\n")
    assert raised.value.error_id == error_id


def test_r2_a_dead_channel_answer_is_a_hang_up() -> None:
    with pytest.raises(ChannelHungUp):
        parse_response_line(DEAD)


def test_r2_hangup_is_a_notice_and_the_answer_still_follows() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HANGUP\n") is HANGUP
    assert reader.feed(b"200 result=-1 endpos=1600\n") == AgiResponse("-1", None, 1600)


def test_r2_a_520_usage_block_is_read_to_its_end_then_raised_with_its_text() -> None:
    reader = ResponseReader()
    assert reader.feed(b"520-Invalid command syntax.  Proper usage follows:\n") is None
    assert reader.feed(b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n") is None
    with pytest.raises(UsageError) as raised:
        reader.feed(b"520 End of proper usage.\n")
    assert raised.value.usage == (" Usage: STREAM FILE <filename> <escape_digits> [sample offset]",)


def test_r2_an_endless_520_block_stops_at_the_bound() -> None:
    reader = ResponseReader()
    reader.feed(b"520-Invalid command syntax.  Proper usage follows:\n")
    with pytest.raises(ResponseError):
        for _ in range(1000):
            reader.feed(b"more\n")


def test_r2_oversize_and_non_utf8_answers() -> None:
    with pytest.raises(ResponseError):
        ResponseReader().feed(b"200 result=1 (" + b"x" * 10_000 + b")\n")
    # A variable's value in Latin-1 is replaced, not fatal.
    assert ResponseReader().feed(b"200 result=1 (Ren\xe9)\n") == AgiResponse("1", "Ren\ufffd")


# -- what we send ------------------------------------------------------------------------
def test_r2_commands_quote_each_value() -> None:
    assert commands.stream_file("custom/announce-sales", "90") == (
        'STREAM FILE "custom/announce-sales" "90"'
    )
    assert commands.set_variable("RECCONTROL_CONSENT", "informed") == (
        'SET VARIABLE "RECCONTROL_CONSENT" "informed"'
    )
    assert commands.get_variable("CHANNEL(language)") == 'GET VARIABLE "CHANNEL(language)"'
    assert commands.verbose("a b", 2) == 'VERBOSE "a b" 2'


@pytest.mark.parametrize(
    "build",
    [
        lambda: commands.set_variable("X", 'a" "b'),
        lambda: commands.set_variable("X", "a\nEXEC Dial PJSIP/900"),
        lambda: commands.set_variable("X", "a\rb"),
        lambda: commands.set_variable("X", "a\\"),
        lambda: commands.set_variable("X", "\x00"),
        lambda: commands.set_variable("X", "v" * 5000),
        lambda: commands.set_variable("X Y", "v"),
        lambda: commands.set_variable("X)\nHANGUP", "v"),
        lambda: commands.get_variable("SHELL(rm -rf /)"),
        lambda: commands.stream_file("../../etc/passwd"),
        lambda: commands.stream_file("a b"),
        lambda: commands.stream_file("beep", "9\n"),
        lambda: commands.stream_file("beep", "x"),
        lambda: commands.verbose("hi", 9),
        lambda: commands.line("NOOP\nHANGUP"),
    ],
)  # fmt: skip
def test_r2_a_value_that_could_add_an_argument_or_a_command_is_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(UnsafeValue) as raised:
        build()
    assert raised.value.error_id == "agi-unsafe-value"
