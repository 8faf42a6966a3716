"""``reccontrol notice``, ``reccontrol register`` and ``reccontrol dpia``: documents
generated from the config (D1, D2, A6, C3), in French or English. A document never reads a
secret, so a DPO can produce them anywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli_support import EXIT_CONFIG, config_option, fail, load_or_exit
from controller.config import Config

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html"]),
    default="md",
    show_default=True,
    help="Markdown or a standalone HTML page.",
)
output_option = click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
language_option = click.option(
    "--language",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="The document's language (default: documents.language in the config, else fr).",
)
EXIT_HELP = (
    "Exit status: 0 written; 2 the config is invalid or lacks what the document must "
    "state (each missing key path is printed)."
)


def _check(config: Config, *, register: bool) -> None:
    from controller.documents import document_problems

    problems = document_problems(config, register=register)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_CONFIG)


def language_of(config: Config, language: str | None) -> str:
    return language or config.documents.language


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


@click.group()
def notice() -> None:
    """Information notices generated from the config: for callers (C3) and for agents
    (A6)."""


@notice.command(
    "callers",
    help="The caller's full notice: controller, purposes and legal bases, retention, the "
    "right to object and how, other rights, DPO contact, the right to complain to the "
    "CNIL.\n\n" + EXIT_HELP,
)
@config_option
@format_option
@output_option
@language_option
def notice_callers(config_path: Path, fmt: str, output: Path | None, language: str | None) -> None:
    from controller.documents import build_caller_notice, render

    config = load_or_exit(config_path, secrets=False)
    _check(config, register=False)
    _emit(render(build_caller_notice(config, language_of(config, language)), fmt), output)


@notice.command(
    "agents",
    help="The agent information notice: existence and purposes of recording, the "
    "controller, the authorised persons by name, each agent's recording periods and "
    "protected status, private calls and the agent keys, rights (objection for a "
    "legitimate reason, access, rectification); never coupled with screen capture.\n\n" + EXIT_HELP,
)
@config_option
@format_option
@output_option
@click.option(
    "--agent",
    "agent_id",
    help="Only this agent (an id under agents): a personal notice, which also states the "
    "reason of a protected status.",
)
@language_option
def notice_agents(
    config_path: Path, fmt: str, output: Path | None, agent_id: str | None, language: str | None
) -> None:
    from controller.documents import build_agent_notice, render

    config = load_or_exit(config_path, secrets=False)
    if agent_id is not None and agent_id not in config.agents:
        fail(f"unknown agent {agent_id!r}; the agents are {', '.join(config.agents)}", EXIT_CONFIG)
    _check(config, register=False)
    _emit(
        render(build_agent_notice(config, agent_id, language_of(config, language)), fmt), output
    )


@click.command(
    help="The GDPR Art. 30 register entry for call recording, every field of Art. 30(1) "
    "(a) to (g), exemptions included.\n\n" + EXIT_HELP
)
@config_option
@format_option
@output_option
@language_option
def register(config_path: Path, fmt: str, output: Path | None, language: str | None) -> None:
    from controller.documents import build_register, render

    config = load_or_exit(config_path, secrets=False)
    _check(config, register=True)
    _emit(render(build_register(config, language_of(config, language)), fmt), output)


@click.command(
    help="A draft of the GDPR Art. 35 data protection impact assessment: the processing, "
    "its purposes and legal bases, the data, recipients and retention, necessity and "
    "proportionality, the measures with the requirement IDs that implement them, the risks "
    "and the residual risks under this config, and what the DPO and the controller still "
    "have to complete.\n\n" + EXIT_HELP
)
@config_option
@format_option
@output_option
@language_option
def dpia(config_path: Path, fmt: str, output: Path | None, language: str | None) -> None:
    from controller.documents import build_dpia, render

    config = load_or_exit(config_path, secrets=False)
    _check(config, register=True)
    _emit(render(build_dpia(config, language_of(config, language)), fmt), output)


@click.command(
    "announcement-script",
    help="The words to record for SERVICE's announcement (C1: recording, purposes, the key "
    "that objects, the key for the full notice) and its full notice (C3: controller, "
    "purposes and legal bases, retention, who listens, rights, DPO contact, the right to "
    "complain to the CNIL), in the service's language, each under the sound name the "
    "config plays.\n\n" + EXIT_HELP,
)
@click.argument("service")
@config_option
@output_option
@click.option(
    "--language",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="Write in this language instead of the service's own (services.NAME.language).",
)
def announcement_script(
    service: str, config_path: Path, output: Path | None, language: str | None
) -> None:
    from controller.documents.scripts import ScriptLanguageError, build_script, script_language

    config = load_or_exit(config_path, secrets=False)
    if service not in config.services:
        fail(
            f"unknown service {service!r}; the services are {', '.join(config.services)}",
            EXIT_CONFIG,
        )
    _check(config, register=False)
    try:
        lang = script_language(config, service, language)
    except ScriptLanguageError as exc:
        fail(str(exc), EXIT_CONFIG)
    _emit(build_script(config, service, lang).text(), output)
