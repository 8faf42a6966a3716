"""A summary sheet's evaluation as the console's form or the JSON API sends it, checked
for its shape (pure functions); what it says is checked by the access service
(:func:`controller.sheets.evaluate`: scores in range, no numbers in the text). And a
sheet as the JSON API answers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.config.governance_model import Criterion
from controller.sheets import Sheet
from controller.store.timestamps import to_text

FIELDS = frozenset({"purpose", "scores", "comments", "free_text"})
MAX_SCORE_DIGITS = 4


@dataclass(frozen=True)
class SheetInput:
    purpose: str
    scores: dict[str, int]
    comments: dict[str, str]
    free_text: str | None
    """None: left as it is (an edit)."""


def _score(text: str, where: str) -> int | str:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_SCORE_DIGITS:
        return f"{where}: a whole number from 0"
    return int(text)


def from_form(
    form: Mapping[str, Any], criteria: Sequence[Criterion], purpose: str, *, editing: bool
) -> SheetInput | str:
    """The evaluation of the sheet form (``score.<criterion>``, ``comment.<criterion>``,
    ``free_text``), or what is wrong with it. An empty score is no score."""
    scores: dict[str, int] = {}
    comments: dict[str, str] = {}
    for criterion in criteria:
        given = str(form.get(f"score.{criterion.id}", "")).strip()
        if given:
            score = _score(given, f"score.{criterion.id}")
            if isinstance(score, str):
                return score
            scores[criterion.id] = score
        comment = form.get(f"comment.{criterion.id}")
        if comment is not None:
            comments[criterion.id] = str(comment).strip()
    free_text = form.get("free_text")
    text = None if free_text is None and editing else str(free_text or "").strip()
    return SheetInput(purpose, scores, comments, text)


def from_json(body: Mapping[str, Any], *, editing: bool) -> SheetInput | str:
    """The evaluation of a JSON body, or what is wrong with its shape."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    purpose = body.get("purpose", "")
    if not isinstance(purpose, str):
        return "purpose: a string"
    scores: dict[str, int] = {}
    given_scores = body.get("scores", {})
    if not isinstance(given_scores, dict):
        return "scores: an object of criterion id -> whole number"
    for name, score in given_scores.items():
        if score is None:
            continue
        if isinstance(score, bool) or not isinstance(score, int):
            return f"scores.{name}: a whole number"
        scores[str(name)] = score
    comments = body.get("comments", {})
    if not isinstance(comments, dict) or not all(isinstance(v, str) for v in comments.values()):
        return "comments: an object of criterion id -> text"
    free_text = body.get("free_text")
    if free_text is not None and not isinstance(free_text, str):
        return "free_text: a string"
    if free_text is None and not editing:
        free_text = ""
    return SheetInput(purpose, scores, {str(k): v for k, v in comments.items()}, free_text)


def sheet_json(sheet: Sheet, linked: bool | None) -> dict[str, Any]:
    """The sheet for the API; ``linked``: whether its recording still exists (when read).
    Times are written as the store keeps them (UTC, to the millisecond), so an answer
    to a write says what a read will."""
    answer: dict[str, Any] = {
        "id": sheet.id,
        "call_id": sheet.call_id,
        "recording_id": sheet.recording_id,
        "service": sheet.service,
        "employee": {"id": sheet.employee_id, "name": sheet.employee_name},
        "evaluator": {"id": sheet.evaluator_id, "name": sheet.evaluator_name},
        "call_started_at": to_text(sheet.call_started_at),
        "call_duration_seconds": sheet.call_duration_seconds,
        "scores": [
            {
                "criterion": s.criterion,
                "label": s.label,
                "max_score": s.max_score,
                "score": s.score,
                "comment": s.comment,
            }
            for s in sheet.scores
        ],
        "free_text": sheet.free_text,
        "created_at": to_text(sheet.created_at),
        "updated_at": to_text(sheet.updated_at),
        "expires_at": to_text(sheet.expires_at),
        "version": sheet.version,
        "rectifications": [
            {"at": to_text(r.at), "author": r.author, "note": r.note}
            for r in sheet.rectifications
        ],
    }
    if linked is not None:
        answer["recording_available"] = linked
    return answer


_TEXT = {"type": "string"}
_WHEN = {"type": "string", "format": "date-time"}
_WHO = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": _TEXT, "name": _TEXT},
}
SHEET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "service",
        "employee",
        "evaluator",
        "call_started_at",
        "scores",
        "free_text",
        "created_at",
        "updated_at",
        "expires_at",
        "version",
        "rectifications",
    ],
    "additionalProperties": False,
    "properties": {
        "id": _TEXT,
        "call_id": {"type": ["string", "null"]},
        "recording_id": {"type": ["string", "null"]},
        "service": _TEXT,
        "employee": _WHO,
        "evaluator": _WHO,
        "call_started_at": _WHEN,
        "call_duration_seconds": {"type": ["number", "null"]},
        "scores": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["criterion", "label", "max_score", "score", "comment"],
                "properties": {
                    "criterion": _TEXT,
                    "label": _TEXT,
                    "max_score": {"type": "integer"},
                    "score": {"type": ["integer", "null"]},
                    "comment": _TEXT,
                },
            },
        },
        "free_text": _TEXT,
        "created_at": _WHEN,
        "updated_at": _WHEN,
        "expires_at": {**_WHEN, "description": "The sheet is purged then (T2: a year at most)"},
        "version": {"type": "integer", "minimum": 1},
        "rectifications": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["at", "author", "note"],
                "properties": {"at": _WHEN, "author": _TEXT, "note": _TEXT},
            },
        },
        "recording_available": {"type": "boolean"},
    },
}
