"""Data-subject requests through the gate (C5): find, export and erase what is held about
a caller, looked up by the HMAC of the number in E.164 form. A number that cannot be read
is refused, not answered with "nothing found"; the log names the subject by a reference
derived from the HMAC, never by the number."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from controller.access.export import Exporter, ExportResult
from controller.access.gate import Gate
from controller.access.recordings import delete_on_request
from controller.audit.chain import Entry
from controller.audit.receipts import deleted_recording_ids
from controller.clock import Clock
from controller.config.model import Person, PrivacySettings
from controller.logs import mask_digits
from controller.privacy import NumberError, subject_hash
from controller.recordings.vault import LocalVault
from controller.store.records import RecordingRow
from controller.store.sqlite import SqliteStore
from controller.store.subjects import CallRecord
from controller.store.timestamps import to_text

ERASE_RULE = "C5: data-subject erasure request"


@dataclass(frozen=True)
class Findings:
    calls: list[CallRecord]
    hidden: int = 0
    """Calls outside the person's service scope, left out."""

    @property
    def recordings(self) -> list[RecordingRow]:
        return [r for record in self.calls for r in record.recordings]

    @property
    def sheet_ids(self) -> list[str]:
        return [s for record in self.calls for s in record.sheet_ids]


@dataclass(frozen=True)
class EraseResult:
    calls: int
    recordings_deleted: int
    sheets_deleted: int
    receipts: list[Entry]
    objection_kept: bool
    problems: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    """Call id -> reference of the legal hold that kept it, its recordings and sheets
    (T6, GDPR Art. 17(3)(e)): not erased."""


def subject_ref(hashed: str) -> str:
    """How the access log names a data subject: derived from the caller HMAC, so the DPO
    can find a request again from the number, yet not the value stored with calls."""
    return hashlib.sha256(f"subject:{hashed}".encode()).hexdigest()[:16]


def _range(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, str | None]:
    return {
        "from": to_text(start) if start else None,
        "to": to_text(end) if end else None,
    }


class SubjectRequests:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        vault: LocalVault,
        clock: Clock,
        privacy: PrivacySettings,
        exporter: Exporter,
    ) -> None:
        self._gate = gate
        self._store = store
        self._vault = vault
        self._clock = clock
        self._privacy = privacy
        self._exporter = exporter

    def find(
        self,
        person: Person,
        purpose: str,
        number: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Findings:
        stated, target, hashed = self._subject(person, "subject_find", purpose, number)
        found = self._find(person, hashed, start, end)
        self._gate.log(
            person,
            "subject_find",
            target,
            stated,
            "ok",
            {
                **_range(start, end),
                "calls": len(found.calls),
                "recordings": len(found.recordings),
                "sheets": len(found.sheet_ids),
                "outside_scope": found.hidden,
            },
        )
        return found

    def export(
        self,
        person: Person,
        purpose: str,
        number: str,
        output: Path,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> ExportResult:
        stated, target, hashed = self._subject(person, "subject_export", purpose, number)
        self._gate.no_card_in_file_name(person, "subject_export", target, stated, output)
        found = self._find(person, hashed, start, end)
        request = {**_range(start, end), "number": number}
        result = self._exporter.write_zip(output, found.calls, request, person.id, stated)
        self._gate.log(
            person,
            "subject_export",
            target,
            stated,
            "ok" if not result.problems else "error",
            {
                **_range(start, end),
                "file": mask_digits(output.name),
                "calls": result.calls,
                "recordings": result.recordings,
                "sheets": result.sheets,
                "problems": result.problems,
            },
        )
        return result

    def erase(
        self,
        person: Person,
        purpose: str,
        number: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> EraseResult:
        """Deletes the subject's recordings (files and rows, with receipts) and sheets,
        and removes the caller HMAC from the calls. A caller's objection stays on record,
        so the number is still not recorded (C4).

        A call under a legal hold is left as it is, recordings, sheets and link to the
        number: GDPR Art. 17(3)(e) lets it be kept for a legal claim (T6). The result
        names it, so the DPO can tell the person why."""
        stated, target, hashed = self._subject(person, "subject_erase", purpose, number)
        found = self._find(person, hashed, start, end)
        held = {
            c.call["id"]: hold.reference
            for c in found.calls
            if (hold := self._store.standing_hold(c.call["id"])) is not None
        }
        live = [r for r in found.recordings if r.state == "live" and r.call_id not in held]
        rows = [r for r in found.recordings if r.state != "live" and r.call_id not in held]
        receipts, problems, held_meanwhile = delete_on_request(
            self._store, self._vault, self._clock, person, stated, rows, ERASE_RULE
        )
        held.update({r.call_id: held_meanwhile[r.id] for r in rows if r.id in held_meanwhile})
        problems += [
            f"recording {r.id} is in progress; erase again once the call has ended" for r in live
        ]
        rows += live
        # A call whose recording could not be removed keeps its link, so a re-run finds it.
        erased = deleted_recording_ids(receipts)
        failed = {r.id for r in rows} - set(erased)
        keep = {r.call_id for r in rows if r.id in failed} | set(held)
        call_ids = [c.call["id"] for c in found.calls if c.call["id"] not in keep]
        sheet_ids = [s for c in found.calls if c.call["id"] not in keep for s in c.sheet_ids]
        objection = self._store.has_objection(hashed, self._clock.now())
        self._store.erase_subject_rows(
            call_ids,
            sheet_ids,
            self._gate.draft(
                person,
                "subject_erase",
                target,
                stated,
                "ok" if not problems else "error",
                {
                    **_range(start, end),
                    "calls": len(call_ids),
                    "recordings": erased,
                    "receipts": [e.seq for e in receipts],
                    "sheets": sheet_ids,
                    "objection_kept": objection,
                    "outside_scope": found.hidden,
                    "problems": problems,
                    "kept_under_legal_hold": held,
                },
            ),
        )
        return EraseResult(
            calls=len(call_ids),
            recordings_deleted=len(erased),
            sheets_deleted=len(sheet_ids),
            receipts=receipts,
            objection_kept=objection,
            problems=problems,
            held=held,
        )

    def _subject(
        self, person: Person, action: str, purpose: str, number: str
    ) -> tuple[str, str, str]:
        why = ""
        try:
            hashed: str | None = subject_hash(
                self._privacy.caller_hmac_key, number, self._privacy.default_region
            )
        except NumberError as exc:
            # A clear refusal, not "0 found": the number was mistyped (C5).
            why = str(exc)
            hashed = None
        target = f"subject:{subject_ref(hashed)}" if hashed else "subject:-"
        stated = self._gate.check(person, action, target, purpose)
        if hashed is None:
            raise self._gate.refuse(person, action, target, stated, f"the number is {why}")
        return stated, target, hashed

    def _find(
        self, person: Person, hashed: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> Findings:
        calls = self._store.calls_for_caller(hashed, start, end)
        seen = [c for c in calls if person.sees(c.call["service"])]
        return Findings(seen, hidden=len(calls) - len(seen))
