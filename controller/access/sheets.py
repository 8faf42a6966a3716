"""Summary sheets through the gate (T2, S2, S9): read, create, edit and rectify one. Each
write carries its access-log entry in the same transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controller.access.gate import Gate, clean_id
from controller.clock import Clock
from controller.config.governance_model import Person, SheetSettings
from controller.config.model import Agent
from controller.sheets import Rectification, Sheet, SheetError, check_note, evaluate
from controller.store.sheets import SheetConflict
from controller.store.sqlite import SqliteStore

INVALID_SHEET = "invalid-sheet"
"""The evaluation or note cannot be saved as given (a score out of range, say)."""
SHEET_CHANGED = "sheet-changed"
"""Someone saved the sheet since it was read: read it again."""
NO_AGENT = "no-agent"
"""The call has no agent to evaluate."""


@dataclass(frozen=True)
class SheetView:
    sheet: Sheet
    recording_available: bool
    """The sheet links to its recording only while that recording exists (T2)."""


class SheetAccess:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        clock: Clock,
        settings: SheetSettings,
        agents: Mapping[str, Agent],
        new_id: Callable[[], str],
    ) -> None:
        self._gate = gate
        self._store = store
        self._clock = clock
        self._settings = settings
        self._agents = agents
        self._new_id = new_id

    def read(self, person: Person, purpose: str, sheet_id: str) -> SheetView:
        target = f"sheet:{clean_id(sheet_id)}"
        stated = self._gate.check(person, "sheet_read", target, purpose)
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            raise self._gate.missing(person, "sheet_read", target, stated, "no such sheet")
        self._gate.scope(
            person, "sheet_read", target, stated, sheet.service, hide_as="no such sheet"
        )
        self._gate.log(person, "sheet_read", target, stated, "ok")
        linked = sheet.recording_id is not None and self._store.recording_exists(sheet.recording_id)
        return SheetView(sheet, linked)

    def create(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str,
    ) -> Sheet:
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "sheet_create", target, purpose)
        facts = self._store.call_facts(call_id)
        if facts is None:
            raise self._gate.missing(person, "sheet_create", target, stated, "no such call")
        self._gate.scope(
            person, "sheet_create", target, stated, facts["service"], hide_as="no such call"
        )
        if not facts["agent_id"]:
            raise self._gate.refuse(
                person, "sheet_create", target, stated, "the call has no agent", NO_AGENT
            )
        try:
            evaluation, text = evaluate(self._settings.criteria, scores, comments, free_text)
        except SheetError as exc:
            raise self._gate.refuse(
                person, "sheet_create", target, stated, str(exc), INVALID_SHEET
            ) from None
        now = self._clock.now()
        started = dt.datetime.fromisoformat(facts["started_at"])
        ended = dt.datetime.fromisoformat(facts["ended_at"]) if facts["ended_at"] else None
        agent = self._agents.get(facts["agent_id"])
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
            expires_at=now + dt.timedelta(days=self._settings.retention_days),
        )
        self._store.create_sheet(
            sheet,
            self._gate.draft(
                person, "sheet_create", f"sheet:{sheet.id}", stated, "ok", {"call_id": call_id}
            ),
        )
        return sheet

    def edit(
        self,
        person: Person,
        purpose: str,
        sheet_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str | None,
    ) -> Sheet:
        target = f"sheet:{clean_id(sheet_id)}"
        stated = self._gate.check(person, "sheet_edit", target, purpose)
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            raise self._gate.missing(person, "sheet_edit", target, stated, "no such sheet")
        self._gate.scope(
            person, "sheet_edit", target, stated, sheet.service, hide_as="no such sheet"
        )
        try:
            evaluation, text = evaluate(
                self._settings.criteria,
                scores,
                comments,
                sheet.free_text if free_text is None else free_text,
                sheet.scores,
            )
        except SheetError as exc:
            raise self._gate.refuse(
                person, "sheet_edit", target, stated, str(exc), INVALID_SHEET
            ) from None
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
                self._gate.draft(person, "sheet_edit", target, stated, "ok", details),
            )
        except SheetConflict:
            raise self._gate.refuse(
                person,
                "sheet_edit",
                target,
                stated,
                "the sheet changed meanwhile; read it again",
                SHEET_CHANGED,
            ) from None
        return updated

    def rectify(
        self, person: Person, purpose: str, sheet_id: str, note: str, author: str
    ) -> Rectification:
        """Attaches the agent's rectification note (S9). The note is never in the log: it
        may say more about the agent than the log, kept a year, should hold."""
        target = f"sheet:{clean_id(sheet_id)}"
        stated = self._gate.check(person, "sheet_rectify", target, purpose)
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            raise self._gate.missing(person, "sheet_rectify", target, stated, "no such sheet")
        self._gate.scope(
            person, "sheet_rectify", target, stated, sheet.service, hide_as="no such sheet"
        )
        try:
            text = check_note(note, author)
        except SheetError as exc:
            raise self._gate.refuse(
                person, "sheet_rectify", target, stated, str(exc), INVALID_SHEET
            ) from None
        rectification = Rectification(
            id=self._new_id(),
            at=self._clock.now(),
            author=author,
            entered_by=person.id,
            entered_by_name=person.name,
            entered_by_role=person.role,
            purpose=stated,
            note=text,
        )
        details = {
            "note_id": rectification.id,
            "author": author,
            "employee_id": sheet.employee_id,
            "characters": len(text),
        }
        try:
            self._store.add_rectification(
                sheet.id,
                rectification,
                self._gate.draft(person, "sheet_rectify", target, stated, "ok", details),
            )
        except SheetConflict:
            raise self._gate.refuse(
                person, "sheet_rectify", target, stated, "the sheet is no longer kept"
            ) from None
        return rectification
