"""The GDPR Art. 35 data protection impact assessment (DPIA), drafted from the config (D2).

A draft: everything the config knows is stated (the processing, its purposes and legal
bases, the data, the recipients, the retention, the measures with the requirement IDs that
implement them, the risks and what is left of them once the measures apply); what only the
controller can write (the DPO's opinion, the decision) is left as a section to complete.
The residual risks follow the config: an access log without its key, no witness of its
head, a service recording every call, a transfer abroad each raise one.
"""

from __future__ import annotations

from controller.config.model import Config
from controller.documents.common import DEFAULT_LANGUAGE, Words, days, dpo_text
from controller.documents.measures import MEASURES, access_log_measure
from controller.documents.processing import (
    authorised_persons_table,
    purposes_table,
    retention_table,
    services_table,
    transfers_block,
)
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table
from controller.documents.risks import risks


def build_dpia(config: Config, lang: str = DEFAULT_LANGUAGE) -> Document:
    w = Words(lang)
    org, legal = config.organisation, config.legal
    blocks: list[Block] = [
        Para(
            w(
                "Projet d'analyse d'impact relative à la protection des données (article 35 "
                "du RGPD), établi à partir de la configuration de reccontrol. Le responsable "
                "du traitement le complète, recueille l'avis du délégué à la protection des "
                "données et le conserve à jour.",
                "Draft data protection impact assessment (GDPR Article 35), drawn from the "
                "reccontrol configuration. The controller completes it, obtains the data "
                "protection officer's opinion and keeps it up to date.",
            )
        ),
        Heading(1, w("1. Description du traitement", "1. Description of the processing")),
        Fields(
            (
                (w("Responsable du traitement", "Controller"), org.name),
                (w("Délégué à la protection des données", "Data protection officer"),
                 dpo_text(config)),
                (
                    w("Traitement", "Processing"),
                    w(
                        "Écoute et enregistrement des appels téléphoniques du centre de "
                        "contacts (Asterisk, reccontrol)",
                        "Listening to and recording the contact centre's telephone calls "
                        "(Asterisk, reccontrol)",
                    ),
                ),
            )
        ),
        Heading(2, w("Finalités et bases légales", "Purposes and legal bases")),
        purposes_table(config, w),
        Heading(2, w("Services concernés", "Services concerned")),
        services_table(config, w),
        Heading(2, w("Données et personnes concernées", "Data and data subjects")),
        Bullets(
            (
                w(
                    "Appelants et personnes appelées : voix, empreinte HMAC du numéro, date, "
                    "heure, durée, service, choix au clavier.",
                    "Callers and people called: voice, HMAC fingerprint of the number, date, "
                    "time, length, service, keys pressed.",
                ),
                w(
                    f"Téléconseillers ({len(config.agents)}) : identité, périodes "
                    "d'enregistrement, voix, fiches d'évaluation.",
                    f"Agents ({len(config.agents)}): identity, recording periods, voice, "
                    "assessment sheets.",
                ),
                w(
                    "Personnes habilitées : identité, rôle, journal de leurs accès.",
                    "Authorised persons: identity, role, log of their accesses.",
                ),
                w(
                    "Aucune donnée bancaire, aucun numéro d'appelant en clair.",
                    "No card data, no caller number in clear.",
                ),
            )
        ),
        Heading(2, w("Destinataires", "Recipients")),
        authorised_persons_table(config, w),
    ]
    if legal.recipients:
        blocks.append(Bullets(legal.recipients))
    blocks += [
        transfers_block(
            config,
            w,
            unstated=w("Transferts : non renseigné.", "Transfers: not stated."),
            none=w("Aucun transfert hors de l'Union européenne.", "No transfer outside the EU."),
        ),
        Heading(2, w("Durées de conservation", "Retention")),
        retention_table(config, w),
        Heading(
            1,
            w(
                "2. Nécessité et proportionnalité",
                "2. Necessity and proportionality",
            ),
        ),
        Bullets(_proportionality(config, w)),
        Heading(
            1,
            w(
                "3. Mesures prévues, avec les exigences qui les mettent en œuvre",
                "3. Measures, with the requirements that implement them",
            ),
        ),
        Table(
            (w("Mesure", "Measure"), w("Exigences", "Requirements")),
            (
                *((w(m.fr, m.en), m.requirements) for m in MEASURES),
                (access_log_measure(config, w), "S3, S7"),
                *((m, w("mesure du site", "site measure")) for m in legal.security_measures),
            ),
        ),
        Para(
            w(
                "Les exigences sont définies dans docs/requirements.md, chacune avec les tests "
                "qui la prouvent.",
                "The requirements are defined in docs/requirements.md, each with the tests "
                "that prove it.",
            )
        ),
        Heading(1, w("4. Risques et risques résiduels", "4. Risks and residual risks")),
        Table(
            (
                w("Risque pour les personnes", "Risk to the people concerned"),
                w("Mesures", "Measures"),
                w("Risque résiduel", "Residual risk"),
            ),
            tuple(
                (w(r.fr, r.en), r.requirements, w(r.residual_fr, r.residual_en))
                for r in risks(config)
            ),
        ),
        Heading(1, w("5. Consultation et validation", "5. Consultation and sign-off")),
        Bullets(
            (
                (
                    w(
                        "Instances représentatives du personnel informées le "
                        f"{w.date(legal.staff_representatives_informed)}.",
                        "Staff representative bodies informed on "
                        f"{w.date(legal.staff_representatives_informed)}.",
                    )
                    if legal.staff_representatives_informed
                    else w(
                        "Information des instances représentatives du personnel : date non "
                        "renseignée (legal.staff_representatives_informed).",
                        "Information of the staff representative bodies: date not stated "
                        "(legal.staff_representatives_informed).",
                    )
                ),
                w(
                    "Avis du délégué à la protection des données : à compléter.",
                    "Opinion of the data protection officer: to be completed.",
                ),
                w(
                    "Décision du responsable du traitement et date : à compléter.",
                    "Decision of the controller, and date: to be completed.",
                ),
            )
        ),
    ]
    return Document(
        title=w(
            f"Analyse d'impact (art. 35 RGPD) : enregistrement des appels, {org.name}",
            f"Data protection impact assessment (GDPR Art. 35): call recording, {org.name}",
        ),
        lang=w.lang,
        blocks=tuple(blocks),
    )


