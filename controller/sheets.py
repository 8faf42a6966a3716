"""Summary sheets (T2): the evaluation document the CNIL allows to be kept for one year.

A sheet holds the employee and the evaluator, the call's date, time and duration, a
structured evaluation (the configured criteria, each with a score and a comment) and
free text. Pure code: validation and the record type; storage is in the store and
access goes through :class:`controller.access.service.AccessService`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.config.governance_model import Criterion
from controller.logs import contains_pan, mask_digits

MAX_COMMENT = 1000
MAX_FREE_TEXT = 4000
MAX_NOTE = 4000
NOTE_AUTHORS = ("agent", "dpo")


class SheetError(ValueError):
    """The evaluation cannot be saved; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Score:
    criterion: str
    label: str
    max_score: int
    score: int | None
    comment: str = ""


@dataclass(frozen=True)
class Rectification:
    """The agent's word on a sheet (S9): their note, or the DPO's on their behalf. Kept
    with the sheet for the sheet's life and never edited: a later note supersedes."""

    id: str
    at: dt.datetime
    author: str
    """Whose words the note is: ``agent`` (entered for them) or ``dpo``."""
    entered_by: str
    entered_by_name: str
    entered_by_role: str
    purpose: str
    note: str


@dataclass(frozen=True)
class Sheet:
    id: str
    call_id: str | None
    recording_id: str | None
    """The recording it was written from, while that recording exists."""
    service: str
    employee_id: str
    employee_name: str
    evaluator_id: str
    evaluator_name: str
    call_started_at: dt.datetime
    call_duration_seconds: float | None
    scores: tuple[Score, ...]
    free_text: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime
    version: int = 1
    rectifications: tuple[Rectification, ...] = ()
    """Oldest first (S9)."""


def _no_numbers(text: str, where: str, problems: list[str]) -> None:
    # A sheet is about the employee's work: phone or card numbers have no place in it.
    if contains_pan(text):
        problems.append(f"{where}: must not contain a card number (PCI DSS 3.4)")
    elif mask_digits(text) != text:
        problems.append(f"{where}: must not contain phone or card numbers")


def evaluate(
    criteria: Sequence[Criterion],
    scores: Mapping[str, int],
    comments: Mapping[str, str],
    free_text: str,
    previous: Sequence[Score] = (),
) -> tuple[tuple[Score, ...], str]:
    """The validated evaluation: one :class:`Score` per configured criterion.

    ``previous`` holds the sheet's current scores when editing; criteria not given keep
    their previous score and comment.
    """
    problems: list[str] = []
    known = {c.id for c in criteria}
    for unknown in sorted((set(scores) | set(comments)) - known):
        problems.append(
            f"unknown criterion {unknown!r}; the criteria are {', '.join(c.id for c in criteria)}"
        )
    before = {s.criterion: s for s in previous}
    result: list[Score] = []
    for criterion in criteria:
        old = before.get(criterion.id)
        score = scores.get(criterion.id, old.score if old else None)
        comment = comments.get(criterion.id, old.comment if old else "")
        if score is not None and not 0 <= score <= criterion.max_score:
            problems.append(
                f"{criterion.id}: score must be between 0 and {criterion.max_score}; got {score}"
            )
        if len(comment) > MAX_COMMENT:
            problems.append(f"{criterion.id}: comment longer than {MAX_COMMENT} characters")
        _no_numbers(comment, f"{criterion.id}: comment", problems)
        result.append(Score(criterion.id, criterion.label, criterion.max_score, score, comment))
    if len(free_text) > MAX_FREE_TEXT:
        problems.append(f"free text longer than {MAX_FREE_TEXT} characters")
    _no_numbers(free_text, "free text", problems)
    if problems:
        raise SheetError(problems)
    return tuple(result), free_text


def check_note(note: str, author: str) -> str:
    """The rectification note as it will be kept (S9), or :class:`SheetError` naming
    every problem. Like the sheet itself, it holds no phone or card numbers."""
    problems: list[str] = []
    text = note.strip()
    if author not in NOTE_AUTHORS:
        problems.append(f"author: must be one of {', '.join(NOTE_AUTHORS)}; got {author!r}")
    if not text:
        problems.append("note: must not be empty")
    if len(text) > MAX_NOTE:
        problems.append(f"note: longer than {MAX_NOTE} characters")
    _no_numbers(text, "note", problems)
    if problems:
        raise SheetError(problems)
    return text
