"""Folders only the daemon's account may enter: the store's, created before the store
itself (the single-instance lock lives beside it)."""

from __future__ import annotations

from pathlib import Path

PRIVATE_FOLDER_MODE = 0o700


def make_private_folder(folder: Path) -> None:
    """Creates the missing folders up to ``folder``, each 0700: the store holds caller
    HMACs and the access log, which no other account of the machine may list. A folder
    that already exists keeps its mode (it may be shared, e.g. a site's state folder)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for created in reversed(missing):
        created.mkdir(mode=PRIVATE_FOLDER_MODE, exist_ok=True)
        # mkdir's mode is masked by the umask; set it exactly.
        created.chmod(PRIVATE_FOLDER_MODE)
