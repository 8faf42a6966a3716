"""The single audited door to recordings, sheets and data-subject requests (S1, S2, C5).

Every method takes the person, the stated purpose and the target. It checks the
purpose, the person's role and service scope, writes the access-log entry (refusals
too, with the reason) and only then acts. Writes carry their entry in the same
transaction. The class knows no transport: the CLI calls it directly, a web API would
call it from the store's thread. All of it blocks (SQLite, files).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.access.credentials import CredentialError, Presented, check
from controller.access.errors import AccessFailed, AccessRefused
from controller.access.export import Exporter, ExportResult
from controller.audit.chain import Entry, EntryDraft
from controller.clock import Clock
from controller.config.model import Config, Person
from controller.logs import mask_digits
from controller.privacy import caller_hash
from controller.recordings.vault import LocalVault
from controller.retention.deletion import Deletion, Request, delete_recordings
from controller.sheets import Sheet, SheetError, evaluate
from controller.store.lifecycle import CallRecord
from controller.store.records import RecordingRow
from controller.store.sheets import SheetConflict
from controller.store.sqlite import SqliteStore
from controller.store.timestamps import to_text

# Who may do what (S1). Scope by service applies on top.
PERMISSIONS: dict[str, frozenset[str]] = {
    "listen": frozenset({"supervisor", "quality", "dpo"}),
    "download": frozenset({"supervisor", "dpo"}),
    "export": frozenset({"supervisor", "dpo"}),
    "delete": frozenset({"dpo", "admin"}),
    "sheet_read": frozenset({"supervisor", "quality", "dpo"}),
    "sheet_create": frozenset({"supervisor", "quality"}),
    "sheet_edit": frozenset({"supervisor", "quality", "dpo"}),
    "subject_find": frozenset({"dpo"}),
    "subject_export": frozenset({"dpo"}),
    "subject_erase": frozenset({"dpo"}),
    # A CRM or a supervisor's console sending a caller to the payment IVR (M1).
    "payment_request": frozenset({"supervisor", "admin"}),
}
MIN_PURPOSE = 5
MAX_PURPOSE = 500
ERASE_RULE = "C5: data-subject erasure request"


@dataclass(frozen=True)
class RecordingHandle:
    """What a transport needs to serve a recording: stream ``path`` through the vault."""

    recording_id: str
    path: Path
    format: str
    sha256: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class SheetView:
    sheet: Sheet
    recording_available: bool
    """The sheet links to its recording only while that recording exists (T2)."""


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


def subject_ref(hashed: str) -> str:
    """How the access log names a data subject: derived from the caller HMAC, so the DPO
    can find a request again from the number, yet not the value stored with calls."""
    return hashlib.sha256(f"subject:{hashed}".encode()).hexdigest()[:16]


_NUMBER_LIKE = re.compile(r"\+?[\d\s.\-()/]{8,}")


def _clean(text: str, limit: int = 64) -> str:
    """An id typed by a user, for the log: printable and bounded. Ids are hex and may hold
    long digit runs, so they are kept as typed, unless the whole thing looks like a phone
    or card number."""
    cleaned = "".join(ch for ch in text if ch.isprintable())[:limit]
    return "[redacted]" if _NUMBER_LIKE.fullmatch(cleaned.strip()) else cleaned


class AccessService:
    def __init__(
        self,
        config: Config,
        store: SqliteStore,
        vault: LocalVault,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._vault = vault
        self._clock = clock
        self._environ = environ
        self._new_id = new_id or (lambda: secrets.token_hex(8))
        self._exporter = Exporter(store, vault, clock, config.organisation.name)

    # -- who -------------------------------------------------------------------------
    def authenticate(self, person_id: str, presented: Presented) -> Person:
        """The configured person, if the credential matches; refusals are logged."""
        person = self._config.access.persons.get(person_id)
        if person is None:
            self._log_refusal(_clean(person_id) or "?", "-", "sign_in", "-", "-", "unknown person")
            raise AccessRefused("unknown person or wrong credential")
        try:
            ok = check(person.credential, presented, self._environ)
        except CredentialError as exc:
            self._log_refusal(person.id, person.role, "sign_in", "-", "-", "credential unusable")
            raise AccessRefused(f"cannot check the credential: {exc}") from None
        if not ok:
            self._log_refusal(person.id, person.role, "sign_in", "-", "-", "wrong credential")
            raise AccessRefused("unknown person or wrong credential")
        return person

    # -- the gate --------------------------------------------------------------------
    def _draft(
        self,
        person: Person,
        action: str,
        target: str,
        purpose: str,
        result: str,
        details: Mapping[str, Any] | None = None,
    ) -> EntryDraft:
        return EntryDraft(
            at=to_text(self._clock.now()),
            actor=person.id,
            role=person.role,
            action=action,
            target=target,
            purpose=purpose,
            result=result,
            details=dict(details or {}),
        )

    def _log_refusal(
        self, actor: str, role: str, action: str, target: str, purpose: str, reason: str
    ) -> None:
        self._store.append_access(
            EntryDraft(
                at=to_text(self._clock.now()),
                actor=actor,
                role=role,
                action=action,
                target=target,
                purpose=purpose,
                result="refused",
                details={"reason": reason},
            )
        )

    def _refuse(
        self, person: Person, action: str, target: str, purpose: str, reason: str
    ) -> AccessRefused:
        self._log_refusal(person.id, person.role, action, target, purpose, reason)
        return AccessRefused(reason)

    def _gate(self, person: Person, action: str, target: str, purpose: str) -> str:
        """Checks purpose and role; returns the cleaned purpose or raises (logged)."""
        stated = " ".join(purpose.split())
        if mask_digits(stated) != stated:
            # The log is kept a year and cannot be edited: no numbers go into it.
            raise self._refuse(
                person,
                action,
                target,
                mask_digits(stated),
                "the purpose must not contain phone or card numbers",
            )
        if len(stated) < MIN_PURPOSE:
            raise self._refuse(person, action, target, stated, "a purpose must be stated (S2)")
        if len(stated) > MAX_PURPOSE:
            raise self._refuse(
                person,
                action,
                target,
                stated[:MAX_PURPOSE] + "…",
                f"a purpose is at most {MAX_PURPOSE} characters",
            )
        if person.role not in PERMISSIONS.get(action, frozenset()):
            raise self._refuse(
                person, action, target, stated, f"role {person.role} may not {action}"
            )
        return stated

    def _scope(self, person: Person, action: str, target: str, purpose: str, service: str) -> None:
        if not person.sees(service):
            raise self._refuse(
                person, action, target, purpose, f"service {service} is outside the person's scope"
            )

    def _recording(
        self, person: Person, action: str, purpose: str, recording_id: str
    ) -> tuple[str, RecordingRow]:
        target = f"recording:{_clean(recording_id)}"
        stated = self._gate(person, action, target, purpose)
        row = self._store.recording(recording_id)
        if row is None or row.state in ("deleted", "discarded", "failed"):
            raise self._refuse(person, action, target, stated, "no such recording")
        self._scope(person, action, target, stated, row.service)
        return stated, row

    def _serve(
        self, person: Person, action: str, purpose: str, recording_id: str
    ) -> RecordingHandle:
        stated, row = self._recording(person, action, purpose, recording_id)
        target = f"recording:{row.id}"
        path = Path(row.path) if row.path else None
        if row.state != "stored" or path is None or not self._vault.exists(path):
            self._store.append_access(
                self._draft(person, action, target, stated, "error", {"reason": "file missing"})
            )
            raise AccessFailed(f"recording {row.id}: its file is missing")
        self._store.append_access(
            self._draft(person, action, target, stated, "ok", {"service": row.service})
        )
        return RecordingHandle(row.id, path, row.format, row.sha256, None)

    # -- recordings --------------------------------------------------------------------
    def payment_request(
        self, person: Person, purpose: str, call_id: str, service: str, refusal: str | None
    ) -> None:
        """Allows (and logs) sending a call's caller to the payment IVR, or refuses."""
        target = f"call:{_clean(call_id)}"
        stated = self._gate(person, "payment_request", target, purpose)
        if service != "-":
            self._scope(person, "payment_request", target, stated, service)
        if refusal is not None:
            raise self._refuse(person, "payment_request", target, stated, refusal)
        self._store.append_access(self._draft(person, "payment_request", target, stated, "ok"))

    def listen(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._serve(person, "listen", purpose, recording_id)

    def download(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._serve(person, "download", purpose, recording_id)

    def export(self, person: Person, purpose: str, recording_id: str, output: Path) -> ExportResult:
        """A zip of one recording and its metadata (for mediation, say)."""
        stated, row = self._recording(person, "export", purpose, recording_id)
        target = f"recording:{row.id}"
        record = CallRecord(self._call_row(row.call_id), [row], [])
        result = self._exporter.write_zip(
            output, [record], {"recording_id": row.id}, person.id, stated
        )
        self._store.append_access(
            self._draft(
                person,
                "export",
                target,
                stated,
                "ok" if not result.problems else "error",
                {"file": mask_digits(output.name), "problems": result.problems},
            )
        )
        return result

    def delete(self, person: Person, purpose: str, recording_id: str) -> Entry:
        """Deletes one recording before its expiry; returns the receipt."""
        stated, row = self._recording(person, "delete", purpose, recording_id)
        rule = f"deleted on request by {person.id}"
        receipts, problems = self._delete_recordings(person, stated, [row], rule)
        if problems or not receipts:
            self._store.append_access(
                self._draft(
                    person, "delete", f"recording:{row.id}", stated, "error", {"problems": problems}
                )
            )
            raise AccessFailed("; ".join(problems) or f"recording {row.id} was not deleted")
        return receipts[0]

    def _delete_recordings(
        self, person: Person, purpose: str, rows: Sequence[RecordingRow], rule: str
    ) -> tuple[list[Entry], list[str]]:
        """The purge's crash-safe deletion (condemn, remove, receipt), asked by a person."""
        request = Request(rule, person.id, person.role, purpose)
        done = delete_recordings(
            self._store, self._vault, self._clock, [Deletion(r, request) for r in rows], person.id
        )
        return done.receipts, done.problems

    # -- summary sheets (T2) ------------------------------------------------------------
    def sheet_read(self, person: Person, purpose: str, sheet_id: str) -> SheetView:
        target = f"sheet:{_clean(sheet_id)}"
        stated = self._gate(person, "sheet_read", target, purpose)
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            raise self._refuse(person, "sheet_read", target, stated, "no such sheet")
        self._scope(person, "sheet_read", target, stated, sheet.service)
        self._store.append_access(self._draft(person, "sheet_read", target, stated, "ok"))
        linked = sheet.recording_id is not None and self._store.recording_exists(sheet.recording_id)
        return SheetView(sheet, linked)

    def sheet_create(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str,
    ) -> Sheet:
        target = f"call:{_clean(call_id)}"
        stated = self._gate(person, "sheet_create", target, purpose)
        facts = self._store.call_facts(call_id)
        if facts is None:
            raise self._refuse(person, "sheet_create", target, stated, "no such call")
        self._scope(person, "sheet_create", target, stated, facts["service"])
        if not facts["agent_id"]:
            raise self._refuse(person, "sheet_create", target, stated, "the call has no agent")
        try:
            evaluation, text = evaluate(self._config.sheets.criteria, scores, comments, free_text)
        except SheetError as exc:
            raise self._refuse(person, "sheet_create", target, stated, str(exc)) from None
        now = self._clock.now()
        started = dt.datetime.fromisoformat(facts["started_at"])
        ended = dt.datetime.fromisoformat(facts["ended_at"]) if facts["ended_at"] else None
        agent = self._config.agents.get(facts["agent_id"])
        sheet = Sheet(
            id=self._new_id(),
            call_id=call_id,
            recording_id=facts["recording_id"],
            service=facts["service"],
            employee_id=facts["agent_id"],
            employee_name=agent.name if agent else facts["agent_id"],
            evaluator_id=person.id,
            evaluator_name=person.name,
            call_started_at=started,
            call_duration_seconds=(ended - started).total_seconds() if ended else None,
            scores=evaluation,
            free_text=text,
            created_at=now,
            updated_at=now,
            expires_at=now + dt.timedelta(days=self._config.sheets.retention_days),
        )
        self._store.create_sheet(
            sheet,
            self._draft(
                person, "sheet_create", f"sheet:{sheet.id}", stated, "ok", {"call_id": call_id}
            ),
        )
        return sheet

    def sheet_edit(
        self,
        person: Person,
        purpose: str,
        sheet_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str | None,
    ) -> Sheet:
        target = f"sheet:{_clean(sheet_id)}"
        stated = self._gate(person, "sheet_edit", target, purpose)
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            raise self._refuse(person, "sheet_edit", target, stated, "no such sheet")
        self._scope(person, "sheet_edit", target, stated, sheet.service)
        try:
            evaluation, text = evaluate(
                self._config.sheets.criteria,
                scores,
                comments,
                sheet.free_text if free_text is None else free_text,
                sheet.scores,
            )
        except SheetError as exc:
            raise self._refuse(person, "sheet_edit", target, stated, str(exc)) from None
        changed = sorted(
            {s.criterion for s, old in zip(evaluation, sheet.scores, strict=False) if s != old}
        )
        updated = dataclasses.replace(
            sheet,
            scores=evaluation,
            free_text=text,
            updated_at=self._clock.now(),
            version=sheet.version + 1,
        )
        details = {"changed": changed, "free_text_changed": text != sheet.free_text}
        try:
            self._store.update_sheet(
                updated,
                sheet.version,
                self._draft(person, "sheet_edit", target, stated, "ok", details),
            )
        except SheetConflict:
            raise self._refuse(
                person, "sheet_edit", target, stated, "the sheet changed meanwhile; read it again"
            ) from None
        return updated

    # -- data subjects (C5) --------------------------------------------------------------
    def _subject(
        self, person: Person, action: str, purpose: str, number: str
    ) -> tuple[str, str, str]:
        hashed = caller_hash(self._config.privacy.caller_hmac_key, number)
        target = f"subject:{subject_ref(hashed)}" if hashed else "subject:-"
        stated = self._gate(person, action, target, purpose)
        if hashed is None:
            raise self._refuse(person, action, target, stated, "not a phone number")
        return stated, target, hashed

    def _find(
        self, person: Person, hashed: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> Findings:
        calls = self._store.calls_for_caller(hashed, start, end)
        seen = [c for c in calls if person.sees(c.call["service"])]
        return Findings(seen, hidden=len(calls) - len(seen))

    @staticmethod
    def _range(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, str | None]:
        return {
            "from": to_text(start) if start else None,
            "to": to_text(end) if end else None,
        }

    def subject_find(
        self,
        person: Person,
        purpose: str,
        number: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Findings:
        stated, target, hashed = self._subject(person, "subject_find", purpose, number)
        found = self._find(person, hashed, start, end)
        self._store.append_access(
            self._draft(
                person,
                "subject_find",
                target,
                stated,
                "ok",
                {
                    **self._range(start, end),
                    "calls": len(found.calls),
                    "recordings": len(found.recordings),
                    "sheets": len(found.sheet_ids),
                    "outside_scope": found.hidden,
                },
            )
        )
        return found

    def subject_export(
        self,
        person: Person,
        purpose: str,
        number: str,
        output: Path,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> ExportResult:
        stated, target, hashed = self._subject(person, "subject_export", purpose, number)
        found = self._find(person, hashed, start, end)
        request = {**self._range(start, end), "number": number}
        result = self._exporter.write_zip(output, found.calls, request, person.id, stated)
        self._store.append_access(
            self._draft(
                person,
                "subject_export",
                target,
                stated,
                "ok" if not result.problems else "error",
                {
                    **self._range(start, end),
                    "file": mask_digits(output.name),
                    "calls": result.calls,
                    "recordings": result.recordings,
                    "sheets": result.sheets,
                    "problems": result.problems,
                },
            )
        )
        return result

    def subject_erase(
        self,
        person: Person,
        purpose: str,
        number: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> EraseResult:
        """Deletes the subject's recordings (files and rows, with receipts) and sheets,
        and removes the caller HMAC from the calls. A caller's objection stays on record,
        so the number is still not recorded (C4)."""
        stated, target, hashed = self._subject(person, "subject_erase", purpose, number)
        found = self._find(person, hashed, start, end)
        live = [r for r in found.recordings if r.state == "live"]
        rows = [r for r in found.recordings if r.state != "live"]
        receipts, problems = self._delete_recordings(person, stated, rows, ERASE_RULE)
        problems += [
            f"recording {r.id} is in progress; erase again once the call has ended" for r in live
        ]
        rows += live
        # A call whose recording could not be removed keeps its link, so a re-run finds it.
        failed = {r.id for r in rows} - {str(e.details.get("recording_id")) for e in receipts}
        keep = {r.call_id for r in rows if r.id in failed}
        call_ids = [c.call["id"] for c in found.calls if c.call["id"] not in keep]
        sheet_ids = [s for c in found.calls if c.call["id"] not in keep for s in c.sheet_ids]
        objection = self._store.has_objection(hashed, self._clock.now())
        self._store.erase_subject_rows(
            call_ids,
            sheet_ids,
            self._draft(
                person,
                "subject_erase",
                target,
                stated,
                "ok" if not problems else "error",
                {
                    **self._range(start, end),
                    "calls": len(call_ids),
                    "recordings": [e.details.get("recording_id") for e in receipts],
                    "receipts": [e.seq for e in receipts],
                    "sheets": sheet_ids,
                    "objection_kept": objection,
                    "outside_scope": found.hidden,
                    "problems": problems,
                },
            ),
        )
        return EraseResult(
            calls=len(call_ids),
            recordings_deleted=len(receipts),
            sheets_deleted=len(sheet_ids),
            receipts=receipts,
            objection_kept=objection,
            problems=problems,
        )

    # -- export ------------------------------------------------------------------------
    def _call_row(self, call_id: str) -> dict[str, Any]:
        summary = self._store.call_summary(call_id) or {"id": call_id}
        return {k: v for k, v in summary.items() if k not in ("recordings", "consent_events")}


__all__ = [
    "AccessFailed",
    "AccessRefused",
    "AccessService",
    "EraseResult",
    "ExportResult",
    "Findings",
    "RecordingHandle",
    "SheetView",
]
