"""Fills in the ``@NAME@`` placeholders of the Asterisk configuration templates.

The templates live once, in the repository's ``config/asterisk``; the sandbox and the
container image both render them. A placeholder is ``@`` + upper-case letters, digits
or underscores + ``@``. An unknown placeholder is an error rather than left as is, so a
typo cannot reach Asterisk as a literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def render(text: str, values: Mapping[str, str], source: str = "template") -> str:
    """Returns ``text`` with every placeholder replaced by its value."""
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - values.keys())
    if unknown:
        names = ", ".join(f"@{n}@" for n in unknown)
        raise ValueError(f"{source}: no value for {names}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
