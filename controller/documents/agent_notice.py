"""The agent information notice (A6), generated from the config (D1), in French or English
(``lang``): for all agents, or for one, their recording periods, the keys they press
during a call, the calls they place, the sheets drawn up about them and their rights."""

from __future__ import annotations

from controller.config.model import Agent, Config
from controller.documents.common import (
    DEFAULT_LANGUAGE,
    Words,
    campaign_text,
    days,
    dpo_text,
    purpose_label,
    sampling_text,
    windows_text,
)
from controller.documents.processing import (
    authorised_persons_table,
    controller_fields,
    legal_bases_table,
)
from controller.documents.render import Block, Bullets, Document, Heading, Para, Table


def _agent_periods(agent: Agent, with_reason: bool, w: Words) -> str:
    if agent.protected:
        never = w("jamais enregistré(e)", "never recorded")
        if with_reason and agent.protection_reason:
            return f"{never} ({agent.protection_reason})"
        return never
    return "; ".join(window.describe() for window in agent.windows)


def build_agent_notice(
    config: Config, agent_id: str | None = None, lang: str = DEFAULT_LANGUAGE
) -> Document:
    """The notice for all agents, or for one (``agent_id``): the single-agent notice also
    states the reason of a protected status, which the shared notice keeps private."""
    w = Words(lang)
    org, keys = config.organisation, config.agent_keys
    agents = [config.agents[agent_id]] if agent_id else list(config.agents.values())
    blocks: list[Block] = [
        Heading(1, w("Existence du dispositif et finalités", "The system and its purposes")),
        Para(
            w(
                "Les appels des services ci-dessous peuvent être écoutés et enregistrés, "
                "uniquement pendant les périodes publiées dans cette notice et sur un "
                "échantillon d'appels tiré au hasard, sauf dérogation indiquée.",
                "Calls of the services below may be listened to and recorded, only during the "
                "periods published in this notice and on a sample of calls drawn at random, "
                "unless an exemption is stated.",
            )
        ),
        legal_bases_table(config, w),
        Table(
            (
                "Service",
                w("Finalités", "Purposes"),
                w("Appels enregistrés", "Calls recorded"),
                w("Campagne", "Campaign"),
                w("Plages du service", "Service hours"),
            ),
            tuple(
                (
                    s.label,
                    ", ".join(purpose_label(p, w) for p in s.purposes),
                    sampling_text(s, w),
                    campaign_text(s, w),
                    windows_text(s, w),
                )
                for s in config.services.values()
            ),
        ),
        Para(
            w(
                "Le dispositif n'est jamais couplé à une capture d'écran de votre poste de "
                "travail.",
                "The system is never coupled with a capture of your workstation's screen.",
            )
        ),
        Heading(1, w("Responsable du traitement", "Data controller")),
        controller_fields(config, w),
        Heading(
            1,
            w(
                "Personnes habilitées à accéder aux enregistrements",
                "Persons authorised to access the recordings",
            ),
        ),
        authorised_persons_table(config, w),
        Para(
            w(
                "Chaque écoute, téléchargement, export, suppression et chaque lecture ou "
                "modification d'une fiche est tracé : qui, quoi, quand, pour quelle finalité "
                "et avec quel résultat.",
                "Every listening, download, export and deletion, and every reading or change "
                "of a sheet, is traced: who, what, when, for which purpose and with which "
                "result.",
            )
        ),
        Heading(1, w("Périodes d'enregistrement", "Recording periods")),
        Para(
            w(
                "En dehors de ces périodes, et des plages du service appelé, vos appels ne "
                "sont jamais enregistrés. Horaires en heure locale "
                f"({config.timezone.key}) ; jours : mon = lundi … sun = dimanche.",
                "Outside these periods, and outside the hours of the service called, your "
                f"calls are never recorded. Local time ({config.timezone.key}); days: mon = "
                "Monday … sun = Sunday.",
            )
        ),
        Table(
            (w("Téléconseiller", "Agent"), w("Périodes d'enregistrement", "Recording periods")),
            tuple((a.name, _agent_periods(a, agent_id is not None, w)) for a in agents),
        ),
        Para(
            w(
                "Les représentants du personnel, et les téléconseillers qui s'y sont opposés "
                "pour un motif légitime, ne sont jamais enregistrés.",
                "Staff representatives, and agents who objected on legitimate grounds, are "
                "never recorded.",
            )
        ),
        Heading(1, w("Appels privés", "Private calls")),
        Bullets(
            (
                w(
                    f"Pendant un appel, tapez {keys.private} : l'appel devient privé. Il n'est "
                    "pas enregistré et tout enregistrement commencé est effacé. Seul un "
                    "compteur d'appels privés est conservé.",
                    f"During a call, key {keys.private}: the call becomes private. It is not "
                    "recorded and any recording started is erased. Only a count of private "
                    "calls is kept.",
                ),
                w(
                    f"Pour un appel sortant privé, composez {config.private_calls.dial_prefix} "
                    "avant le numéro.",
                    f"For a private outgoing call, dial {config.private_calls.dial_prefix} "
                    "before the number.",
                ),
            )
        ),
        *_outbound_section(config, w),
        Heading(1, w("Vos touches pendant un appel", "Your keys during a call")),
        Table(
            (w("Touches", "Keys"), w("Effet", "Effect")),
            (
                (
                    keys.start,
                    w(
                        "enregistrer l'appel en vue d'une médiation (refusé si l'appelant s'y "
                        "est opposé)",
                        "record the call for a mediation (refused if the caller objected)",
                    ),
                ),
                (keys.pause, w("mettre l'enregistrement en pause", "pause the recording")),
                (keys.resume, w("reprendre l'enregistrement", "resume the recording")),
                (keys.private, w("déclarer l'appel privé", "make the call private")),
                (
                    keys.card,
                    w(
                        "pause pendant que l'appelant dicte sa carte bancaire",
                        "pause while the caller reads out a payment card",
                    ),
                ),
                *(
                    (
                        (
                            keys.notice_given,
                            w(
                                "appel sortant : j'ai informé la personne appelée",
                                "outgoing call: I have informed the person called",
                            ),
                        ),
                    )
                    if _agent_notice_services(config)
                    else ()
                ),
                *(
                    (
                        (
                            keys.payment,
                            w(
                                "transférer l'appelant vers le serveur vocal de paiement "
                                "sécurisé (vous entendez une musique d'attente ; l'appelant "
                                "revient ensuite vers vous)",
                                "send the caller to the secure payment voice server (you hear "
                                "music on hold; the caller then comes back to you)",
                            ),
                        ),
                    )
                    if config.payment is not None
                    else ()
                ),
            ),
        ),
        Para(
            w(
                "Une pause qui dure plus longtemps que le maximum prévu par le service reprend "
                "d'elle-même ; la reprise est notée dans le journal. Les données bancaires ne "
                "sont jamais enregistrées : mettez l'enregistrement en pause avant qu'un "
                "appelant ne dicte sa carte, ou transférez-le vers le serveur vocal de "
                "paiement.",
                "A pause longer than the service's maximum resumes by itself; the resumption "
                "is logged. Card data are never recorded: pause the recording before a caller "
                "reads out a card, or send the caller to the payment voice server.",
            )
        ),
        Para(_hold_text(config, w)),
        Heading(1, w("Fiches de synthèse", "Summary sheets")),
        Para(_sheets_text(config, w)),
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
                    f"Fiches de synthèse : au plus {days(config.sheets.retention_days, w)}.",
                    f"Summary sheets: at most {days(config.sheets.retention_days, w)}.",
                ),
                w(
                    f"Journal des accès : {days(config.audit.retention_days, w)}.",
                    f"Access log: {days(config.audit.retention_days, w)}.",
                ),
                w(
                    "Nombre de vos appels privés par jour (rien d'autre n'en est gardé) : "
                    f"{days(config.privacy.call_metadata_days, w)}.",
                    "The number of your private calls per day (nothing else of them is kept): "
                    f"{days(config.privacy.call_metadata_days, w)}.",
                ),
            )
        ),
        Heading(1, w("Vos droits", "Your rights")),
        Bullets(
            (
                w(
                    "Droit d'opposition pour motif légitime : vous ne serez alors plus jamais "
                    "enregistré(e).",
                    "Right to object on legitimate grounds: you will then never be recorded.",
                ),
                w(
                    "Droit d'accès aux enregistrements et aux fiches qui vous concernent.",
                    "Right of access to the recordings and sheets about you.",
                ),
                w(
                    "Droit de rectification, notamment des fiches de synthèse.",
                    "Right to rectification, of summary sheets in particular.",
                ),
                w(
                    "Pour les exercer : le délégué à la protection des données, "
                    f"{dpo_text(config)}.",
                    f"To exercise them: the data protection officer, {dpo_text(config)}.",
                ),
                w(
                    f"Réclamation auprès de la CNIL : {org.complaint_authority}.",
                    f"Complaints to the CNIL: {org.complaint_authority}.",
                ),
            )
        ),
    ]
    informed = config.legal.staff_representatives_informed
    if informed:
        blocks.append(
            Para(
                w(
                    "Les instances représentatives du personnel ont été informées du "
                    f"dispositif le {w.date(informed)}, avant sa mise en service : aucun appel "
                    "n'est enregistré avant cette date.",
                    "The staff representative bodies were informed of the system on "
                    f"{w.date(informed)}, before it came into service: no call is recorded "
                    "before that date.",
                )
            )
        )
    title = w(
        "Information des téléconseillers sur l'écoute et l'enregistrement des appels",
        "Information for agents on the listening to and recording of calls",
    )
    if agent_id:
        title += w(" : ", ": ") + config.agents[agent_id].name
    return Document(title=f"{title}, {org.name}", lang=w.lang, blocks=tuple(blocks))


