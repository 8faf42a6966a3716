"""The caller's full notice (C3), generated from the config (D1), in French or English
(``lang``): who records, why, how to object, who listens, how long data are kept, the
caller's rights and where to complain."""

from __future__ import annotations

from controller.config.model import Config
from controller.documents.common import DEFAULT_LANGUAGE, Words, days, dpo_text, sampling_text
from controller.documents.processing import controller_fields, legal_bases_table
from controller.documents.render import Block, Bullets, Document, Heading, Para, Table


def _transfers(config: Config, w: Words) -> Para:
    transfers = config.legal.transfers
    if transfers:
        listed = "; ".join(f"{t.destination} ({t.safeguards})" for t in transfers)
        return Para(
            w(
                f"Transferts hors de l'Union européenne : {listed}.",
                f"Transfers outside the European Union: {listed}.",
            )
        )
    return Para(
        w(
            "Les données ne sont pas transférées hors de l'Union européenne.",
            "The data are not transferred outside the European Union.",
        )
    )


def build_caller_notice(config: Config, lang: str = DEFAULT_LANGUAGE) -> Document:
    w = Words(lang)
    org = config.organisation
    blocks: list[Block] = [
        Para(
            w(
                "Nous vous informons que votre appel est susceptible d'être enregistré. Cette "
                "notice explique pourquoi, comment vous y opposer et quels sont vos droits.",
                "Your call may be recorded. This notice explains why, how to object and what "
                "your rights are.",
            )
        ),
        Heading(1, w("Qui est responsable", "Who is responsible")),
        controller_fields(config, w),
        Heading(1, w("Pourquoi certains appels sont enregistrés", "Why some calls are recorded")),
        legal_bases_table(config, w),
        Table(
            (
                "Service",
                w("Appels enregistrés", "Calls recorded"),
                w("Conservation des enregistrements", "Recordings kept"),
            ),
            tuple(
                (
                    s.label,
                    sampling_text(s, w),
                    w(
                        f"au plus {days(s.retention_days, w)}",
                        f"at most {days(s.retention_days, w)}",
                    ),
                )
                for s in config.services.values()
            ),
        ),
        Para(
            w(
                "Un téléconseiller peut aussi déclencher l'enregistrement d'un appel en vue "
                "d'une médiation, sauf si vous vous y êtes opposé.",
                "An agent may also start recording a call for a mediation, unless you have "
                "objected.",
            )
        ),
        Heading(1, w("Vous pouvez vous opposer à l'enregistrement", "You may object to recording")),
    ]
    keys = []
    for service in config.services.values():
        opt_out, notice = service.caller_keys.opt_out, service.caller_keys.full_notice
        keys.append(
            w(
                f"{service.label} : touche {opt_out} pendant l'annonce ou à tout moment de "
                f"l'appel pour vous opposer ; touche {notice} pour entendre cette notice.",
                f"{service.label}: key {opt_out} during the announcement or at any time of "
                f"the call to object; key {notice} to hear this notice.",
            )
        )
    blocks.append(Bullets(tuple(keys)))
    outbound = [s for s in config.services.values() if s.outbound is not None]
    if outbound:
        # C6: the person called is informed and may object exactly as a caller.
        labels = ", ".join(s.label for s in outbound)
        blocks.append(
            Para(
                w(
                    f"Si nous vous appelons ({labels}), vous êtes informé de la même façon au "
                    "décroché, par l'annonce ou par le téléconseiller, avant tout "
                    "enregistrement, et vous pouvez vous opposer avec les mêmes touches. Votre "
                    "opposition vaut aussi pour les appels que nous vous passons ensuite.",
                    f"If we call you ({labels}), you are informed in the same way when you "
                    "answer, by the announcement or by the agent, before anything is recorded, "
                    "and you may object with the same keys. Your objection also holds for the "
                    "calls we make to you afterwards.",
                )
            )
        )
    memory = days(config.privacy.objection_memory_days, w)
    blocks += [
        Para(
            w(
                "Après une opposition, rien de l'appel n'est conservé et un enregistrement en "
                f"cours est effacé. Votre opposition est mémorisée pendant {memory} pour les "
                "appels suivants depuis le même numéro. Votre numéro n'est jamais conservé en "
                "clair : nous ne gardons qu'une empreinte chiffrée (HMAC).",
                "After an objection nothing of the call is kept and a recording under way is "
                f"erased. Your objection is remembered for {memory} for later calls from the "
                "same number. Your number is never kept in clear: we keep only a keyed "
                "fingerprint of it (HMAC).",
            )
        ),
        Heading(1, w("Qui peut écouter les enregistrements", "Who may listen to the recordings")),
        Para(
            w(
                "Seules des personnes habilitées, désignées nommément (superviseurs, équipe "
                "qualité, délégué à la protection des données), pour la finalité qu'elles "
                "indiquent à chaque accès. Chaque accès est tracé dans un journal protégé "
                "contre la modification.",
                "Only authorised persons, named one by one (supervisors, quality team, data "
                "protection officer), for the purpose they state at each access. Every access "
                "is traced in a log protected against modification.",
            )
        ),
    ]
    if config.legal.recipients:
        blocks.append(Bullets(config.legal.recipients))
    blocks += [
        _transfers(config, w),
        Heading(1, w("Durées de conservation", "How long data are kept")),
        Bullets(
            (
                *(
                    w(
                        f"Enregistrements, {s.label} : au plus {days(s.retention_days, w)}.",
                        f"Recordings, {s.label}: at most {days(s.retention_days, w)}.",
                    )
                    for s in config.services.values()
                ),
                w(
                    "Fiches de synthèse établies à partir d'un enregistrement : au plus "
                    f"{days(config.sheets.retention_days, w)}.",
                    "Summary sheets drawn up from a recording: at most "
                    f"{days(config.sheets.retention_days, w)}.",
                ),
                w(
                    "Données de l'appel (date, heure, service, décision d'enregistrement, "
                    "touches d'opposition ou de notice, empreinte du numéro) : "
                    f"{days(config.privacy.call_metadata_days, w)}.",
                    "Call data (date, time, service, recording decision, objection or notice "
                    "keys, fingerprint of the number): "
                    f"{days(config.privacy.call_metadata_days, w)}.",
                ),
                w(
                    f"Votre opposition : {memory} après votre dernier appel où vous l'avez "
                    "exprimée.",
                    f"Your objection: {memory} after the last call in which you expressed it.",
                ),
                w(
                    f"Journal des accès : {days(config.audit.retention_days, w)}.",
                    f"Access log: {days(config.audit.retention_days, w)}.",
                ),
            )
        ),
        Heading(1, w("Vos droits", "Your rights")),
        Para(
            w(
                "Vous disposez d'un droit d'accès, de rectification, d'effacement, de "
                "limitation du traitement et d'opposition (articles 15 à 18 et 21 du RGPD). "
                "Pour les exercer, écrivez au délégué à la protection des données : "
                f"{dpo_text(config)}. Indiquez le numéro depuis lequel vous avez appelé et la "
                "date approximative de l'appel.",
                "You have the rights of access, rectification, erasure, restriction of "
                "processing and objection (GDPR Articles 15 to 18 and 21). To exercise them, "
                f"write to the data protection officer: {dpo_text(config)}. Give the number "
                "you called from and the approximate date of the call.",
            )
        ),
        Heading(1, w("Réclamation", "Complaints")),
        Para(
            w(
                "Vous pouvez introduire une réclamation auprès de la Commission nationale de "
                f"l'informatique et des libertés (CNIL) : {org.complaint_authority}.",
                "You may lodge a complaint with the French data protection authority "
                f"(Commission nationale de l'informatique et des libertés, CNIL): "
                f"{org.complaint_authority}.",
            )
        ),
    ]
    if config.legal.notice_url:
        blocks.append(
            Para(
                w(
                    f"Cette notice est aussi publiée à l'adresse {config.legal.notice_url}.",
                    f"This notice is also published at {config.legal.notice_url}.",
                )
            )
        )
    return Document(
        title=w(
            f"Enregistrement des appels : information des appelants, {org.name}",
            f"Call recording: information for callers, {org.name}",
        ),
        lang=w.lang,
        blocks=tuple(blocks),
    )
