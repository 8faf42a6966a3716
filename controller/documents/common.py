"""What the notices and the register share: French labels, and the check that the config
holds what the documents must state (D1)."""

from __future__ import annotations

from controller.config.model import ALL_SERVICES, Config, Person, Service
from controller.config.reader import Problem

PURPOSE_LABELS = {
    "training": "formation des téléconseillers",
    "quality": "évaluation et amélioration de la qualité du service",
    "mediation": "médiation (enregistrement déclenché par le téléconseiller)",
}
ROLE_LABELS = {
    "supervisor": "superviseur",
    "quality": "équipe qualité",
    "dpo": "délégué à la protection des données",
    "admin": "administrateur",
}


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


def purpose_text(config: Config, purpose: str) -> str:
    basis = config.legal.purposes.get(purpose)
    return basis.description if basis else PURPOSE_LABELS.get(purpose, purpose)


def percent(rate: float) -> str:
    value = rate * 100
    return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %".replace(".", ",")


def sampling_text(service: Service) -> str:
    if service.exemption is not None:
        if service.sampling_rate >= 1:
            return "tous les appels (dérogation)"
        return f"environ {percent(service.sampling_rate)} des appels, tirés au hasard (dérogation)"
    return f"environ {percent(service.sampling_rate)} des appels, tirés au hasard"


def campaign_text(service: Service) -> str:
    start, end = service.campaign.start, service.campaign.end
    if start and end:
        return f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}"
    if start:
        return f"à partir du {start:%d/%m/%Y}"
    if end:
        return f"jusqu'au {end:%d/%m/%Y}"
    return "sans limite de dates"


def windows_text(service: Service) -> str:
    if not service.windows:
        return "à toute heure"
    return "; ".join(w.describe() for w in service.windows)


def scope_text(person: Person, config: Config) -> str:
    if ALL_SERVICES in person.services:
        return "tous les services"
    return ", ".join(
        config.services[s].label if s in config.services else s for s in person.services
    )


def days(n: int) -> str:
    return f"{n} jour" if n == 1 else f"{n} jours"


def dpo_text(config: Config) -> str:
    org = config.organisation
    parts = [org.dpo_name, org.dpo_email]
    if org.dpo_address:
        parts.append(org.dpo_address)
    return ", ".join(parts)
