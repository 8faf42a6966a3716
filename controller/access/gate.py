"""The gate every access passes (S1, S2): who the person is, whether the stated purpose,
the role and the service scope allow the action, and the access-log entry for each
answer. A refusal is logged before it is raised, with its reason; the purpose and ids
go into the log masked, because the log is kept a year and cannot be edited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controller.access.credentials import CredentialError, Presented, check
from controller.access.errors import FORBIDDEN, NOT_FOUND, AccessRefused
from controller.audit.chain import EntryDraft
from controller.clock import Clock
from controller.config.model import Person
from controller.logs import contains_pan, mask_digits
from controller.store.sqlite import SqliteStore
from controller.store.timestamps import to_text

# Who may do what (S1). Scope by service applies on top.
PERMISSIONS: dict[str, frozenset[str]] = {
    "listen": frozenset({"supervisor", "quality", "dpo"}),
    "download": frozenset({"supervisor", "dpo"}),
    "export": frozenset({"supervisor", "dpo"}),
    "delete": frozenset({"dpo", "admin"}),
    # Silencing a span of a recording for good (S11): the DPO, who answers for what is kept.
    "redact": frozenset({"dpo"}),
    "sheet_read": frozenset({"supervisor", "quality", "dpo"}),
    "sheet_create": frozenset({"supervisor", "quality"}),
    "sheet_edit": frozenset({"supervisor", "quality", "dpo"}),
    # The agent's note on a sheet about them, entered by the DPO (S9).
    "sheet_rectify": frozenset({"dpo"}),
    # A caller's (C5) or an agent's (S9) request.
    "subject_find": frozenset({"dpo"}),
    "subject_export": frozenset({"dpo"}),
    "subject_erase": frozenset({"dpo"}),
    # Legal holds (T6): the DPO alone decides that data outlives its retention.
    "hold_place": frozenset({"dpo"}),
    "hold_review": frozenset({"dpo"}),
    "hold_release": frozenset({"dpo"}),
    "hold_list": frozenset({"dpo"}),
    # Finding calls and reading one's page (S1): those who may listen or read sheets.
    "list": frozenset({"supervisor", "quality", "dpo"}),
    "view": frozenset({"supervisor", "quality", "dpo"}),
    "report": frozenset({"supervisor", "quality", "dpo"}),
    # The access log and its deletion receipts (S2, S3): the DPO watches who did what.
    "audit_read": frozenset({"dpo"}),
    # A CRM or a supervisor's console sending a caller to the payment IVR (M1).
    "payment_request": frozenset({"supervisor", "admin"}),
    # Listening to a call in progress on one's own phone (S8).
    "live_listen": frozenset({"supervisor"}),
    "live_listen_stop": frozenset({"supervisor"}),
    # The board of calls in progress: states only, never a number or audio (S8).
    "live_view": frozenset({"supervisor", "quality"}),
}
MIN_PURPOSE = 5
MAX_PURPOSE = 500

_NUMBER_LIKE = re.compile(r"\+?[\d\s.\-()/]{8,}")


def clean_id(text: str, limit: int = 64) -> str:
    """An id typed by a user, for the log: printable and bounded. Ids are hex and may hold
    long digit runs, so they are kept as typed, unless the whole thing looks like a phone
    or card number."""
    cleaned = "".join(ch for ch in text if ch.isprintable())[:limit]
    return "[redacted]" if _NUMBER_LIKE.fullmatch(cleaned.strip()) else cleaned


class Gate:
    """Signs people in, checks each request and drafts its access-log entry."""

    def __init__(
        self,
        persons: Mapping[str, Person],
        store: SqliteStore,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._persons = persons
        self._store = store
        self._clock = clock
        self._environ = environ

    # -- who -------------------------------------------------------------------------
    def authenticate(self, person_id: str, presented: Presented) -> Person:
        """The configured person, if the credential matches; refusals are logged."""
        person = self._persons.get(person_id)
        if person is None:
            # The id is the client's choice: it never becomes the entry's actor.
            self.log_refusal("unknown", "-", "sign_in", "-", "-", "unknown person")
            raise AccessRefused("unknown person or wrong credential", sign_in=True)
        try:
            ok = check(person.credential, presented, self._environ)
        except CredentialError as exc:
            self.log_refusal(person.id, person.role, "sign_in", "-", "-", "credential unusable")
            raise AccessRefused(
                "cannot check the credential", detail=str(exc), sign_in=True
            ) from None
        if not ok:
            self.log_refusal(person.id, person.role, "sign_in", "-", "-", "wrong credential")
            raise AccessRefused("unknown person or wrong credential", sign_in=True)
        return person

    # -- the log ---------------------------------------------------------------------
    def draft(
        self,
        person: Person,
        action: str,
        target: str,
        purpose: str,
        result: str,
        details: Mapping[str, Any] | None = None,
    ) -> EntryDraft:
        """The entry for an allowed action, for a write to carry in its own transaction."""
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

    def log(
        self,
        person: Person,
        action: str,
        target: str,
        purpose: str,
        result: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Appends the entry for an action that writes nothing else."""
        self._store.append_access(self.draft(person, action, target, purpose, result, details))

    def log_refusal(
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

    def refuse(
        self,
        person: Person,
        action: str,
        target: str,
        purpose: str,
        reason: str,
        error_id: str = FORBIDDEN,
    ) -> AccessRefused:
        """Logs the refusal; the caller raises what this returns."""
        self.log_refusal(person.id, person.role, action, target, purpose, reason)
        return AccessRefused(reason, error_id=error_id)

    # -- the checks ------------------------------------------------------------------
    def check(self, person: Person, action: str, target: str, purpose: str) -> str:
        """Checks purpose and role; returns the cleaned purpose or raises (logged)."""
        stated = " ".join(purpose.split())
        if contains_pan(stated):
            raise self.refuse(
                person,
                action,
                target,
                mask_digits(stated),
                "purpose: must not contain a card number (PCI DSS 3.4)",
            )
        if mask_digits(stated) != stated:
            # The log is kept a year and cannot be edited: no numbers go into it.
            raise self.refuse(
                person,
                action,
                target,
                mask_digits(stated),
                "the purpose must not contain phone or card numbers",
            )
        if len(stated) < MIN_PURPOSE:
            raise self.refuse(person, action, target, stated, "a purpose must be stated (S2)")
        if len(stated) > MAX_PURPOSE:
            raise self.refuse(
                person,
                action,
                target,
                stated[:MAX_PURPOSE] + "…",
                f"a purpose is at most {MAX_PURPOSE} characters",
            )
        if person.role not in PERMISSIONS.get(action, frozenset()):
            raise self.refuse(
                person, action, target, stated, f"role {person.role} may not {action}"
            )
        return stated

    def scope(
        self,
        person: Person,
        action: str,
        target: str,
        purpose: str,
        service: str,
        *,
        hide_as: str | None = None,
    ) -> None:
        """Refuses a service outside the person's scope. With ``hide_as`` (the answer for
        an object that does not exist, "no such recording"), the refusal says only that,
        as :data:`NOT_FOUND`: the object's existence is not given away; the log keeps
        the true reason."""
        if person.sees(service):
            return
        reason = f"service {service} is outside the person's scope"
        if hide_as is None:
            raise self.refuse(person, action, target, purpose, reason)
        self.log_refusal(person.id, person.role, action, target, purpose, reason)
        raise AccessRefused(hide_as, error_id=NOT_FOUND)

    def missing(
        self, person: Person, action: str, target: str, purpose: str, what: str
    ) -> AccessRefused:
        """Logs and returns the refusal for an object that does not exist (``what``:
        "no such call")."""
        return self.refuse(person, action, target, purpose, what, error_id=NOT_FOUND)

    def no_card_in_file_name(
        self, person: Person, action: str, target: str, stated: str, output: Path
    ) -> None:
        # The file name is logged (masked): a card number is refused outright (PCI DSS).
        if contains_pan(output.name):
            raise self.refuse(
                person, action, target, stated, "export file name: must not contain a card number"
            )
