"""The single audited door to recordings, sheets and data-subject requests (S1, S2, C5,
S9).

Every method takes the person, the stated purpose and the target. It checks the
purpose, the person's role and service scope, writes the access-log entry (refusals
too, with the reason) and only then acts. Writes carry their entry in the same
transaction. The class knows no transport: the CLI calls it directly, a web API would
call it from the store's thread. All of it blocks (SQLite, files).

The checks and the log are :class:`~controller.access.gate.Gate`; what is behind the door
is in :mod:`~controller.access.recordings`, :mod:`~controller.access.sheets`,
:mod:`~controller.access.subjects` and :mod:`~controller.access.agents`. This class puts
them together and is what callers use.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from controller.access.agents import AgentFindings, AgentRequests
from controller.access.call_filters import PageRequest
from controller.access.calls import CallAccess, CallPage, LogPage
from controller.access.credentials import Presented
from controller.access.errors import (
    LISTEN_REFUSED,
    NOT_NOW,
    AccessFailed,
    AccessRefused,
)
from controller.access.export import Exporter, ExportResult
from controller.access.gate import Gate, clean_id
from controller.access.holds import HoldAccess
from controller.access.recordings import RecordingAccess, RecordingHandle
from controller.access.redaction import RedactionAccess, RedactionResult
from controller.access.sheets import SheetAccess, SheetView
from controller.access.subjects import EraseResult, Findings, SubjectRequests
from controller.audit.chain import Entry
from controller.clock import Clock
from controller.config.model import Config, Person
from controller.recordings.vault import LocalVault
from controller.retention.redaction import lock_for
from controller.sheets import Rectification, Sheet
from controller.store.call_views import CallFilters, LogFilters
from controller.store.holds import Hold, PlacedHold
from controller.store.sqlite import SqliteStore


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
        self._gate = Gate(config.access.persons, store, clock, environ)
        exporter = Exporter(store, vault, clock, config.organisation.name)
        self._recordings = RecordingAccess(self._gate, store, vault, clock, exporter)
        self._sheets = SheetAccess(
            self._gate,
            store,
            clock,
            config.sheets,
            config.agents,
            new_id or (lambda: secrets.token_hex(8)),
        )
        self._subjects = SubjectRequests(self._gate, store, vault, clock, config.privacy, exporter)
        self._agents = AgentRequests(self._gate, store, config.agents, config.timezone, exporter)
        self._holds = HoldAccess(self._gate, store, clock, config.timezone, new_id)
        self._calls = CallAccess(self._gate, store, config)
        lock = lock_for(config.lock_anchor)
        self._redaction = RedactionAccess(self._gate, store, vault, clock, lock, new_id)

    # -- who -------------------------------------------------------------------------
    def authenticate(self, person_id: str, presented: Presented) -> Person:
        """The configured person, if the credential matches; refusals are logged."""
        return self._gate.authenticate(person_id, presented)

    def console_sign_in(self, person_id: str, presented: Presented) -> Person:
        """A sign-in to the console: refusals are logged by the check, and a success too,
        since it opens a session that reaches recordings (S2)."""
        person = self._gate.authenticate(person_id, presented)
        self._gate.log(person, "sign_in", "console", "-", "ok")
        return person

    def console_sign_out(self, person: Person) -> None:
        self._gate.log(person, "sign_out", "console", "-", "ok")

    # -- calls -----------------------------------------------------------------------
    def payment_request(
        self, person: Person, purpose: str, call_id: str, service: str, refusal: str | None
    ) -> None:
        """Allows (and logs) sending a call's caller to the payment IVR, or refuses."""
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "payment_request", target, purpose)
        if service != "-":
            self._gate.scope(person, "payment_request", target, stated, service)
        if refusal is not None:
            raise self._gate.refuse(
                person, "payment_request", target, stated, refusal, error_id=NOT_NOW
            )
        self._gate.log(person, "payment_request", target, stated, "ok")

    def live_listen(
        self, person: Person, purpose: str, call_id: str, service: str | None, refusal: str | None
    ) -> str:
        """S8: allows (and logs) listening to a call in progress on the person's phone,
        or refuses (logged too). ``service`` is None for a call not in progress: it
        answers ``not-found``, as does one outside the person's scope. ``refusal`` says
        why the call may not be listened to now. Returns the phone to dial."""
        return self._live(person, "live_listen", purpose, call_id, service, refusal)

    def live_listen_stop(
        self, person: Person, purpose: str, call_id: str, service: str | None, refusal: str | None
    ) -> None:
        """Ends a live listening (logged), or refuses (``refusal``: nobody listens)."""
        self._live(person, "live_listen_stop", purpose, call_id, service, refusal)

    def live_view(self, person: Person, purpose: str) -> None:
        """Allows (and logs) watching the board of calls in progress, or refuses."""
        stated = self._gate.check(person, "live_view", "live", purpose)
        self._gate.log(person, "live_view", "live", stated, "ok")

    def _live(
        self,
        person: Person,
        action: str,
        purpose: str,
        call_id: str,
        service: str | None,
        refusal: str | None,
    ) -> str:
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, action, target, purpose)
        missing = "no such call in progress"
        if service is None:
            raise self._gate.missing(person, action, target, stated, missing)
        self._gate.scope(person, action, target, stated, service, hide_as=missing)
        if person.phone is None and action == "live_listen":
            refusal = f"no phone is configured for {person.id} (access.persons.{person.id}.phone)"
        if refusal is not None:
            raise self._gate.refuse(
                person, action, target, stated, refusal, error_id=LISTEN_REFUSED
            )
        self._gate.log(person, action, target, stated, "ok")
        return person.phone or ""

    def calls_list(
        self, person: Person, purpose: str, filters: CallFilters, page: PageRequest
    ) -> CallPage:
        """The calls of the person's services that pass ``filters``, newest first."""
        return self._calls.calls_list(person, purpose, filters, page)

    def call_view(self, person: Person, purpose: str, call_id: str) -> dict[str, Any]:
        """One call's page; ``not-found`` alike for no such call and one out of scope."""
        return self._calls.call_view(person, purpose, call_id)

    def sampling_report(
        self, person: Person, purpose: str, first: dt.date, last: dt.date
    ) -> list[dict[str, Any]]:
        """Configured against achieved sampling rate, per service and day (P3)."""
        return self._calls.sampling_report(person, purpose, first, last)

    def access_log_page(
        self, person: Person, purpose: str, filters: LogFilters, before: int | None, size: int
    ) -> LogPage:
        """The access log, newest first (DPO only)."""
        return self._calls.access_log_page(person, purpose, filters, before, size)

    def purge_receipts(
        self, person: Person, purpose: str, before: int | None, size: int
    ) -> LogPage:
        """The deletion receipts in the access log, newest first (DPO only)."""
        return self._calls.purge_receipts(person, purpose, before, size)

    def deletion_receipt(
        self,
        person: Person,
        purpose: str,
        *,
        seq: int | None = None,
        recording_id: str | None = None,
    ) -> LogPage:
        """One recording deletion's receipt, by number or by a recording it names."""
        return self._calls.deletion_receipt(person, purpose, seq=seq, recording_id=recording_id)

    # -- recordings --------------------------------------------------------------------
    def listen(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._recordings.listen(person, purpose, recording_id)

    def download(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._recordings.download(person, purpose, recording_id)

    def export(self, person: Person, purpose: str, recording_id: str, output: Path) -> ExportResult:
        """A zip of one recording and its metadata (for mediation, say)."""
        return self._recordings.export(person, purpose, recording_id, output)

    def delete(self, person: Person, purpose: str, recording_id: str) -> Entry:
        """Deletes one recording before its expiry; returns the receipt."""
        return self._recordings.delete(person, purpose, recording_id)

    def redact(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        recording_id: str | None,
        start: str,
        end: str,
    ) -> RedactionResult:
        """Silences ``[start, end)`` seconds of the call's recording in a new version and
        shreds the old one (S11, DPO only; refused under a legal hold)."""
        return self._redaction.redact(person, purpose, call_id, recording_id, start, end)

    def finish_redactions(self) -> list[Entry]:
        """Ends the redactions a killed process left (none runs now): at the daemon's
        start; every redaction does it first too."""
        return self._redaction.finish_interrupted()

    # -- summary sheets (T2) ------------------------------------------------------------
    def sheet_read(self, person: Person, purpose: str, sheet_id: str) -> SheetView:
        return self._sheets.read(person, purpose, sheet_id)

    def sheet_create(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str,
    ) -> Sheet:
        return self._sheets.create(person, purpose, call_id, scores, comments, free_text)

    def sheet_edit(
        self,
        person: Person,
        purpose: str,
        sheet_id: str,
        scores: Mapping[str, int],
        comments: Mapping[str, str],
        free_text: str | None,
    ) -> Sheet:
        return self._sheets.edit(person, purpose, sheet_id, scores, comments, free_text)

    def sheet_rectify(
        self, person: Person, purpose: str, sheet_id: str, note: str, author: str = "agent"
    ) -> Rectification:
        """Attaches the agent's rectification note to a sheet (S9): ``author`` says whose
        words it is, ``agent`` or ``dpo`` (on the agent's behalf)."""
        return self._sheets.rectify(person, purpose, sheet_id, note, author)

    # -- data subjects (C5) --------------------------------------------------------------
    def subject_find(
        self,
        person: Person,
        purpose: str,
        number: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Findings:
        return self._subjects.find(person, purpose, number, start, end)

    def subject_export(
        self,
        person: Person,
        purpose: str,
        number: str,
        output: Path,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> ExportResult:
        return self._subjects.export(person, purpose, number, output, start, end)

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
        return self._subjects.erase(person, purpose, number, start, end)

    # -- agents (S9) ------------------------------------------------------------------------
    def agent_find(
        self,
        person: Person,
        purpose: str,
        agent_id: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> AgentFindings:
        return self._agents.find(person, purpose, agent_id, start, end)

    def agent_export(
        self,
        person: Person,
        purpose: str,
        agent_id: str,
        output: Path,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> ExportResult:
        return self._agents.export(person, purpose, agent_id, output, start, end)

    def agent_erase(self, person: Person, purpose: str, agent_id: str) -> None:
        """Always refused, with the rule (see :mod:`controller.access.agents`): an agent's
        erasure request is answered by rectification and objection, not deletion."""
        raise self._agents.erase(person, purpose, agent_id)

    # -- legal holds (T6) ----------------------------------------------------------------
    def hold_place(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        reason: str,
        reference: str,
        review_by: dt.datetime,
    ) -> PlacedHold:
        """Keeps the call's recordings, metadata and sheets past their expiry (DPO only)."""
        return self._holds.place(person, purpose, call_id, reason, reference, review_by)

    def hold_review(
        self, person: Person, purpose: str, call_id: str, review_by: dt.datetime
    ) -> Hold:
        return self._holds.review(person, purpose, call_id, review_by)

    def hold_release(self, person: Person, purpose: str, call_id: str) -> Hold:
        return self._holds.release(person, purpose, call_id)

    def hold_list(self, person: Person, purpose: str, include_released: bool = False) -> list[Hold]:
        return self._holds.list(person, purpose, include_released)


__all__ = [
    "AccessFailed",
    "AccessRefused",
    "AccessService",
    "AgentFindings",
    "CallPage",
    "EraseResult",
    "ExportResult",
    "Findings",
    "LogPage",
    "RecordingHandle",
    "RedactionResult",
    "SheetView",
]
