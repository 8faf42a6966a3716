"""The GDPR Art. 30 register entry for call recording, generated from the config (D1),
in French or English.

Every field of Art. 30(1)(a)-(g) has its own section, headed with its letter; the
services that record every call, or nearly every call, under an exemption (P2, P5) are
listed with their legal basis and the longest retention it allows (T1); the threshold
of systematic recording is stated (P5), and so is the day the staff representatives
were informed (A8).
"""

from __future__ import annotations

from controller.config.model import Config
from controller.config.service_model import DEFAULT_MAX_RATE_WITHOUT_EXEMPTION
from controller.documents.common import DEFAULT_LANGUAGE, Words, days, dpo_text, percent
from controller.documents.measures import access_log_measure, built_in_measures
from controller.documents.processing import (
    authorised_persons_table,
    purposes_table,
    retention_table,
    services_table,
    transfers_block,
)
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table


def build_register(config: Config, lang: str = DEFAULT_LANGUAGE) -> Document:
    w = Words(lang)
    org, legal = config.organisation, config.legal
    none = w("aucun", "none")
    blocks: list[Block] = []

    blocks += [
        Heading(
            1,
            w(
                "(a) Responsable du traitement et délégué à la protection des données",
                "(a) Controller and data protection officer",
            ),
        ),
        Fields(
            (
                (w("Responsable du traitement", "Controller"), org.name),
                (w("Adresse", "Address"), org.address or w("non renseignée", "not stated")),
                (w("Délégué à la protection des données", "Data protection officer"),
                 dpo_text(config)),
                (w("Représentant (art. 27)", "Representative (Art. 27)"),
                 legal.representative or none),
                (
                    w("Responsables conjoints", "Joint controllers"),
                    "; ".join(legal.joint_controllers) if legal.joint_controllers else none,
                ),
            )
        ),
    ]

    blocks += [
        Heading(1, w("(b) Finalités du traitement", "(b) Purposes of the processing")),
        purposes_table(config, w, services_column=True),
        Heading(2, w("Proportionnalité par service", "Proportionality per service")),
        services_table(config, w, purposes_column=True, retention_column=True),
        _threshold(config, w),
        Heading(
            2,
            w(
                "Dérogations (enregistrement de tous les appels ou conservation prolongée)",
                "Exemptions (recording every call or keeping recordings longer)",
            ),
        ),
    ]
    exempted = [(n, s) for n, s in config.services.items() if s.exemption is not None]
    if exempted:
        blocks.append(
            Table(
                (
                    "Service",
                    w(
                        "Base légale écrite de la dérogation",
                        "Written legal basis of the exemption",
                    ),
                    w("Conservation maximale permise", "Longest retention allowed"),
                ),
                tuple(
                    (
                        f"{s.label} ({n})",
                        s.exemption.legal_basis,
                        days(s.exemption.retention_ceiling(), w),
                    )
                    for n, s in exempted
                    if s.exemption is not None
                ),
            )
        )
    else:
        blocks.append(
            Para(
                w(
                    "Aucune : chaque service n'enregistre qu'un échantillon des appels.",
                    "None: every service records only a sample of calls.",
                )
            )
        )

    blocks += [
        Heading(
            1,
            w(
                "(c) Catégories de personnes concernées et de données personnelles",
                "(c) Categories of data subjects and of personal data",
            ),
        ),
        Table(
            (w("Personnes concernées", "Data subjects"), w("Données", "Data")),
            (
                _callers_row(config, w),
                (
                    w("Téléconseillers", "Agents"),
                    w(
                        "identité ; plages d'enregistrement ; voix ; fiches d'évaluation "
                        "(employé, évaluateur, date, heure et durée de l'appel, critères "
                        "notés, commentaires) ; nombre d'appels privés par jour",
                        "identity; recording periods; voice; assessment sheets (employee, "
                        "assessor, date, time and length of the call, criteria scored, "
                        "comments); number of private calls per day",
                    ),
                ),
                (
                    w("Personnes habilitées", "Authorised persons"),
                    w(
                        "identité, rôle et périmètre ; journal de leurs accès (qui, quoi, "
                        "quand, pourquoi, résultat)",
                        "identity, role and scope; log of their accesses (who, what, when, "
                        "why, result)",
                    ),
                ),
            ),
        ),
    ]

    blocks += [
        Heading(1, w("(d) Destinataires", "(d) Recipients")),
        Para(
            w(
                "Personnes habilitées à accéder aux enregistrements et aux fiches, nommément :",
                "Persons authorised to access the recordings and the sheets, by name:",
            )
        ),
        authorised_persons_table(config, w),
    ]
    if legal.recipients:
        other = w("Autres destinataires :", "Other recipients:")
        blocks += [Para(other), Bullets(legal.recipients)]

    blocks += [
        Heading(
            1,
            w(
                "(e) Transferts vers un pays tiers ou une organisation internationale",
                "(e) Transfers to a third country or an international organisation",
            ),
        ),
        transfers_block(
            config,
            w,
            unstated=w.nothing(),
            none=w(
                "Aucun transfert hors de l'Union européenne.",
                "No transfer outside the European Union.",
            ),
        ),
    ]

    blocks += [
        Heading(1, w("(f) Délais prévus pour l'effacement", "(f) Time limits for erasure")),
        retention_table(config, w),
        Para(
            w(
                "Chaque durée court à partir de la création. La purge planifiée (toutes les "
                f"{config.purge.interval_minutes} minutes) supprime les données expirées et "
                "laisse un reçu dans le journal des accès.",
                "Each period runs from creation. The scheduled purge (every "
                f"{config.purge.interval_minutes} minutes) deletes expired data and leaves a "
                "receipt in the access log.",
            )
        ),
    ]

    blocks += [
        Heading(
            1,
            w(
                "(g) Mesures de sécurité techniques et organisationnelles",
                "(g) Technical and organisational security measures",
            ),
        ),
        Bullets((*built_in_measures(w), access_log_measure(config, w), *legal.security_measures)),
    ]

    informed = legal.staff_representatives_informed
    blocks += [
        Heading(1, w("Information des personnes", "Informing the people concerned")),
        Bullets(
            (
                w(
                    "Appelants : annonce en début d'appel, touche d'opposition, notice "
                    "complète au clavier (« reccontrol notice callers »).",
                    "Callers: announcement at the start of the call, objection key, full "
                    'notice on a key ("reccontrol notice callers").',
                ),
                w(
                    "Téléconseillers : notice d'information (« reccontrol notice agents »).",
                    'Agents: information notice ("reccontrol notice agents").',
                ),
                (
                    w(
                        "Instances représentatives du personnel informées le "
                        f"{w.date(informed)}, avant tout enregistrement : aucun appel n'est "
                        "enregistré avant cette date.",
                        f"Staff representative bodies informed on {w.date(informed)}, before "
                        "anything was recorded: no call is recorded before that date.",
                    )
                    if informed
                    else w(
                        "Information préalable des instances représentatives du personnel : "
                        "date non renseignée.",
                        "Prior information of the staff representative bodies: date not "
                        "stated.",
                    )
                ),
            )
        ),
    ]

    return Document(
        title=w(
            "Registre des activités de traitement (art. 30 RGPD) : enregistrement des "
            f"appels, {org.name}",
            f"Record of processing activities (GDPR Art. 30): call recording, {org.name}",
        ),
        lang=w.lang,
        blocks=tuple(blocks),
    )


