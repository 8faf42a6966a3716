"""Redaction through the gate (S11): the DPO silences a span of a call's recording, with a
stated purpose, when a caller read out a card number or a health detail and nobody
paused.

Only the DPO may redact (``redact`` in :data:`~controller.access.gate.PERMISSIONS`): it
destroys part of a recording for good, as a deletion does, and the DPO is the person who
answers for what is kept. The service scope applies as for every access. A recording
under a legal hold is refused: a hold keeps the evidence as it was until the DPO
releases it. A call with several recordings (a transfer's segments) needs the one to
redact named; a call with none, or a recording that is not the call's, is refused
naming what is wrong. Every answer, refusals too, is in the access log; the redaction's
own entry (span, old and new hash) is written by :mod:`controller.retention.redaction`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

from controller.access.errors import AccessFailed
from controller.access.gate import Gate, clean_id
from controller.access.recordings import held_reason
from controller.audit.chain import Entry
from controller.clock import Clock
from controller.config.model import Person
from controller.recordings.silence import FormatError, Silence, SpanError, parse_seconds
from controller.retention.redaction import (
    RedactionFailed,
    RedactionLock,
    Target,
    VersionVault,
    finish_interrupted_now,
    plan,
    redact,
    span_text,
)
from controller.store.redactions import HELD, PendingRedaction, RedactionConflict
from controller.store.sqlite import SqliteStore
from controller.store.timestamps import to_text

ACTION = "redact"
BAD_SPAN = "bad-span"
BAD_RECORDING = "bad-recording"
"""The recording to redact cannot be told: none, several, or not one of the call's."""
UNDER_WAY = "redaction-under-way"
REDACTABLE = ("stored",)


@dataclass(frozen=True)
class RedactionResult:
    recording_id: str
    entry: Entry | None
    silence: Silence
    old_sha256: str | None
    new_sha256: str
    old_key_destroyed: bool
    """The old version was sealed and its data key is destroyed (else only removed)."""


def choose_recording(
    call_id: str, recordings: list[Mapping[str, Any]], wanted: str | None
) -> tuple[str | None, str]:
    """The id of the recording to redact, or None and why not (naming ``--recording``)."""
    stored = [str(r["id"]) for r in recordings if r["state"] in REDACTABLE]
    if wanted is not None:
        if wanted in stored:
            return wanted, ""
        return None, (
            f"--recording: {clean_id(wanted)} is not a stored recording of call "
            f"{clean_id(call_id)} (its stored recordings: {', '.join(stored) or 'none'})"
        )
    if not stored:
        return None, f"call {clean_id(call_id)} has no stored recording to redact"
    if len(stored) > 1:
        return None, (
            f"call {clean_id(call_id)} has {len(stored)} stored recordings "
            f"({', '.join(stored)}): name the one to redact with --recording"
        )
    return stored[0], ""


class RedactionAccess:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        vault: VersionVault,
        clock: Clock,
        lock: RedactionLock,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._gate = gate
        self._store = store
        self._vault = vault
        self._clock = clock
        self._lock = lock
        self._new_id = new_id or (lambda: secrets.token_hex(8))

    def finish_interrupted(self) -> list[Entry]:
        """Ends the redactions a killed process left, if none runs now."""
        return finish_interrupted_now(self._store, self._vault, self._clock, self._lock)

    def redact(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        recording_id: str | None,
        start: str,
        end: str,
    ) -> RedactionResult:
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, ACTION, target, purpose)
        call = self._store.call_summary(call_id)
        if call is None:
            raise self._gate.missing(person, ACTION, target, stated, "no such call")
        service = str(call["service"])
        self._gate.scope(person, ACTION, target, stated, service, hide_as="no such call")
        chosen, problem = choose_recording(call_id, call["recordings"], recording_id)
        if chosen is None:
            raise self._gate.refuse(person, ACTION, target, stated, problem, BAD_RECORDING)
        row = self._store.recording(chosen)
        target = f"recording:{chosen}"
        if row is None or row.path is None:
            raise self._gate.missing(person, ACTION, target, stated, "no such recording")
        if row.hold is not None:
            raise self._gate.refuse(person, ACTION, target, stated, held_reason(row.hold))
        try:
            first, last = parse_seconds(start, "--from"), parse_seconds(end, "--to")
        except SpanError as exc:
            raise self._gate.refuse(person, ACTION, target, stated, str(exc), BAD_SPAN) from None
        # What a killed redaction left is ended first, so this one starts from one
        # readable version (and a leftover journal row does not block it).
        self.finish_interrupted()
        current = Target(row.id, row.name, Path(row.path), row.sha256)
        with self._lock.shared():
            return self._run(person, stated, current, first, last)

    def _run(
        self, person: Person, stated: str, target: Target, first: Fraction, last: Fraction
    ) -> RedactionResult:
        where = f"recording:{target.recording_id}"
        try:
            silence = plan(self._vault, target, first, last)
        except SpanError as exc:
            raise self._gate.refuse(person, ACTION, where, stated, str(exc), BAD_SPAN) from None
        except FormatError as exc:
            raise self._gate.refuse(person, ACTION, where, stated, str(exc), BAD_SPAN) from None
        except RedactionFailed as exc:
            self._failed(person, where, stated, exc)
        pending = PendingRedaction(
            id=self._new_id(),
            recording_id=target.recording_id,
            name=target.name,
            step="writing",
            old_path=str(target.path),
            old_sha256=target.sha256,
            old_sealed=self._vault.is_sealed(target.path),
            new_path=None,
            new_sha256=None,
            span=span_text(first, last),
            actor=person.id,
            role=person.role,
            purpose=stated,
            started_at=to_text(self._clock.now()),
        )
        try:
            done = redact(self._store, self._vault, self._clock, pending, silence)
        except RedactionConflict as exc:
            error_id = "forbidden" if exc.error_id == HELD else exc.error_id
            raise self._gate.refuse(person, ACTION, where, stated, str(exc), error_id) from None
        except RedactionFailed as exc:
            self._failed(person, where, stated, exc)
        return RedactionResult(
            target.recording_id,
            done.entry,
            done.silence,
            target.sha256,
            done.new_sha256,
            pending.old_sealed,
        )

    def _failed(self, person: Person, where: str, stated: str, exc: RedactionFailed) -> NoReturn:
        self._gate.log(person, ACTION, where, stated, "error", {"reason": exc.error_id})
        raise AccessFailed(str(exc), error_id=exc.error_id)
