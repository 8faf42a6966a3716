"""The risks to the people concerned that the impact assessment weighs (D2), each with the
requirements that answer it and what is left of it under the config: an access log
without its key, no witness of its head, a service recording every call, a transfer
abroad each raise one."""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.model import Config


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
