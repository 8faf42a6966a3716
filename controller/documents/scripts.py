"""The words to record for a service's announcement (C1) and full notice (C3), written
from the config, in the service's language (French or English).

The announcement says the call may be recorded, why, and which key objects; the full
notice, what the caller hears on its key, says who is responsible, why, how long, who
listens, the caller's rights and where to complain. The voice recorded from these words
becomes the sounds the config names, so what callers hear is what the config does.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.config.model import Config
from controller.documents.common import (
    LANGUAGES,
    Words,
    days,
    legal_basis_text,
    purpose_label,
    sampling_text,
)


class ScriptLanguageError(Exception):
    """The service speaks a language the scripts are not written in."""

    error_id = "script-language-unknown"


@dataclass(frozen=True)
class Script:
    service: str
    lang: str
    announcement_sound: str
    announcement_version: str
    announcement: str
    notice_sound: str
    notice: str

    def text(self) -> str:
        """Both scripts as plain text, each under the sound it is recorded into."""
        w = Words(self.lang)
        return (
            w(
                f"# Annonce : service {self.service}, son {self.announcement_sound}, "
                f"version {self.announcement_version}",
                f"# Announcement: service {self.service}, sound {self.announcement_sound}, "
                f"version {self.announcement_version}",
            )
            + "\n\n"
            + self.announcement
            + "\n\n"
            + w(
                f"# Notice complète : service {self.service}, son {self.notice_sound}",
                f"# Full notice: service {self.service}, sound {self.notice_sound}",
            )
            + "\n\n"
            + self.notice
            + "\n"
        )


def spoken_key(key: str, w: Words) -> str:
    """A key as said aloud: 9, star, hash."""
    words = {"*": w("étoile", "star"), "#": w("dièse", "hash")}
    return " ".join(words.get(c, c) for c in key)


def script_language(config: Config, service: str, language: str | None) -> str:
    """The language to write in: ``language`` if given, else the service's own."""
    lang = language or config.services[service].language
    if lang not in LANGUAGES:
        raise ScriptLanguageError(
            f"services.{service}.language: {lang!r}: the scripts are written in "
            f"{' or '.join(LANGUAGES)}; give --language"
        )
    return lang


def build_script(config: Config, service_name: str, lang: str) -> Script:
    w = Words(lang)
    org = config.organisation
    service = config.services[service_name]
    opt_out = spoken_key(service.caller_keys.opt_out, w)
    notice_key = spoken_key(service.caller_keys.full_notice, w)
    # The built-in purpose labels, not the site's descriptions: those are written in one
    # language, and a script must be said in one language throughout.
    listed = w(", et ", ", and ").join(purpose_label(p, w) for p in service.purposes)
    announcement = w(
        f"Bienvenue chez {org.name}. Votre appel est susceptible d'être enregistré, pour "
        f"les finalités suivantes : {listed}. Si vous ne souhaitez pas être enregistré, "
        f"tapez {opt_out}, maintenant ou à tout moment de l'appel. Pour connaître le détail "
        f"de ce traitement et vos droits, tapez {notice_key}.",
        f"Welcome to {org.name}. Your call may be recorded, for the following purposes: "
        f"{listed}. If you do not wish to be recorded, press {opt_out}, now or at any time "
        f"during the call. To hear the details of this processing and your rights, press "
        f"{notice_key}.",
    )
    bases = " ".join(
        w(
            f"{purpose_label(p, w).capitalize()} : {legal_basis_text(config, p, w)}.",
            f"{purpose_label(p, w).capitalize()}: {legal_basis_text(config, p, w)}.",
        )
        for p in service.purposes
    )
    kept = days(service.retention_days, w)
    memory = days(config.privacy.objection_memory_days, w)
    sentences = [
        w(
            f"Le responsable de l'enregistrement des appels est {org.name}.",
            f"The controller of call recording is {org.name}.",
        ),
        w(f"Finalités et bases légales. {bases}", f"Purposes and legal bases. {bases}"),
        w(
            f"Nous enregistrons {sampling_text(service, w)}. Un enregistrement est conservé "
            f"au plus {kept}, puis effacé.",
            f"We record {sampling_text(service, w)}. A recording is kept at most {kept}, then "
            "erased.",
        ),
        w(
            "Seules des personnes habilitées, désignées nommément, écoutent les "
            "enregistrements, et chaque écoute est tracée.",
            "Only authorised persons, named one by one, listen to the recordings, and every "
            "listening is traced.",
        ),
        w(
            f"Vous pouvez vous opposer à l'enregistrement en tapant {opt_out} à tout moment. "
            f"Rien de l'appel n'est alors conservé, et votre choix vaut {memory} pour vos "
            "appels suivants depuis le même numéro.",
            f"You may object to recording by pressing {opt_out} at any time. Nothing of the "
            f"call is then kept, and your choice holds for {memory} for your later calls from "
            "the same number.",
        ),
        w(
            "Vous avez un droit d'accès, de rectification, d'effacement et de limitation. "
            f"Pour l'exercer, écrivez au délégué à la protection des données : {org.dpo_name}, "
            f"{org.dpo_email}.",
            "You have the rights of access, rectification, erasure and restriction. To "
            f"exercise them, write to the data protection officer: {org.dpo_name}, "
            f"{org.dpo_email}.",
        ),
        w(
            "Vous pouvez aussi adresser une réclamation à la CNIL : "
            f"{org.complaint_authority}.",
            "You may also lodge a complaint with the CNIL, the French data protection "
            f"authority: {org.complaint_authority}.",
        ),
    ]
    if config.legal.notice_url:
        sentences.append(
            w(
                f"Cette information est publiée à l'adresse {config.legal.notice_url}.",
                f"This information is published at {config.legal.notice_url}.",
            )
        )
    sentences.append(
        w("Vous allez être mis en relation.", "You will now be put through.")
    )
    return Script(
        service=service_name,
        lang=lang,
        announcement_sound=service.announcement.sound,
        announcement_version=service.announcement.version,
        announcement=announcement,
        notice_sound=service.full_notice_sound,
        notice="\n".join(sentences),
    )
