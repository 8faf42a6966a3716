"""The caller's full notice (C3) and the agent information notice (A6), generated from the
config (D1). Content in French, the language of the callers and agents they address."""

from __future__ import annotations

from controller.config.model import Agent, Config
from controller.documents.common import (
    PURPOSE_LABELS,
    ROLE_LABELS,
    campaign_text,
    days,
    dpo_text,
    purpose_text,
    purposes_in_use,
    sampling_text,
    scope_text,
    windows_text,
)
from controller.documents.render import Block, Bullets, Document, Fields, Heading, Para, Table


def _controller(config: Config) -> Block:
    org = config.organisation
    items = [("Responsable du traitement", org.name)]
    if org.address:
        items.append(("Adresse", org.address))
    items.append(("Délégué à la protection des données (DPO)", dpo_text(config)))
    return Fields(tuple(items))


def _purposes(config: Config, purposes: list[str]) -> Table:
    return Table(
        ("Finalité", "Base légale"),
        tuple(
            (
                purpose_text(config, p),
                config.legal.purposes[p].legal_basis
                if p in config.legal.purposes
                else "non renseignée",
            )
            for p in purposes
        ),
    )


def _transfers(config: Config) -> Para:
    transfers = config.legal.transfers
    if transfers:
        return Para(
            "Transferts hors de l'Union européenne : "
            + "; ".join(f"{t.destination} ({t.safeguards})" for t in transfers)
            + "."
        )
    return Para("Les données ne sont pas transférées hors de l'Union européenne.")


def build_caller_notice(config: Config) -> Document:
    org = config.organisation
    blocks: list[Block] = [
        Para(
            "Nous vous informons que votre appel est susceptible d'être enregistré. Cette "
            "notice explique pourquoi, comment vous y opposer et quels sont vos droits."
        ),
        Heading(1, "Qui est responsable"),
        _controller(config),
        Heading(1, "Pourquoi certains appels sont enregistrés"),
        _purposes(config, purposes_in_use(config)),
        Table(
            ("Service", "Appels enregistrés", "Conservation des enregistrements"),
            tuple(
                (s.label, sampling_text(s), f"au plus {days(s.retention_days)}")
                for s in config.services.values()
            ),
        ),
        Para(
            "Un téléconseiller peut aussi déclencher l'enregistrement d'un appel en vue d'une "
            "médiation, sauf si vous vous y êtes opposé."
        ),
        Heading(1, "Vous pouvez vous opposer à l'enregistrement"),
    ]
    keys = []
    for service in config.services.values():
        keys.append(
            f"{service.label} : touche {service.caller_keys.opt_out} pendant l'annonce ou à tout "
            f"moment de l'appel pour vous opposer ; touche {service.caller_keys.full_notice} "
            "pour entendre cette notice."
        )
    blocks.append(Bullets(tuple(keys)))
    outbound = [s for s in config.services.values() if s.outbound is not None]
    if outbound:
        # C6: the person called is informed and may object exactly as a caller.
        blocks.append(
            Para(
                "Si nous vous appelons ("
                + ", ".join(s.label for s in outbound)
                + "), vous êtes informé de la même façon au décroché, par l'annonce ou par "
                "le téléconseiller, avant tout enregistrement, et vous pouvez vous opposer "
                "avec les mêmes touches. Votre opposition vaut aussi pour les appels que "
                "nous vous passons ensuite."
            )
        )
    blocks += [
        Para(
            "Après une opposition, rien de l'appel n'est conservé et un enregistrement en cours "
            "est effacé. Votre opposition est mémorisée pendant "
            f"{days(config.privacy.objection_memory_days)} pour les appels suivants depuis le "
            "même numéro. Votre numéro n'est jamais conservé en clair : nous ne gardons qu'une "
            "empreinte chiffrée (HMAC)."
        ),
        Heading(1, "Qui peut écouter les enregistrements"),
        Para(
            "Seules des personnes habilitées, désignées nommément (superviseurs, équipe "
            "qualité, délégué à la protection des données), pour la finalité qu'elles indiquent "
            "à chaque accès. Chaque accès est tracé dans un journal protégé contre la "
            "modification."
        ),
    ]
    if config.legal.recipients:
        blocks.append(Bullets(config.legal.recipients))
    blocks += [
        _transfers(config),
        Heading(1, "Durées de conservation"),
        Bullets(
            (
                *(
                    f"Enregistrements, {s.label} : au plus {days(s.retention_days)}."
                    for s in config.services.values()
                ),
                "Fiches de synthèse établies à partir d'un enregistrement : au plus "
                f"{days(config.sheets.retention_days)}.",
                "Données de l'appel (date, heure, service, décision d'enregistrement, touches "
                "d'opposition ou de notice, empreinte du numéro) : "
                f"{days(config.privacy.call_metadata_days)}.",
                "Votre opposition : "
                f"{days(config.privacy.objection_memory_days)} après votre dernier appel "
                "où vous l'avez exprimée.",
                f"Journal des accès : {days(config.audit.retention_days)}.",
            )
        ),
        Heading(1, "Vos droits"),
        Para(
            "Vous disposez d'un droit d'accès, de rectification, d'effacement, de limitation du "
            "traitement et d'opposition (articles 15 à 18 et 21 du RGPD). Pour les exercer, "
            f"écrivez au délégué à la protection des données : {dpo_text(config)}. Indiquez le "
            "numéro depuis lequel vous avez appelé et la date approximative de l'appel."
        ),
        Heading(1, "Réclamation"),
        Para(
            "Vous pouvez introduire une réclamation auprès de la Commission nationale de "
            f"l'informatique et des libertés (CNIL) : {org.complaint_authority}."
        ),
    ]
    if config.legal.notice_url:
        blocks.append(
            Para(f"Cette notice est aussi publiée à l'adresse {config.legal.notice_url}.")
        )
    return Document(
        title=f"Enregistrement des appels : information des appelants, {org.name}",
        lang="fr",
        blocks=tuple(blocks),
    )


