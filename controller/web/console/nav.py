"""The console's sections, and who sees each in the menu. The menu only hides; every
page and every action is checked again at the audited door."""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.model import Person


@dataclass(frozen=True)
class Section:
    href: str
    text: str
    roles: frozenset[str]


SECTIONS = (
    Section("/calls", "nav.calls", frozenset({"supervisor", "quality", "dpo"})),
    Section("/live", "nav.live", frozenset({"supervisor", "quality"})),
    Section("/report", "nav.report", frozenset({"supervisor", "quality", "dpo"})),
    Section("/dpo", "nav.dpo", frozenset({"dpo"})),
)


def sections_for(person: Person) -> list[Section]:
    return [s for s in SECTIONS if person.role in s.roles]