def _proportionality(config: Config, w: Words) -> tuple[str, ...]:
    items = [
        w(
            "Seul un échantillon des appels est enregistré, sauf dérogation écrite ; les "
            "plages et campagnes limitent la période.",
            "Only a sample of calls is recorded unless a written exemption applies; hours "
            "and campaigns limit the period.",
        ),
        w(
            "Les appelants sont informés avant tout enregistrement et peuvent s'y opposer ; "
            f"l'opposition vaut {days(config.privacy.objection_memory_days, w)}.",
            "Callers are informed before anything is recorded and may object; the objection "
            f"holds {days(config.privacy.objection_memory_days, w)}.",
        ),
        w(
            "Les téléconseillers reçoivent une notice nominative de leurs périodes "
            "d'enregistrement et peuvent déclarer un appel privé.",
            "Agents receive a notice of their recording periods and may declare a call "
            "private.",
        ),
        w(
            "Les personnes exercent leurs droits auprès du DPO : "
            f"{dpo_text(config)} ; réclamation : {config.organisation.complaint_authority}.",
            f"People exercise their rights with the DPO: {dpo_text(config)}; complaints: "
            f"{config.organisation.complaint_authority}.",
        ),
    ]
    for name, service in config.services.items():
        if service.exemption is not None:
            items.append(
                w(
                    f"Dérogation pour {service.label} ({name}) : "
                    f"{service.exemption.legal_basis}.",
                    f"Exemption for {service.label} ({name}): {service.exemption.legal_basis}.",
                )
            )
    return tuple(items)