def _agent_periods(agent: Agent, with_reason: bool) -> str:
    if agent.protected:
        if with_reason and agent.protection_reason:
            return f"jamais enregistré(e) ({agent.protection_reason})"
        return "jamais enregistré(e)"
    return "; ".join(w.describe() for w in agent.windows)


def build_agent_notice(config: Config, agent_id: str | None = None) -> Document:
    """The notice for all agents, or for one (``agent_id``): the single-agent notice also
    states the reason of a protected status, which the shared notice keeps private."""
    org, keys = config.organisation, config.agent_keys
    agents = [config.agents[agent_id]] if agent_id else list(config.agents.values())
    blocks: list[Block] = [
        Heading(1, "Existence du dispositif et finalités"),
        Para(
            "Les appels des services ci-dessous peuvent être écoutés et enregistrés, "
            "uniquement pendant les périodes publiées dans cette notice et sur un échantillon "
            "d'appels tiré au hasard, sauf dérogation indiquée."
        ),
        _purposes(config, purposes_in_use(config)),
        Table(
            ("Service", "Finalités", "Appels enregistrés", "Campagne", "Plages du service"),
            tuple(
                (
                    s.label,
                    ", ".join(PURPOSE_LABELS.get(p, p) for p in s.purposes),
                    sampling_text(s),
                    campaign_text(s),
                    windows_text(s),
                )
                for s in config.services.values()
            ),
        ),
        Para("Le dispositif n'est jamais couplé à une capture d'écran de votre poste de travail."),
        Heading(1, "Responsable du traitement"),
        _controller(config),
        Heading(1, "Personnes habilitées à accéder aux enregistrements"),
        Table(
            ("Nom", "Rôle", "Services"),
            tuple(
                (p.name, ROLE_LABELS.get(p.role, p.role), scope_text(p, config))
                for p in sorted(config.access.persons.values(), key=lambda p: (p.role, p.name))
            )
            or (("aucune personne habilitée", "", ""),),
        ),
        Para(
            "Chaque écoute, téléchargement, export, suppression et chaque lecture ou "
            "modification d'une fiche est tracé : qui, quoi, quand, pour quelle finalité et "
            "avec quel résultat."
        ),
        Heading(1, "Périodes d'enregistrement"),
        Para(
            "En dehors de ces périodes, et des plages du service appelé, vos appels ne sont "
            f"jamais enregistrés. Horaires en heure locale ({config.timezone.key}) ; jours : "
            "mon = lundi … sun = dimanche."
        ),
        Table(
            ("Téléconseiller", "Périodes d'enregistrement"),
            tuple((a.name, _agent_periods(a, agent_id is not None)) for a in agents),
        ),
        Para(
            "Les représentants du personnel, et les téléconseillers qui s'y sont opposés pour "
            "un motif légitime, ne sont jamais enregistrés."
        ),
        Heading(1, "Appels privés"),
        Bullets(
            (
                f"Pendant un appel, tapez {keys.private} : l'appel devient privé. Il n'est pas "
                "enregistré et tout enregistrement commencé est effacé. Seul un compteur "
                "d'appels privés est conservé.",
                f"Pour un appel sortant privé, composez {config.private_calls.dial_prefix} "
                "avant le numéro.",
            )
        ),
        *_outbound_section(config),
        Heading(1, "Vos touches pendant un appel"),
        Table(
            ("Touches", "Effet"),
            (
                (
                    keys.start,
                    "enregistrer l'appel en vue d'une médiation (refusé si l'appelant s'y est "
                    "opposé)",
                ),
                (keys.pause, "mettre l'enregistrement en pause"),
                (keys.resume, "reprendre l'enregistrement"),
                (keys.private, "déclarer l'appel privé"),
                (keys.card, "pause pendant que l'appelant dicte sa carte bancaire"),
                *(
                    ((keys.notice_given, "appel sortant : j'ai informé la personne appelée"),)
                    if _agent_notice_services(config)
                    else ()
                ),
                *(
                    (
                        (
                            keys.payment,
                            "transférer l'appelant vers le serveur vocal de paiement sécurisé "
                            "(vous entendez une musique d'attente ; l'appelant revient ensuite "
                            "vers vous)",
                        ),
                    )
                    if config.payment is not None
                    else ()
                ),
            ),
        ),
        Para(
            "Une pause qui dure plus longtemps que le maximum prévu par le service reprend "
            "d'elle-même ; la reprise est notée dans le journal. Les données bancaires ne sont "
            "jamais enregistrées : mettez l'enregistrement en pause avant qu'un appelant ne "
            "dicte sa carte, ou transférez-le vers le serveur vocal de paiement."
        ),
        Heading(1, "Fiches de synthèse"),
        Para(
            "Une fiche d'évaluation peut être établie à partir d'un enregistrement. Elle "
            "indique l'employé, l'évaluateur, la date, l'heure et la durée de l'appel, une "
            "note et un commentaire par critère ("
            + ", ".join(f"{c.label} sur {c.max_score}" for c in config.sheets.criteria)
            + f") et un texte libre. Elle est conservée au plus "
            f"{days(config.sheets.retention_days)}, même après l'effacement de "
            "l'enregistrement."
        ),
        Heading(1, "Durées de conservation"),
        Bullets(
            (
                *(
                    f"Enregistrements, {s.label} : au plus {days(s.retention_days)}."
                    for s in config.services.values()
                ),
                f"Fiches de synthèse : au plus {days(config.sheets.retention_days)}.",
                f"Journal des accès : {days(config.audit.retention_days)}.",
                "Nombre de vos appels privés par jour (rien d'autre n'en est gardé) : "
                f"{days(config.privacy.call_metadata_days)}.",
            )
        ),
        Heading(1, "Vos droits"),
        Bullets(
            (
                "Droit d'opposition pour motif légitime : vous ne serez alors plus jamais "
                "enregistré(e).",
                "Droit d'accès aux enregistrements et aux fiches qui vous concernent.",
                "Droit de rectification, notamment des fiches de synthèse.",
                f"Pour les exercer : le délégué à la protection des données, {dpo_text(config)}.",
                f"Réclamation auprès de la CNIL : {org.complaint_authority}.",
            )
        ),
    ]
    informed = config.legal.staff_representatives_informed
    if informed:
        blocks.append(
            Para(
                "Les instances représentatives du personnel ont été informées du dispositif "
                f"le {informed:%d/%m/%Y}, avant sa mise en service : aucun appel n'est "
                "enregistré avant cette date."
            )
        )
    title = "Information des téléconseillers sur l'écoute et l'enregistrement des appels"
    if agent_id:
        title += f" : {config.agents[agent_id].name}"
    return Document(title=f"{title}, {org.name}", lang="fr", blocks=tuple(blocks))


def _agent_notice_services(config: Config) -> list[str]:
    return [
        s.label
        for s in config.services.values()
        if s.outbound is not None and s.announcement.by == "agent"
    ]


def _outbound_section(config: Config) -> list[Block]:
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
        bullets.append(
            "Services "
            + ", ".join(announced)
            + " : au décroché, la personne appelée entend l'annonce d'enregistrement et "
            "peut s'y opposer au clavier ; vous entendez un bip toutes les deux secondes, "
            "puis vous êtes mis en relation. Rien n'est enregistré avant la fin de l'annonce."
        )
    if by_agent:
        bullets.append(
            "Services "
            + ", ".join(by_agent)
            + " : c'est à vous d'informer la personne appelée (enregistrement possible, "
            "finalités, droit de s'y opposer et touche pour le faire), puis de taper "
            f"{config.agent_keys.notice_given}. Rien n'est enregistré avant cette touche, "
            "qui est conservée avec l'appel."
        )
    bullets.append(
        "Numéro occupé, sans réponse, refusé ou inexistant : votre appel se termine et le "
        "motif est noté."
    )
    return [Heading(1, "Appels sortants"), Bullets(tuple(bullets))]
