"""AMI failures, each with a stable ``error_id`` callers branch on. Messages name what
was wrong, never the secret."""

from __future__ import annotations


class AmiError(Exception):
    error_id = "ami-error"


class BadMessage(AmiError):
    """What Asterisk sent is not an AMI message: junk, or over a bound."""

    error_id = "ami-bad-message"


class MessageTooLarge(BadMessage):
    error_id = "ami-message-too-large"


class UnsafeValue(AmiError):
    """A key or value that would break the message (CR, LF, another control
    character): refused before anything is sent."""

    error_id = "ami-unsafe-value"


class ActionFailed(AmiError):
    """``Response: Error``: Asterisk refused the action; ``message`` is its reason."""

    error_id = "ami-action-failed"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI refused {action}: {message or 'no reason given'}")
        self.action = action
        self.reason = message


class LoginRefused(ActionFailed):
    error_id = "ami-login-refused"


class ActionTimeout(AmiError):
    error_id = "ami-timeout"


class NotConnected(AmiError):
    """No AMI session now (never connected, or the connection was lost)."""

    error_id = "ami-not-connected"
