"""A backup's own files: created 0600, never over a file already there nor through a
link; read never through a link, and only when a regular file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from controller.recordings.vault import CHUNK


class BackupError(Exception):
    error_id = "backup-error"


def create_private_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


class NotPlainFile(Exception):
    """A file of the backup that is a link or not a regular file: never read."""


@contextlib.contextmanager
def open_plain(path: Path) -> Iterator[BinaryIO]:
    """A file of the backup opened for reading, never through a link, and only if it is
    a regular file: a link planted in a backup would have the check read (and vouch
    for) a file elsewhere, the live store say."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotPlainFile(f"{path} is a symbolic link; not read") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotPlainFile(f"{path} is not a regular file; not read")
    with os.fdopen(fd, "rb") as source:
        yield source


def sha256_of_file(path: Path) -> str:
    with open_plain(path) as source:
        digest = hashlib.sha256()
        while block := source.read(CHUNK):
            digest.update(block)
        return digest.hexdigest()
