"""The one exception the sandbox raises."""

from __future__ import annotations


class SandboxError(Exception):
    """The Asterisk sandbox cannot do what was asked.

    The message is one sentence that says what is wrong and, where there is one, the fix.
    """
