"""The GDPR Art. 30 register entry for call recording, generated from the config (D1).

Every field of Art. 30(1)(a)-(g) has its own section, headed with its letter; the
services that record every call, or nearly every call, under an exemption (P2, P5) are
listed with their legal basis and the longest retention it allows (T1); the threshold
of systematic recording is stated (P5), and so is the day the staff representatives
were informed (A8).
"""

from __future__ import annotations

from controller.config.model import DEFAULT_MAX_RATE_WITHOUT_EXEMPTION, Config
from controller.documents.common import (
    PURPOSE_LABELS,
    ROLE_LABELS,
    campaign_text,
    days,
    dpo_text,
    percent,
    purpose_text,
    purposes_in_use,
    sampling_text,
    scope_text,
    windows_text,
)
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table

# Measures reccontrol applies by itself (Art. 32), stated in (g).
BUILT_IN_MEASURES = (
    "Échantillonnage aléatoire par tirage cryptographique (CSPRNG), dans des plages horaires "
    "et des dates de campagne publiées ; pas d'enregistrement systématique sans dérogation "
    "écrite.",
    "Numéros des appelants jamais conservés : seule une empreinte HMAC-SHA-256 à clé secrète "
    "est stockée.",
    "Enregistrements déplacés dès la fin de l'appel dans un coffre non lisible par les autres "
    "comptes (mode 0700/0600), sous des noms aléatoires de 160 bits, hors de portée de "
    "l'interface ARI d'Asterisk.",
    "Accès limité à une liste nominative de personnes habilitées, par rôle et par service, "
    "avec mot de passe (scrypt) ou jeton individuel ; finalité de chaque accès obligatoire.",
    "Purge automatique planifiée, reprise sans perte après interruption, avec reçu de "
    "suppression (identifiant, empreinte SHA-256 du fichier, date, règle appliquée).",
    "Secrets (mots de passe, clés) lus depuis l'environnement ou des fichiers, jamais écrits "
    "dans la configuration ni dans les journaux.",
    "Aucun couplage avec une capture d'écran du poste de travail.",
    "Données bancaires jamais enregistrées : l'enregistrement est mis en pause (sans trace "
    "dans le fichier) avant la saisie de la carte, soit par le conseiller, soit par le "
    "transfert de l'appelant vers un serveur vocal qui transmet les données en HTTPS, "
    "certificat vérifié, à l'API de paiement ; ni numéro de carte, ni date d'expiration, ni "
    "cryptogramme dans les journaux ou la base.",
)