def _threshold(config: Config, w: Words) -> Para:
    """P5: the rate above which sampling counts as recording every call."""
    limits = config.proportionality
    rate = percent(limits.max_rate_without_exemption, w)
    text = w(
        f"Au-delà de {rate} des appels, l'enregistrement est considéré comme systématique : "
        "il exige la même dérogation écrite que l'enregistrement de tous les appels.",
        f"Above {rate} of calls, recording counts as systematic: it needs the same written "
        "exemption as recording every call.",
    )
    if limits.max_rate_without_exemption != DEFAULT_MAX_RATE_WITHOUT_EXEMPTION:
        default = percent(DEFAULT_MAX_RATE_WITHOUT_EXEMPTION, w)
        text += w(
            f" Seuil retenu au lieu de {default} : {limits.reason}",
            f" Threshold chosen instead of {default}: {limits.reason}",
        )
    return Para(text)


def _callers_row(config: Config, w: Words) -> tuple[str, str]:
    """C6: with outbound services, the people called are data subjects too."""
    who = w("Appelants (clients, usagers, prospects)", "Callers (customers, users, prospects)")
    data = w(
        "voix (enregistrement) ; empreinte HMAC du numéro ; date, heure et durée de "
        "l'appel ; service appelé ; opposition et choix exprimés au clavier, avec "
        "la version de l'annonce entendue",
        "voice (recording); HMAC fingerprint of the number; date, time and length of the "
        "call; service called; objection and choices made on the keypad, with the version "
        "of the announcement heard",
    )
    if any(s.outbound is not None for s in config.services.values()):
        who = w(
            "Appelants et personnes appelées (clients, usagers, prospects)",
            "Callers and people called (customers, users, prospects)",
        )
        data += w(
            " ; pour les appels sortants, l'issue de l'appel (occupé, sans réponse...) et, "
            "quand le téléconseiller donne l'information, sa confirmation au clavier",
            "; for outgoing calls, the outcome of the call (busy, no answer...) and, when "
            "the agent gives the information, the agent's confirmation on the keypad",
        )
    return who, data
