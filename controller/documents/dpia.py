"""The GDPR Art. 35 data protection impact assessment (DPIA), drafted from the config (D2).

A draft: everything the config knows is stated (the processing, its purposes and legal
bases, the data, the recipients, the retention, the measures with the requirement IDs that
implement them, the risks and what is left of them once the measures apply); what only the
controller can write (the DPO's opinion, the decision) is left as a section to complete.
The residual risks follow the config: an access log without its key, no witness of its
head, a service recording every call, a transfer abroad each raise one.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.model import Config
from controller.documents.common import (
    DEFAULT_LANGUAGE,
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
from controller.documents.register import access_log_measure, retention_rows
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table


@dataclass(frozen=True)
class Measure:
    """A measure reccontrol applies, in both languages, with the requirements that
    implement it (docs/requirements.md), so an auditor can follow each to its tests."""

    fr: str
    en: str
    requirements: str


MEASURES = (
    Measure(
        "Échantillonnage aléatoire (tirage cryptographique) par service, dans des plages "
        "horaires et des dates de campagne publiées ; chaque décision est conservée avec ses "
        "entrées.",
        "Random sampling (cryptographic draw) per service, within published hours and "
        "campaign dates; every decision is kept with its inputs.",
        "P1, P3, P4",
    ),
    Measure(
        "Enregistrer tous les appels, ou presque tous (au-delà du seuil d'enregistrement "
        "systématique), exige une dérogation écrite, imprimée au registre avec la "
        "conservation maximale qu'elle permet.",
        "Recording every call, or nearly every call (above the systematic-recording "
        "threshold), needs a written exemption, printed in the register with the longest "
        "retention it allows.",
        "P2, P5",
    ),
    Measure(
        "Rien n'est enregistré avant la date à laquelle les représentants du personnel ont "
        "été informés du dispositif.",
        "Nothing is recorded before the date the staff representatives were informed of the "
        "system.",
        "A8",
    ),
    Measure(
        "Annonce légale avant tout enregistrement, touche d'opposition, notice complète au "
        "clavier ; la personne appelée est informée de la même façon.",
        "Legal announcement before anything is recorded, objection key, full notice on a "
        "key; the person called is informed in the same way.",
        "C1, C2, C3, C6",
    ),
    Measure(
        "Opposition mémorisée sous forme d'empreinte HMAC du numéro, jamais du numéro ; "
        "demandes des personnes (accès, export, effacement) tracées.",
        "Objection remembered as an HMAC of the number, never the number; data subjects' "
        "requests (access, export, erasure) traced.",
        "C4, C5",
    ),
    Measure(
        "Téléconseillers enregistrés seulement dans leurs périodes publiées ; appels privés, "
        "représentants du personnel et téléconseillers opposés jamais enregistrés ; agent "
        "identifié par Asterisk, jamais deviné.",
        "Agents recorded only in their published periods; private calls, staff "
        "representatives and agents who objected never recorded; the agent identified by "
        "Asterisk, never guessed.",
        "A1, A2, A3, A7",
    ),
    Measure(
        "Enregistrement de médiation à l'initiative de l'agent, refusé après opposition ; "
        "pauses tracées, reprise automatique ; notice des agents générée.",
        "Mediation recording started by the agent, refused after an objection; pauses "
        "traced, automatic resumption; agent notice generated.",
        "A4, A5, A6",
    ),
    Measure(
        "Données bancaires jamais enregistrées ni entendues : pause avant la saisie, serveur "
        "vocal de paiement en HTTPS vérifié, preuve par analyse audio.",
        "Card data never recorded nor heard: pause before entry, payment voice server over "
        "verified HTTPS, proven by audio analysis.",
        "M1, M2, M3, S6",
    ),
    Measure(
        "Durées de conservation bornées par catégorie, purge planifiée reprise sans perte, "
        "reçu de suppression au journal.",
        "Retention bounded per category, scheduled purge resumed without loss, deletion "
        "receipt in the log.",
        "T1, T2, T3, T4, T5",
    ),
    Measure(
        "Gel juridique posé par le DPO : un enregistrement nécessaire à un litige est "
        "conservé au-delà de son échéance, avec une date de révision, chaque étape tracée.",
        "Legal hold placed by the DPO: a recording needed for a dispute is kept past its "
        "expiry, with a review date, every step traced.",
        "T6",
    ),
    Measure(
        "Droits des téléconseillers : accès à leurs enregistrements, décisions et fiches, "
        "rectification des fiches, chaque demande tracée.",
        "Agents' rights: access to their recordings, decisions and sheets, rectification "
        "of the sheets, every request traced.",
        "S9",
    ),
    Measure(
        "Liste nominative des personnes habilitées, finalité obligatoire à chaque accès, "
        "fichiers non lisibles par les autres comptes, secrets hors de la configuration.",
        "Named list of authorised persons, a purpose for every access, files no other "
        "account can read, secrets outside the configuration.",
        "S1, S2, S4, S5",
    ),
    Measure(
        "Journal des accès en ajout seul, chaîné, signé (HMAC) et dont la tête est publiée "
        "hors de la base.",
        "Append-only access log, chained, signed (HMAC), its head published outside the "
        "database.",
        "S3, S7",
    ),
    Measure(
        "Aucun appel ni enregistrement perdu à l'arrêt brutal ; aucune entrée invalide "
        "n'arrête le service.",
        "No call nor recording lost on a crash; no bad input stops the service.",
        "R1, R2",
    ),
    Measure(
        "Documents (registre, notices, analyse d'impact) et dossier de contrôle générés depuis "
        "la configuration en vigueur.",
        "Documents (register, notices, impact assessment) and inspection pack generated from "
        "the configuration in force.",
        "D1, D2, D3",
    ),
)


@dataclass(frozen=True)
class Risk:
    fr: str
    en: str
    requirements: str
    residual_fr: str
    residual_en: str


def risks(config: Config) -> list[Risk]:
    """The risks to the people concerned, and what is left of each under this config."""
    keyed = config.audit.checkpoint_key is not None
    witnessed = config.audit.witness_file is not None or config.audit.witness_syslog
    record_all = [s.label for s in config.services.values() if s.exemption is not None]
    out = [
        Risk(
            "Accès illégitime aux enregistrements (écoute, copie, diffusion).",
            "Unlawful access to the recordings (listening, copying, disclosure).",
            "S1, S2, S4, S5",
            "Faible : reste la personne qui administre le serveur ; ses accès directs aux "
            "fichiers ne passent pas par le journal.",
            "Low: the person administering the server remains; direct access to the files "
            "bypasses the log.",
        ),
        Risk(
            "Effacement ou modification des traces d'accès pour cacher un abus.",
            "Erasing or editing access traces to hide misuse.",
            "S3, S7",
            (
                "Faible : le journal est signé et sa tête publiée hors de la base."
                if keyed and witnessed
                else "Élevé : "
                + (
                    "aucune clé (audit.checkpoint_key) ne signe le journal ; qui peut écrire "
                    "la base peut le réécrire."
                    if not keyed
                    else "la tête du journal n'est publiée nulle part (audit.witness_file) ; "
                    "une base restaurée ou tronquée ne se voit pas."
                )
            ),
            (
                "Low: the log is signed and its head published outside the database."
                if keyed and witnessed
                else "High: "
                + (
                    "no key (audit.checkpoint_key) signs the log; whoever can write the "
                    "database can rewrite it."
                    if not keyed
                    else "the log's head is published nowhere (audit.witness_file); a "
                    "restored or truncated database goes unseen."
                )
            ),
        ),
        Risk(
            "Enregistrement d'appelants non informés ou qui s'y sont opposés.",
            "Recording callers who were not informed or who objected.",
            "C1, C2, C3, C4, C6",
            "Faible : rien n'est enregistré avant la fin de l'annonce ; une opposition efface "
            "l'appel.",
            "Low: nothing is recorded before the announcement ends; an objection erases the "
            "call.",
        ),
        Risk(
            "Surveillance permanente des téléconseillers.",
            "Permanent surveillance of the agents.",
            "A1, A2, A3, A5, A6, P1, P4",
            "Faible : échantillon aléatoire dans des périodes publiées ; appels privés et "
            "salariés protégés jamais enregistrés.",
            "Low: random sample within published periods; private calls and protected staff "
            "never recorded.",
        ),
        Risk(
            "Données bancaires dans les enregistrements ou les journaux.",
            "Card data in the recordings or the logs.",
            "M1, M2, M3, S6",
            "Moyen : un appelant peut dicter sa carte à voix haute malgré la consigne ; le "
            "téléconseiller doit alors mettre en pause.",
            "Medium: a caller may read a card aloud despite the instruction; the agent must "
            "then pause.",
        ),
        Risk(
            "Conservation au-delà du nécessaire.",
            "Keeping data longer than needed.",
            "T1, T2, T3, T4, T5",
            "Faible : purge planifiée toutes les "
            f"{config.purge.interval_minutes} minutes, reçus vérifiables.",
            f"Low: scheduled purge every {config.purge.interval_minutes} minutes, verifiable "
            "receipts.",
        ),
    ]
    if record_all:
        labels = ", ".join(record_all)
        out.append(
            Risk(
                f"Enregistrement de tous les appels (dérogation) : {labels}.",
                f"Recording every call (exemption): {labels}.",
                "P2",
                "Moyen : justifié par la base légale écrite de la dérogation ; à revoir à "
                "chaque changement de cette base.",
                "Medium: justified by the exemption's written legal basis; to review whenever "
                "that basis changes.",
            )
        )
    if config.legal.transfers:
        out.append(
            Risk(
                "Transfert hors de l'Union européenne.",
                "Transfer outside the European Union.",
                "-",
                "Moyen : dépend des garanties déclarées (legal.transfers).",
                "Medium: depends on the safeguards stated (legal.transfers).",
            )
        )
    return out


def build_dpia(config: Config, lang: str = DEFAULT_LANGUAGE) -> Document:
    w = Words(lang)
    org, legal = config.organisation, config.legal
    persons = sorted(config.access.persons.values(), key=lambda p: (p.role, p.name))
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
        Table(
            (w("Finalité", "Purpose"), "Description", w("Base légale", "Legal basis")),
            tuple(
                (purpose_label(p, w), purpose_text(config, p, w), legal_basis_text(config, p, w))
                for p in purposes_in_use(config)
            ),
        ),
        Heading(2, w("Services concernés", "Services concerned")),
        Table(
            (
                "Service",
                w("Appels enregistrés", "Calls recorded"),
                w("Campagne", "Campaign"),
                w("Plages", "Hours"),
            ),
            tuple(
                (f"{s.label} ({n})", sampling_text(s, w), campaign_text(s, w), windows_text(s, w))
                for n, s in config.services.items()
            ),
        ),
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
        Table(
            (w("Nom", "Name"), w("Rôle", "Role"), "Services"),
            tuple((p.name, role_label(p.role, w), scope_text(p, config, w)) for p in persons)
            or ((w("aucune personne habilitée", "no authorised person"), "", ""),),
        ),
    ]
    if legal.recipients:
        blocks.append(Bullets(legal.recipients))
    if legal.transfers:
        blocks.append(
            Table(
                ("Destination", w("Garanties appropriées", "Appropriate safeguards")),
                tuple((t.destination, t.safeguards) for t in legal.transfers),
            )
        )
    elif legal.transfers is None:
        blocks.append(Para(w("Transferts : non renseigné.", "Transfers: not stated.")))
    else:
        blocks.append(
            Para(w("Aucun transfert hors de l'Union européenne.", "No transfer outside the EU."))
        )
    blocks += [
        Heading(2, w("Durées de conservation", "Retention")),
        Table(
            (w("Catégorie", "Category"), w("Durée maximale", "Maximum period")),
            tuple(retention_rows(config, w)),
        ),
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