def build_register(config: Config) -> Document:
    org, legal = config.organisation, config.legal
    blocks: list[Block] = []

    blocks += [
        Heading(1, "(a) Responsable du traitement et délégué à la protection des données"),
        Fields(
            (
                ("Responsable du traitement", org.name),
                ("Adresse", org.address or "non renseignée"),
                ("Délégué à la protection des données", dpo_text(config)),
                ("Représentant (art. 27)", legal.representative or "aucun"),
                (
                    "Responsables conjoints",
                    "; ".join(legal.joint_controllers) if legal.joint_controllers else "aucun",
                ),
            )
        ),
    ]

    blocks += [
        Heading(1, "(b) Finalités du traitement"),
        Table(
            ("Finalité", "Description", "Base légale", "Services"),
            tuple(
                (
                    PURPOSE_LABELS.get(p, p),
                    purpose_text(config, p),
                    legal.purposes[p].legal_basis if p in legal.purposes else "non renseignée",
                    ", ".join(s.label for s in config.services.values() if p in s.purposes)
                    or "tous (à l'initiative du téléconseiller)",
                )
                for p in purposes_in_use(config)
            ),
        ),
        Heading(2, "Proportionnalité par service"),
        Table(
            ("Service", "Finalités", "Appels enregistrés", "Campagne", "Plages", "Conservation"),
            tuple(
                (
                    f"{s.label} ({name})",
                    ", ".join(PURPOSE_LABELS.get(p, p) for p in s.purposes),
                    sampling_text(s),
                    campaign_text(s),
                    windows_text(s),
                    days(s.retention_days),
                )
                for name, s in config.services.items()
            ),
        ),
        _threshold(config),
        Heading(2, "Dérogations (enregistrement de tous les appels ou conservation prolongée)"),
    ]
    exempted = [(n, s) for n, s in config.services.items() if s.exemption is not None]
    if exempted:
        blocks.append(
            Table(
                (
                    "Service",
                    "Base légale écrite de la dérogation",
                    "Conservation maximale permise",
                ),
                tuple(
                    (
                        f"{s.label} ({n})",
                        s.exemption.legal_basis,
                        days(s.exemption.retention_ceiling()),
                    )
                    for n, s in exempted
                    if s.exemption is not None
                ),
            )
        )
    else:
        blocks.append(Para("Aucune : chaque service n'enregistre qu'un échantillon des appels."))

    blocks += [
        Heading(1, "(c) Catégories de personnes concernées et de données personnelles"),
        Table(
            ("Personnes concernées", "Données"),
            (
                _callers_row(config),
                (
                    "Téléconseillers",
                    "identité ; plages d'enregistrement ; voix ; fiches d'évaluation (employé, "
                    "évaluateur, date, heure et durée de l'appel, critères notés, commentaires) ; "
                    "nombre d'appels privés par jour",
                ),
                (
                    "Personnes habilitées",
                    "identité, rôle et périmètre ; journal de leurs accès (qui, quoi, quand, "
                    "pourquoi, résultat)",
                ),
            ),
        ),
    ]

    persons = sorted(config.access.persons.values(), key=lambda p: (p.role, p.name))
    blocks += [
        Heading(1, "(d) Destinataires"),
        Para("Personnes habilitées à accéder aux enregistrements et aux fiches, nommément :"),
        Table(
            ("Nom", "Rôle", "Services"),
            tuple((p.name, ROLE_LABELS.get(p.role, p.role), scope_text(p, config)) for p in persons)
            or (("aucune personne habilitée", "", ""),),
        ),
    ]
    if legal.recipients:
        blocks += [Para("Autres destinataires :"), Bullets(legal.recipients)]

    blocks.append(
        Heading(1, "(e) Transferts vers un pays tiers ou une organisation internationale")
    )
    if legal.transfers:
        blocks.append(
            Table(
                ("Destination", "Garanties appropriées"),
                tuple((t.destination, t.safeguards) for t in legal.transfers),
            )
        )
    elif legal.transfers is None:
        blocks.append(Para("non renseigné"))
    else:
        blocks.append(Para("Aucun transfert hors de l'Union européenne."))

    retention_rows: list[tuple[str, str]] = [
        (f"Enregistrements : {s.label} ({n})", days(s.retention_days))
        for n, s in config.services.items()
    ]
    retention_rows += [
        ("Fiches de synthèse (évaluations)", days(config.sheets.retention_days)),
        ("Journal des accès", days(config.audit.retention_days)),
        (
            "Oppositions des appelants (empreinte du numéro)",
            days(config.privacy.objection_memory_days),
        ),
        (
            "Métadonnées des appels (décision d'enregistrement, choix au clavier, empreinte "
            "du numéro ; conservées tant qu'un enregistrement de l'appel l'est)",
            days(config.privacy.call_metadata_days),
        ),
        (
            "Nombre d'appels privés par téléconseiller et par jour (seule trace conservée "
            "d'un appel privé)",
            days(config.privacy.call_metadata_days),
        ),
    ]
    blocks += [
        Heading(1, "(f) Délais prévus pour l'effacement"),
        Table(("Catégorie", "Durée maximale"), tuple(retention_rows)),
        Para(
            "Chaque durée court à partir de la création. La purge planifiée (toutes les "
            f"{config.purge.interval_minutes} minutes) supprime les données expirées et laisse "
            "un reçu dans le journal des accès."
        ),
    ]

    blocks += [
        Heading(1, "(g) Mesures de sécurité techniques et organisationnelles"),
        Bullets(
            (
                *BUILT_IN_MEASURES,
                "Journal des accès en ajout seul, chaîné par SHA-256, vérifiable "
                "(« reccontrol audit verify ») ; empreinte de tête exportable ; lors de la "
                "purge des entrées expirées, point de contrôle "
                + (
                    "signé par HMAC."
                    if config.audit.checkpoint_key is not None
                    else "haché (SHA-256), non signé faute de clé configurée."
                ),
                *legal.security_measures,
            )
        ),
    ]

    informed = legal.staff_representatives_informed
    blocks += [
        Heading(1, "Information des personnes"),
        Bullets(
            (
                "Appelants : annonce en début d'appel, touche d'opposition, notice complète au "
                "clavier (« reccontrol notice callers »).",
                "Téléconseillers : notice d'information (« reccontrol notice agents »).",
                (
                    f"Instances représentatives du personnel informées le {informed:%d/%m/%Y}, "
                    "avant tout enregistrement : aucun appel n'est enregistré avant cette date."
                    if informed
                    else "Information préalable des instances représentatives du personnel : "
                    "date non renseignée."
                ),
            )
        ),
    ]

    return Document(
        title=f"Registre des activités de traitement (art. 30 RGPD) : enregistrement des "
        f"appels, {org.name}",
        lang="fr",
        blocks=tuple(blocks),
    )


def _threshold(config: Config) -> Para:
    """P5: the rate above which sampling counts as recording every call."""
    limits = config.proportionality
    text = (
        f"Au-delà de {percent(limits.max_rate_without_exemption)} des appels, "
        "l'enregistrement est considéré comme systématique : il exige la même dérogation "
        "écrite que l'enregistrement de tous les appels."
    )
    if limits.max_rate_without_exemption != DEFAULT_MAX_RATE_WITHOUT_EXEMPTION:
        text += (
            f" Seuil retenu au lieu de {percent(DEFAULT_MAX_RATE_WITHOUT_EXEMPTION)} : "
            f"{limits.reason}"
        )
    return Para(text)


def _callers_row(config: Config) -> tuple[str, str]:
    """C6: with outbound services, the people called are data subjects too."""
    who = "Appelants (clients, usagers, prospects)"
    data = (
        "voix (enregistrement) ; empreinte HMAC du numéro ; date, heure et durée de "
        "l'appel ; service appelé ; opposition et choix exprimés au clavier, avec "
        "la version de l'annonce entendue"
    )
    if any(s.outbound is not None for s in config.services.values()):
        who = "Appelants et personnes appelées (clients, usagers, prospects)"
        data += (
            " ; pour les appels sortants, l'issue de l'appel (occupé, sans réponse...) et, "
            "quand le téléconseiller donne l'information, sa confirmation au clavier"
        )
    return who, data
