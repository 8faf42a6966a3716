"""Legal holds through the gate (T6): only the DPO places, reviews or releases a hold, and
lists them. Each step, refusals too, is in the access log; a change carries its entry
in its own transaction.

The reason and the reference go into the access log, which is kept a year and cannot be
edited: like a purpose, they may hold no phone or card number.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from controller.access.gate import Gate, clean_id
from controller.clock import Clock
from controller.config.model import Person
from controller.logs import contains_pan, mask_digits
from controller.store.holds import Hold, HoldConflict, NewHold, PlacedHold
from controller.store.sqlite import SqliteStore
from controller.store.timestamps import to_text

MAX_REASON = 500
MAX_REFERENCE = 100
MIN_TEXT = 3


def text_problem(field: str, text: str, limit: int) -> str | None:
    """Why ``text`` cannot go into the access log as ``field``, or None."""
    if contains_pan(text):
        return f"{field}: must not contain a card number (PCI DSS 3.4)"
    if mask_digits(text) != text:
        return f"{field}: must not contain phone or card numbers (the access log keeps it)"
    if len(text) < MIN_TEXT:
        return f"{field}: must be stated (at least {MIN_TEXT} characters)"
    if len(text) > limit:
        return f"{field}: at most {limit} characters"
    return None


class HoldAccess:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        clock: Clock,
        timezone: dt.tzinfo,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._tz = timezone
        self._gate = gate
        self._store = store
        self._clock = clock
        self._new_id = new_id or (lambda: secrets.token_hex(8))

    def place(
        self,
        person: Person,
        purpose: str,
        call_id: str,
        reason: str,
        reference: str,
        review_by: dt.datetime,
    ) -> PlacedHold:
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "hold_place", target, purpose)
        reason, reference = " ".join(reason.split()), " ".join(reference.split())
        for field, text, limit in (
            ("--reason", reason, MAX_REASON),
            ("--reference", reference, MAX_REFERENCE),
        ):
            problem = text_problem(field, text, limit)
            if problem is not None:
                raise self._gate.refuse(person, "hold_place", target, stated, problem)
        self._future(person, "hold_place", target, stated, review_by)
        self._scoped(person, "hold_place", target, stated, call_id)
        now = self._clock.now()
        new = NewHold(
            id=self._new_id(),
            call_id=call_id,
            reason=reason,
            reference=reference,
            purpose=stated,
            placed_by=person.id,
            placed_at=now,
            review_by=review_by,
        )
        entry = self._gate.draft(
            person,
            "hold_place",
            target,
            stated,
            "ok",
            {"reason": reason, "reference": reference, "review_by": to_text(review_by)},
        )
        try:
            return self._store.place_hold(new, entry)
        except HoldConflict as exc:
            raise self._gate.refuse(person, "hold_place", target, stated, str(exc)) from None

    def review(self, person: Person, purpose: str, call_id: str, review_by: dt.datetime) -> Hold:
        """A new review date: the hold was looked at and still stands."""
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "hold_review", target, purpose)
        self._future(person, "hold_review", target, stated, review_by)
        self._scoped(person, "hold_review", target, stated, call_id)
        entry = self._gate.draft(
            person, "hold_review", target, stated, "ok", {"review_by": to_text(review_by)}
        )
        hold = self._store.review_hold(call_id, review_by, self._clock.now(), entry)
        if hold is None:
            raise self._no_hold(person, "hold_review", target, stated, call_id)
        return hold

    def release(self, person: Person, purpose: str, call_id: str) -> Hold:
        """Ends the hold: what it kept follows its own retention again, so the next purge
        deletes what has expired."""
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "hold_release", target, purpose)
        self._scoped(person, "hold_release", target, stated, call_id)
        entry = self._gate.draft(person, "hold_release", target, stated, "ok")
        hold = self._store.release_hold(call_id, self._clock.now(), entry)
        if hold is None:
            raise self._no_hold(person, "hold_release", target, stated, call_id)
        return hold

    def list(self, person: Person, purpose: str, include_released: bool) -> list[Hold]:
        stated = self._gate.check(person, "hold_list", "holds", purpose)
        holds = [
            h
            for h in self._store.holds(include_released=include_released)
            if h.service is None or person.sees(h.service)
        ]
        self._gate.log(
            person,
            "hold_list",
            "holds",
            stated,
            "ok",
            {"holds": len(holds), "include_released": include_released},
        )
        return holds

    # -- checks ----------------------------------------------------------------------
    def _future(
        self, person: Person, action: str, target: str, stated: str, review_by: dt.datetime
    ) -> None:
        if review_by <= self._clock.now():
            raise self._gate.refuse(
                person,
                action,
                target,
                stated,
                f"--review-by: {review_by.astimezone(self._tz).date().isoformat()} "
                "is not in the future",
            )

    def _scoped(self, person: Person, action: str, target: str, stated: str, call_id: str) -> None:
        call = self._store.call_summary(call_id)
        if call is None:
            missing = f"no call {clean_id(call_id)}"
            raise self._gate.missing(person, action, target, stated, missing)
        hidden = f"no call {clean_id(call_id)}"
        self._gate.scope(person, action, target, stated, str(call["service"]), hide_as=hidden)

    def _no_hold(
        self, person: Person, action: str, target: str, stated: str, call_id: str
    ) -> Exception:
        return self._gate.refuse(
            person, action, target, stated, f"no legal hold stands on call {clean_id(call_id)}"
        )


__all__ = ["HoldAccess", "text_problem"]
