"""Redaction after the fact (S11): the crash-safe steps that give a recording a new version
with a span silenced and destroy the old version.

1. *plan*: the old version is read through the vault (checked against its recorded hash)
   and the span turned into bytes (:mod:`controller.recordings.silence`);
2. *journal*: a row of ``redactions_pending`` (``writing``) says a redaction is under way;
3. *write*: the vault writes the new version, the old one read with the span zeroed, as a
   new file with its own data key (``write_version``); the old file is never written to;
4. *switch*: the recording row points to the new file and its hash, and the journal turns
   ``switched``, in one transaction: from here on the new version is the recording;
5. *shred*: the old version's data key is destroyed, then its file removed, and the
   folder synced, so no copy of it (a backup) can be read again;
6. *end*: the journal row goes and the access-log entry is written, in one transaction:
   who, when, why, the span, the old and the new version's hash.

A process killed between any two steps leaves a journal row, and
:func:`finish_interrupted` (run before every redaction and at the daemon's start) ends
it: a redaction killed before its switch (``writing``) is undone (every vault file named
after the recording that no row names is shredded: a new version written but never
switched to, or a writer's temporary file), the recording keeps its old version, and the
entry says the redaction was interrupted; one killed after its switch (``switched``) is
finished: the old version is shredded (again: its key went first, so a second pass finds
nothing to read) and the entry written as for a redaction that ran through. Either way
exactly one version is readable, the one the row names.

A legal hold refuses a redaction (a hold preserves evidence as it was), checked again in
the transactions of steps 2 and 4. Each redaction holds a lock beside the store shared;
finishing interrupted ones takes it exclusive, so a redaction another process is running
is never taken for an interrupted one.

Blocking code: run it in a worker thread or a CLI process, never on the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol

from controller.audit.chain import Entry, EntryDraft
from controller.clock import Clock
from controller.recordings.silence import Silence, SilencedReader, silence_of
from controller.recordings.vault import CHUNK, VaultError, copy_hashed
from controller.recordings.wavfile import HEADER_LIMIT, UnusableWav, layout_of
from controller.stoppoints import stop_point
from controller.store.redactions import PendingRedaction, RedactionConflict
from controller.store.timestamps import to_text

log = logging.getLogger("reccontrol.redaction")

ACTION = "redact"
SHRED_PENDING = "shred-pending"
INTERRUPTED = (
    "interrupted before the new version was in place: the recording is unchanged, "
    "what was written of the new version is shredded"
)


class Written(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def sha256(self) -> str: ...


class VersionVault(Protocol):
    """What a redaction needs of the vault."""

    def owns(self, path: Path) -> bool: ...
    def reader(self, path: Path) -> AbstractContextManager[BinaryIO]: ...
    def write_version(self, path: Path, source: BinaryIO) -> Written: ...
    def shred(self, path: Path) -> bool: ...
    def is_sealed(self, path: Path) -> bool: ...
    def sync(self) -> None: ...
    def files(self) -> list[Path]: ...


class RedactionStore(Protocol):
    def begin_redaction(self, pending: PendingRedaction) -> None: ...
    def switch_version(self, redaction_id: str, new_path: str, new_sha256: str) -> None: ...
    def end_redaction(self, redaction_id: str, entry: EntryDraft) -> Entry | None: ...
    def pending_redactions(self) -> list[PendingRedaction]: ...
    def recording_paths(self) -> set[str]: ...


class RedactionFailed(Exception):
    """The vault could not read the old version or write the new one: nothing changed.
    ``error_id``: ``file-changed`` (not the file whose hash was recorded), the vault's
    (``vault-error``, ``vault-file-refused``, ...), or :data:`SHRED_PENDING`: the new
    version is in place but the old one could not be shredded yet, which the next run
    does."""

    def __init__(self, message: str, error_id: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True)
class Target:
    """The recording to redact, as its row says it is now."""

    recording_id: str
    name: str
    path: Path
    sha256: str | None


@dataclass(frozen=True)
class Redacted:
    entry: Entry | None
    """None when another run ended the journal row first (it wrote the entry)."""
    silence: Silence
    new_sha256: str


def old_version_fate(sealed: bool) -> str:
    """What became of the old version, for the entry and the person."""
    if sealed:
        return "shredded: its data key destroyed, then its file"
    return (
        "removed: it was not sealed (a vault not yet migrated, S10), so copies of it in "
        "earlier backups can still be read"
    )


def span_text(start: Fraction, end: Fraction) -> str:
    return f"{_seconds(start)}-{_seconds(end)}"


def _seconds(value: Fraction) -> str:
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def plan(vault: VersionVault, target: Target, start: Fraction, end: Fraction) -> Silence:
    """Step 1: the bytes to silence in the recording's current version. Raises
    :class:`~controller.recordings.silence.SpanError` or ``FormatError`` for a span or a
    file that cannot be silenced, :class:`RedactionFailed` when the file cannot be read
    or is not the one recorded."""
    try:
        with vault.reader(target.path) as source:
            head = source.read(HEADER_LIMIT)
            size = source.seek(0, os.SEEK_END)
            source.seek(0)
            digest = copy_hashed(source, _Discard(), target.path.name)
    except VaultError as exc:
        raise RedactionFailed(f"recording {target.recording_id}: {exc}", exc.error_id) from None
    if target.sha256 and digest != target.sha256:
        raise RedactionFailed(
            f"recording {target.recording_id}: its file does not match the recorded hash",
            "file-changed",
        )
    try:
        layout = layout_of(head, size)
    except UnusableWav as exc:
        raise RedactionFailed(
            f"recording {target.recording_id}: not a usable WAV file ({exc})", "redact-format"
        ) from None
    return silence_of(layout, start, end)


def redact(
    store: RedactionStore,
    vault: VersionVault,
    clock: Clock,
    pending: PendingRedaction,
    silence: Silence,
) -> Redacted:
    """Steps 2 to 6 for a planned redaction. Raises :class:`RedactionConflict` (a hold,
    a change, another redaction: nothing changed) or :class:`RedactionFailed`."""
    old = Path(pending.old_path)
    store.begin_redaction(pending)
    stop_point("redaction-journaled")
    try:
        with vault.reader(old) as source:
            silenced = io.BufferedReader(SilencedReader(source, silence), CHUNK)
            written = vault.write_version(old, silenced)
    except (OSError, VaultError) as exc:
        _undo(store, vault, clock, pending, f"the new version could not be written: {exc}")
        error_id = getattr(exc, "error_id", "vault-error")
        raise RedactionFailed(f"recording {pending.recording_id}: {exc}", error_id) from None
    stop_point("redaction-written")
    try:
        store.switch_version(pending.id, str(written.path), written.sha256)
    except RedactionConflict as exc:
        _undo(store, vault, clock, pending, str(exc))
        raise
    stop_point("redaction-switched")
    try:
        vault.shred(old)
        vault.sync()
    except (OSError, VaultError) as exc:
        raise RedactionFailed(
            f"recording {pending.recording_id}: the new version is in place but the old one "
            f"could not be shredded yet ({exc}); the next redaction or the daemon's start "
            "shreds it",
            SHRED_PENDING,
        ) from None
    stop_point("redaction-shredded")
    done = replace_new(pending, str(written.path), written.sha256)
    entry = store.end_redaction(pending.id, _entry(clock, done, silence, "ok", ""))
    return Redacted(entry, silence, written.sha256)


def replace_new(pending: PendingRedaction, new_path: str, new_sha256: str) -> PendingRedaction:
    return dataclasses.replace(
        pending, step="switched", new_path=new_path, new_sha256=new_sha256
    )


def finish_interrupted(store: RedactionStore, vault: VersionVault, clock: Clock) -> list[Entry]:
    """Ends every redaction a killed process left (see the module's docstring); returns
    their entries. The caller holds the lock exclusive (:meth:`RedactionLock.exclusive`)."""
    entries: list[Entry] = []
    for pending in store.pending_redactions():
        try:
            if pending.step == "switched":
                vault.shred(Path(pending.old_path))
                vault.sync()
                done = _entry(clock, pending, None, "ok", "system")
                entry = store.end_redaction(pending.id, done)
            else:
                entry = _undo(store, vault, clock, pending, INTERRUPTED)
        except (OSError, VaultError) as exc:
            # Its journal row stays: the next run tries again. A redaction of that
            # recording is refused meanwhile (under way), never run over it.
            log.error(
                "ALERT: recording %s: interrupted redaction not ended: %s",
                pending.recording_id,
                exc,
            )
            continue
        if entry is not None:
            entries.append(entry)
    return entries


def _undo(
    store: RedactionStore,
    vault: VersionVault,
    clock: Clock,
    pending: PendingRedaction,
    reason: str,
) -> Entry | None:
    """A redaction that never switched: whatever was written of its new version is
    shredded, the journal row goes with an entry saying why."""
    for stray in stranded_versions(vault, store.recording_paths(), pending):
        vault.shred(stray)
    vault.sync()
    return store.end_redaction(pending.id, _entry(clock, pending, None, "error", "", reason))


def stranded_versions(
    vault: VersionVault, named: set[str], pending: PendingRedaction
) -> list[Path]:
    """Vault files of this recording (named after it: 160 random bits) that no row and
    no journal names: a version written but never switched to."""
    return [
        path
        for path in vault.files()
        if path.name.startswith(pending.name) and str(path) not in named and vault.owns(path)
    ]


def _entry(
    clock: Clock,
    pending: PendingRedaction,
    silence: Silence | None,
    result: str,
    finished_by: str,
    reason: str = "",
) -> EntryDraft:
    details: dict[str, object] = {
        "span": pending.span,
        "old_sha256": pending.old_sha256,
        "started_at": pending.started_at,
    }
    if result == "ok":
        details["new_sha256"] = pending.new_sha256
        details["old_key_destroyed"] = pending.old_sealed
        details["old_version"] = old_version_fate(pending.old_sealed)
    if silence is not None:
        details["silenced"] = [round(s, 6) for s in silence.seconds]
    if finished_by:
        details["finished_by"] = finished_by
    if reason:
        details["reason"] = reason
    return EntryDraft(
        at=to_text(clock.now()),
        actor=pending.actor,
        role=pending.role,
        action=ACTION,
        target=f"recording:{pending.recording_id}",
        purpose=pending.purpose,
        result=result,
        details=details,
    )


class RedactionLock:
    """A lock file beside the store: held shared by each redaction, exclusive to finish
    interrupted ones. The kernel drops it when its process ends, however it ends."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        """None: a store in memory, which no other process can reach."""

    @contextlib.contextmanager
    def _held(self, mode: int) -> Iterator[bool]:
        if self.path is None:
            yield True
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def shared(self) -> AbstractContextManager[bool]:
        """Held while one redaction runs (waits for a finishing run to end)."""
        return self._held(fcntl.LOCK_SH)

    def exclusive(self) -> AbstractContextManager[bool]:
        """True when no redaction runs anywhere: interrupted ones may be finished."""
        return self._held(fcntl.LOCK_EX | fcntl.LOCK_NB)


def lock_for(store_path: Path | str) -> RedactionLock:
    if str(store_path) == ":memory:":
        return RedactionLock(None)
    path = Path(store_path)
    return RedactionLock(path.with_name(path.name + ".redaction.lock"))


def finish_interrupted_now(
    store: RedactionStore, vault: VersionVault, clock: Clock, lock: RedactionLock
) -> list[Entry]:
    """:func:`finish_interrupted` if no redaction runs anywhere now, else nothing (the
    next run finishes them)."""
    with lock.exclusive() as alone:
        return finish_interrupted(store, vault, clock) if alone else []

