"""Fills in the ``@NAME@`` placeholders of the Asterisk configuration templates.

The templates live once, in the repository's ``config/asterisk``; the sandbox and the
container image both render them. A placeholder is ``@`` + upper-case letters, digits
or underscores + ``@``. An unknown placeholder is an error rather than left as is, so a
typo cannot reach Asterisk as a literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
# The UDP port a simulated SIP phone listens on: one per phone, chosen per instance.
PHONE_PORT = re.compile(r"^PHONE_([A-Z0-9]+)_PORT$")


def phone_placeholder(phone: str) -> str:
    """The placeholder holding ``phone``'s port: ``alice`` -> ``PHONE_ALICE_PORT``."""
    return f"PHONE_{phone.upper()}_PORT"


def phone_placeholders(config_dir: Path) -> list[str]:
    """The phones whose port the templates ask for (``@PHONE_<NAME>_PORT@``), lower case."""
    names: set[str] = set()
    for template in config_dir.glob("*.conf"):
        for match in PLACEHOLDER.finditer(template.read_text(encoding="utf-8")):
            phone = PHONE_PORT.match(match.group(1))
            if phone:
                names.add(phone.group(1).lower())
    return sorted(names)


def render(text: str, values: Mapping[str, str], source: str = "template") -> str:
    """Returns ``text`` with every placeholder replaced by its value."""
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - values.keys())
    if unknown:
        names = ", ".join(f"@{n}@" for n in unknown)
        raise ValueError(f"{source}: no value for {names}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def rendered_files(
    config_dir: Path, dialplan_dir: Path, values: Mapping[str, str]
) -> dict[str, str]:
    """File name to text: every template rendered, every dialplan snippet as it is.

    Dialplan snippets are what admins include on their own Asterisk: copied, never
    rendered. A name used by both is an error.
    """
    files = {
        template.name: render(template.read_text(encoding="utf-8"), values, str(template))
        for template in sorted(config_dir.glob("*.conf"))
    }
    for snippet in sorted(dialplan_dir.glob("*.conf")):
        if snippet.name in files:
            raise ValueError(
                f"{snippet.name} is both a template in {config_dir} and a dialplan snippet "
                f"in {dialplan_dir}"
            )
        files[snippet.name] = snippet.read_text(encoding="utf-8")
    return files
