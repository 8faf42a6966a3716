"""What the documents share: their two languages, the labels, and the check that the
config holds what the documents must state (D1).

Every document exists in French and in English. The wording of both sits side by side
(``w("texte", "text")``), so a sentence added in one language cannot be forgotten in the
other. Texts taken from the config (purposes, legal bases, measures) are printed as the
site wrote them."""

from __future__ import annotations

import datetime as dt

from controller.config.governance_model import ALL_SERVICES, Person
from controller.config.model import Config, Service
from controller.config.reader import Problem

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


class Words:
    """The wording of one document language: ``w(french, english)`` gives the one in
    force. Both are written together so neither language falls behind."""

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown document language {lang!r}; use {', '.join(LANGUAGES)}")
        self.lang = lang

    def __call__(self, fr: str, en: str) -> str:
        return en if self.lang == "en" else fr

    def date(self, day: dt.date) -> str:
        return f"{day:%d/%m/%Y}" if self.lang == "fr" else f"{day:%Y-%m-%d}"

    def nothing(self) -> str:
        """A field the config leaves empty."""
        return self("non renseigné", "not stated")


PURPOSE_LABELS = {
    "training": "formation des téléconseillers",
    "quality": "évaluation et amélioration de la qualité du service",
    "mediation": "médiation (enregistrement déclenché par le téléconseiller)",
}
PURPOSE_LABELS_EN = {
    "training": "training of the agents",
    "quality": "assessment and improvement of the quality of service",
    "mediation": "mediation (recording started by the agent)",
}
ROLE_LABELS = {
    "supervisor": "superviseur",
    "quality": "équipe qualité",
    "dpo": "délégué à la protection des données",
    "admin": "administrateur",
}
ROLE_LABELS_EN = {
    "supervisor": "supervisor",
    "quality": "quality team",
    "dpo": "data protection officer",
    "admin": "administrator",
}


def purpose_label(purpose: str, w: Words) -> str:
    labels = PURPOSE_LABELS_EN if w.lang == "en" else PURPOSE_LABELS
    return labels.get(purpose, purpose)


def role_label(role: str, w: Words) -> str:
    labels = ROLE_LABELS_EN if w.lang == "en" else ROLE_LABELS
    return labels.get(role, role)


def purposes_in_use(config: Config) -> list[str]:
    """Purposes of the configured services; mediation is always possible (A4)."""
    used = {p for s in config.services.values() for p in s.purposes} | {"mediation"}
    return [p for p in ("training", "quality", "mediation") if p in used]


def document_problems(config: Config, *, register: bool) -> list[Problem]:
    """What the config lacks for the notices (and the register), with key paths."""
    problems = [
        Problem(
            f"legal.purposes.{purpose}",
            "is required: the documents state the description and the legal basis of each purpose",
        )
        for purpose in purposes_in_use(config)
        if purpose not in config.legal.purposes
    ]
    if register and config.legal.transfers is None:
        problems.append(
            Problem(
                "legal.transfers",
                "is required for the register (Art. 30(1)(e)); an empty list [] states that "
                "there are none",
            )
        )
    return problems


def purpose_text(config: Config, purpose: str, w: Words | None = None) -> str:
    basis = config.legal.purposes.get(purpose)
    return basis.description if basis else purpose_label(purpose, w or Words())


def legal_basis_text(config: Config, purpose: str, w: Words) -> str:
    basis = config.legal.purposes.get(purpose)
    return basis.legal_basis if basis else w("non renseignée", "not stated")


def percent(rate: float, w: Words | None = None) -> str:
    value = rate * 100
    if w is not None and w.lang == "en":
        return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"
    return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %".replace(".", ",")


def sampling_text(service: Service, w: Words | None = None) -> str:
    w = w or Words()
    share = percent(service.sampling_rate, w)
    if service.exemption is not None:
        if service.sampling_rate >= 1:
            return w("tous les appels (dérogation)", "every call (exemption)")
        return w(
            f"environ {share} des appels, tirés au hasard (dérogation)",
            f"about {share} of calls, drawn at random (exemption)",
        )
    return w(
        f"environ {share} des appels, tirés au hasard", f"about {share} of calls, drawn at random"
    )


def campaign_text(service: Service, w: Words | None = None) -> str:
    w = w or Words()
    start, end = service.campaign.start, service.campaign.end
    if start and end:
        return w(f"du {w.date(start)} au {w.date(end)}", f"from {w.date(start)} to {w.date(end)}")
    if start:
        return w(f"à partir du {w.date(start)}", f"from {w.date(start)}")
    if end:
        return w(f"jusqu'au {w.date(end)}", f"until {w.date(end)}")
    return w("sans limite de dates", "no date limits")


def windows_text(service: Service, w: Words | None = None) -> str:
    if not service.windows:
        return (w or Words())("à toute heure", "at any time")
    return "; ".join(window.describe() for window in service.windows)


def scope_text(person: Person, config: Config, w: Words | None = None) -> str:
    if ALL_SERVICES in person.services:
        return (w or Words())("tous les services", "every service")
    return ", ".join(
        config.services[s].label if s in config.services else s for s in person.services
    )


def days(n: int, w: Words | None = None) -> str:
    if w is not None and w.lang == "en":
        return f"{n} day" if n == 1 else f"{n} days"
    return f"{n} jour" if n == 1 else f"{n} jours"


def dpo_text(config: Config) -> str:
    org = config.organisation
    parts = [org.dpo_name, org.dpo_email]
    if org.dpo_address:
        parts.append(org.dpo_address)
    return ", ".join(parts)
