"""How the purge handles a batch's files: a few at once, and the vault check done once
per folder (T4).

Removing a file is a system call that waits on the disk, not on Python: a few threads
overlap those waits, so a batch of a thousand files goes several times faster than one
by one. The order of the results is the order of the rows, whatever finishes first.

Whether a path is inside the vault resolves its folder (a few system calls per part of
the path); every recording of a vault lives in the same folder, so the answer is kept per
folder, for one batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from controller.recordings.vault import LocalVault

FILE_THREADS = 4
"""Threads removing files at once: enough to keep the disk busy on a small machine. More
do not go faster (4, 8 and 16 threads: no difference beyond the noise): ext4 removes the
entries of one folder one at a time, and every file of a vault lives in one folder (its
data keys in another)."""

T = TypeVar("T")
R = TypeVar("R")


class FileWork:
    """Runs a function over a batch's rows: on the threads of ``executor``, each thread
    given a slice of the rows (one task per thread, not per row: a task costs more than
    removing a file), or one by one in this thread when there is no executor."""

    def __init__(self, executor: Executor | None = None, threads: int = 1) -> None:
        self._executor = executor
        self._threads = max(1, threads)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self._executor is None or len(items) < 2:
            return [fn(item) for item in items]
        size = -(-len(items) // self._threads)
        slices = [items[i : i + size] for i in range(0, len(items), size)]
        results: list[R] = []
        for done in self._executor.map(lambda part: [fn(item) for item in part], slices):
            results += done
        return results


@contextmanager
def file_threads(count: int = FILE_THREADS) -> Iterator[FileWork]:
    """A :class:`FileWork` on ``count`` threads, stopped on the way out."""
    threads = max(1, count)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="purge-files") as pool:
        yield FileWork(pool, threads)


class OwnedPaths:
    """:meth:`LocalVault.owns`, its folder resolved once per distinct folder."""

    def __init__(self, vault: LocalVault) -> None:
        self._vault = vault
        self._folders: dict[str, bool] = {}

    def __call__(self, path: str | Path) -> bool:
        text = os.fspath(path)
        if os.path.basename(text) in ("", ".", ".."):
            return False
        folder = os.path.dirname(text)
        owned = self._folders.get(folder)
        if owned is None:
            owned = self._folders[folder] = self._vault.owns(Path(text))
        return owned
