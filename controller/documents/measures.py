"""The security measures reccontrol applies by itself, as the documents state them: the
register lists them under Art. 30(1)(g), the impact assessment gives each with the
requirements that implement it (docs/requirements.md), so an auditor can follow each to
its tests. The access log's measure follows the config: its checkpoints are signed only
with a key."""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.model import Config
from controller.documents.common import Words

# The register's (g): the measures reccontrol applies by itself (Art. 32), as (French,
# English).
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


def access_log_measure(config: Config, w: Words) -> str:
    """Both documents state it: how the access log is protected under this config."""
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
