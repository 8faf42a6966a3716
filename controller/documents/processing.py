"""What several documents state alike about the processing, built in one place so the
register, the impact assessment and the notices cannot drift apart: who is responsible,
the purposes and their legal bases, the services and how much of their calls is recorded,
who may access the recordings, the transfers outside the EU and how long each category of
data is kept."""

from __future__ import annotations

from controller.config.model import Config
from controller.documents.common import (
    Words,
    campaign_text,
    days,
    dpo_text,
    legal_basis_text,
    purpose_label,
    purpose_text,
    purposes_in_use,
    role_label,
    sampling_text,
    scope_text,
    windows_text,
)
from controller.documents.render import Block, Fields, Para, Table


def controller_fields(config: Config, w: Words) -> Fields:
    """The controller as both notices name it: its address only when the config has one."""
    org = config.organisation
    items = [(w("Responsable du traitement", "Data controller"), org.name)]
    if org.address:
        items.append((w("Adresse", "Address"), org.address))
    items.append(
        (w("Délégué à la protection des données (DPO)", "Data protection officer (DPO)"),
         dpo_text(config))
    )
    return Fields(tuple(items))


def legal_bases_table(config: Config, w: Words) -> Table:
    """Each purpose in use, as the site describes it, with its legal basis: the notices'
    table, for the people concerned rather than the controller."""
    return Table(
        (w("Finalité", "Purpose"), w("Base légale", "Legal basis")),
        tuple(
            (purpose_text(config, p, w), legal_basis_text(config, p, w))
            for p in purposes_in_use(config)
        ),
    )


def purposes_table(config: Config, w: Words, *, services_column: bool = False) -> Table:
    """Each purpose in use with its description and legal basis; the register also names
    the services that pursue it."""
    header = [w("Finalité", "Purpose"), "Description", w("Base légale", "Legal basis")]
    if services_column:
        header.append("Services")
    rows = []
    for p in purposes_in_use(config):
        row = [purpose_label(p, w), purpose_text(config, p, w), legal_basis_text(config, p, w)]
        if services_column:
            row.append(_services_pursuing(config, p, w))
        rows.append(tuple(row))
    return Table(tuple(header), tuple(rows))


def _services_pursuing(config: Config, purpose: str, w: Words) -> str:
    # Mediation needs no service to list it: any agent may start it, on any service (A4).
    labels = ", ".join(s.label for s in config.services.values() if purpose in s.purposes)
    return labels or w("tous (à l'initiative du téléconseiller)", "all (started by the agent)")


def services_table(
    config: Config, w: Words, *, purposes_column: bool = False, retention_column: bool = False
) -> Table:
    """Each service with the share of calls it records, its campaign and its hours; the
    register's proportionality table adds its purposes and how long it keeps recordings."""
    header = ["Service"]
    if purposes_column:
        header.append(w("Finalités", "Purposes"))
    header += [
        w("Appels enregistrés", "Calls recorded"),
        w("Campagne", "Campaign"),
        w("Plages", "Hours"),
    ]
    if retention_column:
        header.append(w("Conservation", "Retention"))
    rows = []
    for name, s in config.services.items():
        row = [f"{s.label} ({name})"]
        if purposes_column:
            row.append(", ".join(purpose_label(p, w) for p in s.purposes))
        row += [sampling_text(s, w), campaign_text(s, w), windows_text(s, w)]
        if retention_column:
            row.append(days(s.retention_days, w))
        rows.append(tuple(row))
    return Table(tuple(header), tuple(rows))


def authorised_persons_table(config: Config, w: Words) -> Table:
    """The persons who may access the recordings, by name, role and services; a row says
    so when there is none, rather than an empty table."""
    persons = sorted(config.access.persons.values(), key=lambda p: (p.role, p.name))
    return Table(
        (w("Nom", "Name"), w("Rôle", "Role"), "Services"),
        tuple((p.name, role_label(p.role, w), scope_text(p, config, w)) for p in persons)
        or ((w("aucune personne habilitée", "no authorised person"), "", ""),),
    )


def transfers_block(config: Config, w: Words, *, unstated: str, none: str) -> Block:
    """The transfers outside the EU with their safeguards; otherwise the document's own
    sentence for a config that does not say (``unstated``) or states there are ``none``."""
    transfers = config.legal.transfers
    if transfers:
        return Table(
            ("Destination", w("Garanties appropriées", "Appropriate safeguards")),
            tuple((t.destination, t.safeguards) for t in transfers),
        )
    return Para(unstated if transfers is None else none)


def retention_table(config: Config, w: Words) -> Table:
    """Every category of data with its maximum period: the register's (f), the DPIA's
    retention section."""
    return Table(
        (w("Catégorie", "Category"), w("Durée maximale", "Maximum period")),
        tuple(_retention_rows(config, w)),
    )


def _retention_rows(config: Config, w: Words) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        (
            w(f"Enregistrements : {s.label} ({n})", f"Recordings: {s.label} ({n})"),
            days(s.retention_days, w),
        )
        for n, s in config.services.items()
    ]
    rows += [
        (
            w("Fiches de synthèse (évaluations)", "Summary sheets (assessments)"),
            days(config.sheets.retention_days, w),
        ),
        (w("Journal des accès", "Access log"), days(config.audit.retention_days, w)),
        (
            w(
                "Oppositions des appelants (empreinte du numéro)",
                "Callers' objections (fingerprint of the number)",
            ),
            days(config.privacy.objection_memory_days, w),
        ),
        (
            w(
                "Métadonnées des appels (décision d'enregistrement, choix au clavier, "
                "empreinte du numéro ; conservées tant qu'un enregistrement de l'appel l'est)",
                "Call metadata (recording decision, keys pressed, fingerprint of the number; "
                "kept as long as a recording of the call is)",
            ),
            days(config.privacy.call_metadata_days, w),
        ),
        (
            w(
                "Nombre d'appels privés par téléconseiller et par jour (seule trace conservée "
                "d'un appel privé)",
                "Number of private calls per agent and per day (the only trace kept of a "
                "private call)",
            ),
            days(config.privacy.call_metadata_days, w),
        ),
    ]
    return rows
