"""Typed failures of the FastAGI layer.

Each carries a stable ``error_id`` callers branch on. Messages name what was wrong (a
header key, a response code, a command verb), never a value a caller chose: a caller
number or a channel variable may be in the value.
"""

from __future__ import annotations


class AgiError(Exception):
    error_id = "agi-error"


# -- what Asterisk sends when a session opens ------------------------------------------
class HeaderError(AgiError):
    """The ``agi_*`` block is not one Asterisk would send."""

    error_id = "agi-bad-header"


class HeaderTooLarge(HeaderError):
    """A header line longer, or more lines, than the bounds allow."""

    error_id = "agi-header-too-large"


class HeaderIncomplete(HeaderError):
    """The connection ended (or fell silent) before the blank line closing the block."""

    error_id = "agi-header-incomplete"


class RequestError(AgiError):
    """The script name or its arguments are not acceptable."""

    error_id = "agi-bad-request"


class UnknownScript(RequestError):
    error_id = "agi-unknown-script"


# -- what Asterisk answers to a command ------------------------------------------------
class ResponseError(AgiError):
    """A response line that is not one of AGI's."""

    error_id = "agi-bad-response"


class InvalidCommand(AgiError):
    """510: Asterisk does not know the command."""

    error_id = "agi-invalid-command"


class UsageError(AgiError):
    """520: the command's syntax was wrong; ``usage`` is what Asterisk said it should be."""

    error_id = "agi-usage"

    def __init__(self, message: str, usage: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.usage = usage


class ChannelHungUp(AgiError):
    """The channel is gone: Asterisk sent ``HANGUP``, or refused a command with 511."""

    error_id = "agi-channel-hung-up"


class DeadChannel(ChannelHungUp):
    """511: a command sent on a channel that had already hung up."""

    error_id = "agi-dead-channel"


class CommandTimeout(AgiError):
    """No complete answer to a command within its deadline."""

    error_id = "agi-command-timeout"


class ConnectionLost(AgiError):
    """The socket closed, or sent a line over the bound, in the middle of a command."""

    error_id = "agi-connection-lost"


class LineTooLong(ConnectionLost):
    """A line over the stream's bound: dropped unread, and the session with it."""

    error_id = "agi-line-too-long"


# -- what we would send --------------------------------------------------------------
class UnsafeValue(AgiError):
    """A value that cannot be put on the wire as one argument (newline, quote,
    backslash, control character, or too long)."""

    error_id = "agi-unsafe-value"


# -- the daemon's own side -----------------------------------------------------------
class StoreFailed(AgiError):
    """A script's write to the store failed: the script stops, the call goes on in the
    dialplan, unrecorded. The message names the failure's type only: a store error's own
    text may quote a value."""

    error_id = "store-failed"