def _sheets_text(config: Config, w: Words) -> str:
    kept = days(config.sheets.retention_days, w)
    criteria = ", ".join(
        w(f"{c.label} sur {c.max_score}", f"{c.label} out of {c.max_score}")
        for c in config.sheets.criteria
    )
    return w(
        "Une fiche d'évaluation peut être établie à partir d'un enregistrement. Elle "
        "indique l'employé, l'évaluateur, la date, l'heure et la durée de l'appel, une "
        f"note et un commentaire par critère ({criteria}) et un texte libre. Elle est "
        f"conservée au plus {kept}, même après l'effacement de l'enregistrement.",
        "An assessment sheet may be drawn up from a recording. It states the employee, the "
        "assessor, the date, time and length of the call, a score and a comment per "
        f"criterion ({criteria}) and free text. It is kept at most {kept}, even after the "
        "recording is erased.",
    )


def _hold_text(config: Config, w: Words) -> str:
    """A9: what the phone's hold key does to the recording, service by service."""
    paused = ", ".join(s.label for s in config.services.values() if s.hold == "pause")
    kept = ", ".join(s.label for s in config.services.values() if s.hold == "record")
    text = w(
        "Quand vous mettez un appel en attente avec la touche d'attente de votre téléphone, "
        "l'appelant entend une musique d'attente, qui n'est jamais enregistrée.",
        "When you put a call on hold with your phone's hold key, the caller hears music "
        "on hold, which is never recorded.",
    )
    if paused:
        text += w(
            f" {paused} : l'enregistrement est mis en pause jusqu'à ce que vous repreniez "
            "l'appel, et seule la reprise de l'appel le relance.",
            f" {paused}: the recording pauses until you take the call back, and only "
            "taking the call back resumes it.",
        )
    if kept:
        text += w(
            f" {kept} : l'enregistrement continue pendant l'attente.",
            f" {kept}: the recording goes on during the hold.",
        )
    return text


