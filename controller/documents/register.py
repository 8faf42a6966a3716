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
from controller.documents.common import (
    DEFAULT_LANGUAGE,
    Words,
    campaign_text,
    days,
    dpo_text,
    legal_basis_text,
    percent,
    purpose_label,
    purpose_text,
    purposes_in_use,
    role_label,
    sampling_text,
    scope_text,
    windows_text,
)
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table

# Measures reccontrol applies by itself (Art. 32), stated in (g), as (French, English).
BUILT_IN_MEASURES_BOTH = (
    (
        "Échantillonnage aléatoire par tirage cryptographique (CSPRNG), dans des plages "
        "horaires et des dates de campagne publiées ; pas d'enregistrement systématique sans "
        "dérogation écrite.",
        "Random sampling by a cryptographic draw (CSPRNG), within published hours and "
        "campaign dates; no systematic recording without a written exemption.",
    ),
    (
        "Numéros des appelants jamais conservés : seule une empreinte HMAC-SHA-256 à clé "
        "secrète est stockée.",
        "Callers' numbers never kept: only an HMAC-SHA-256 fingerprint under a secret key is "
        "stored.",
    ),
    (
        "Enregistrements déplacés dès la fin de l'appel dans un coffre non lisible par les "
        "autres comptes (mode 0700/0600), sous des noms aléatoires de 160 bits, hors de portée "
        "de l'interface ARI d'Asterisk.",
        "Recordings moved as soon as the call ends into a vault no other account can read "
        "(mode 0700/0600), under random 160-bit names, out of reach of Asterisk's ARI "
        "interface.",
    ),
    (
        "Accès limité à une liste nominative de personnes habilitées, par rôle et par service, "
        "avec mot de passe (scrypt) ou jeton individuel ; finalité de chaque accès "
        "obligatoire.",
        "Access limited to a named list of authorised persons, by role and by service, with a "
        "password (scrypt) or a personal token; a purpose is required for every access.",
    ),
    (
        "Purge automatique planifiée, reprise sans perte après interruption, avec reçu de "
        "suppression (identifiant, empreinte SHA-256 du fichier, date, règle appliquée).",
        "Scheduled automatic purge, resumed without loss after an interruption, with a "
        "deletion receipt (identifier, SHA-256 of the file, date, rule applied).",
    ),
    (
        "Secrets (mots de passe, clés) lus depuis l'environnement ou des fichiers, jamais "
        "écrits dans la configuration ni dans les journaux.",
        "Secrets (passwords, keys) read from the environment or from files, never written in "
        "the configuration or the logs.",
    ),
    (
        "Aucun couplage avec une capture d'écran du poste de travail.",
        "No coupling with a capture of the workstation's screen.",
    ),
    (
        "Données bancaires jamais enregistrées : l'enregistrement est mis en pause (sans trace "
        "dans le fichier) avant la saisie de la carte, soit par le conseiller, soit par le "
        "transfert de l'appelant vers un serveur vocal qui transmet les données en HTTPS, "
        "certificat vérifié, à l'API de paiement ; ni numéro de carte, ni date d'expiration, "
        "ni cryptogramme dans les journaux ou la base.",
        "Card data never recorded: the recording is paused (leaving no trace in the file) "
        "before the card is given, either by the agent or by sending the caller to a voice "
        "server that passes the data over HTTPS, certificate verified, to the payment API; no "
        "card number, expiry date or security code in the logs or the database.",
    ),
)


def built_in_measures(w: Words) -> tuple[str, ...]:
    return tuple(w(fr, en) for fr, en in BUILT_IN_MEASURES_BOTH)


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
        Table(
            (w("Finalité", "Purpose"), "Description", w("Base légale", "Legal basis"), "Services"),
            tuple(
                (
                    purpose_label(p, w),
                    purpose_text(config, p, w),
                    legal_basis_text(config, p, w),
                    ", ".join(s.label for s in config.services.values() if p in s.purposes)
                    or w("tous (à l'initiative du téléconseiller)", "all (started by the agent)"),
                )
                for p in purposes_in_use(config)
            ),
        ),
        Heading(2, w("Proportionnalité par service", "Proportionality per service")),
        Table(
            (
                "Service",
                w("Finalités", "Purposes"),
                w("Appels enregistrés", "Calls recorded"),
                w("Campagne", "Campaign"),
                w("Plages", "Hours"),
                w("Conservation", "Retention"),
            ),
            tuple(
                (
                    f"{s.label} ({name})",
                    ", ".join(purpose_label(p, w) for p in s.purposes),
                    sampling_text(s, w),
                    campaign_text(s, w),
                    windows_text(s, w),
                    days(s.retention_days, w),
                )
                for name, s in config.services.items()
            ),
        ),
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

    persons = sorted(config.access.persons.values(), key=lambda p: (p.role, p.name))
    blocks += [
        Heading(1, w("(d) Destinataires", "(d) Recipients")),
        Para(
            w(
                "Personnes habilitées à accéder aux enregistrements et aux fiches, nommément :",
                "Persons authorised to access the recordings and the sheets, by name:",
            )
        ),
        Table(
            (w("Nom", "Name"), w("Rôle", "Role"), "Services"),
            tuple((p.name, role_label(p.role, w), scope_text(p, config, w)) for p in persons)
            or ((w("aucune personne habilitée", "no authorised person"), "", ""),),
        ),
    ]
    if legal.recipients:
        other = w("Autres destinataires :", "Other recipients:")
        blocks += [Para(other), Bullets(legal.recipients)]

    blocks.append(
        Heading(
            1,
            w(
                "(e) Transferts vers un pays tiers ou une organisation internationale",
                "(e) Transfers to a third country or an international organisation",
            ),
        )
    )
    if legal.transfers:
        blocks.append(
            Table(
                ("Destination", w("Garanties appropriées", "Appropriate safeguards")),
                tuple((t.destination, t.safeguards) for t in legal.transfers),
            )
        )
    elif legal.transfers is None:
        blocks.append(Para(w.nothing()))
    else:
        blocks.append(
            Para(
                w(
                    "Aucun transfert hors de l'Union européenne.",
                    "No transfer outside the European Union.",
                )
            )
        )

    blocks += [
        Heading(1, w("(f) Délais prévus pour l'effacement", "(f) Time limits for erasure")),
        Table(
            (w("Catégorie", "Category"), w("Durée maximale", "Maximum period")),
            tuple(retention_rows(config, w)),
        ),
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


def retention_rows(config: Config, w: Words) -> list[tuple[str, str]]:
    """Every category of data with its maximum period: the register's (f), the DPIA's
    retention section."""
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


def access_log_measure(config: Config, w: Words) -> str:
    signed = config.audit.checkpoint_key is not None
    return w(
        "Journal des accès en ajout seul, chaîné par SHA-256, vérifiable "
        "(« reccontrol audit verify ») ; empreinte de tête exportable ; lors de la "
        "purge des entrées expirées, point de contrôle "
        + ("signé par HMAC." if signed else "haché (SHA-256), non signé faute de clé configurée."),
        "Append-only access log, chained by SHA-256, verifiable "
        '("reccontrol audit verify"); exportable head hash; when expired entries are '
        "purged, a checkpoint "
        + ("signed by HMAC." if signed else "hashed (SHA-256), unsigned as no key is configured."),
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
