"""Secret files under systemd's credentials folder.

A unit with ``LoadCredential=NAME:PATH`` gets a private copy of each secret in
``$CREDENTIALS_DIRECTORY``, a folder whose path systemd chooses at start. A ``*_file``
key may therefore begin with ``${CREDENTIALS_DIRECTORY}`` (or ``$CREDENTIALS_DIRECTORY``);
no other variable is expanded, so a path never changes meaning by accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

VARIABLE = "CREDENTIALS_DIRECTORY"
_REFERENCE = re.compile(r"\$(?:\{CREDENTIALS_DIRECTORY\}|CREDENTIALS_DIRECTORY\b)")


class CredentialsDirectoryUnset(ValueError):
    pass


def secret_file_path(text: str, environ: Mapping[str, str]) -> Path:
    """``text`` with ``${CREDENTIALS_DIRECTORY}`` replaced by the environment's value.

    Raises :class:`CredentialsDirectoryUnset` when the path names it and it is unset.
    """
    if not _REFERENCE.search(text):
        return Path(text)
    folder = environ.get(VARIABLE, "")
    if not folder:
        raise CredentialsDirectoryUnset(
            f"names ${{{VARIABLE}}}, which is not set: start the daemon from its systemd "
            f"unit (LoadCredential=), or set {VARIABLE} to the folder holding the secrets"
        )
    return Path(_REFERENCE.sub(lambda _: folder, text))