def _agent_notice_services(config: Config) -> list[str]:
    return [
        s.label
        for s in config.services.values()
        if s.outbound is not None and s.announcement.by == "agent"
    ]


def _outbound_section(config: Config, w: Words) -> list[Block]:
    """C6: what agents must know about the calls they place."""
    announced = [
        s.label
        for s in config.services.values()
        if s.outbound is not None and s.announcement.by == "system"
    ]
    by_agent = _agent_notice_services(config)
    if not announced and not by_agent:
        return []
    bullets: list[str] = []
    if announced:
        labels = ", ".join(announced)
        bullets.append(
            w(
                f"Services {labels} : au décroché, la personne appelée entend l'annonce "
                "d'enregistrement et peut s'y opposer au clavier ; vous entendez un bip toutes "
                "les deux secondes, puis vous êtes mis en relation. Rien n'est enregistré "
                "avant la fin de l'annonce.",
                f"Services {labels}: on answering, the person called hears the recording "
                "announcement and may object with a key; you hear a beep every two seconds, "
                "then you are connected. Nothing is recorded before the announcement ends.",
            )
        )
    if by_agent:
        labels = ", ".join(by_agent)
        given = config.agent_keys.notice_given
        bullets.append(
            w(
                f"Services {labels} : c'est à vous d'informer la personne appelée "
                "(enregistrement possible, finalités, droit de s'y opposer et touche pour le "
                f"faire), puis de taper {given}. Rien n'est enregistré avant cette touche, qui "
                "est conservée avec l'appel.",
                f"Services {labels}: you inform the person called (possible recording, "
                "purposes, the right to object and the key to do so), then key "
                f"{given}. Nothing is recorded before that key, which is kept with the call.",
            )
        )
    bullets.append(
        w(
            "Numéro occupé, sans réponse, refusé ou inexistant : votre appel se termine et le "
            "motif est noté.",
            "Number busy, no answer, refused or not in service: your call ends and the reason "
            "is noted.",
        )
    )
    return [Heading(1, w("Appels sortants", "Outgoing calls")), Bullets(tuple(bullets))]
