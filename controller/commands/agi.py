"""``reccontrol agi``: what a dialplan-only site (the FastAGI path) installs in Asterisk."""

from __future__ import annotations

from pathlib import Path

import click

from controller.agi.features import differences, features_conf
from controller.cli_support import EXIT_ATTENTION, fail, load_or_exit
from controller.config.service_model import AgentKeys


@click.group()
def agi() -> None:
    """The FastAGI path of dialplan-only sites (docs/agi.md): the Asterisk files it
    needs, written from the YAML."""


@agi.command("features-conf")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The reccontrol YAML configuration file whose agent_keys the map follows "
    "(secrets are not read). Without it: the default keys, those of the shipped "
    "dialplan/reccontrol-features.conf.",
)
@click.option(
    "--check",
    "installed",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Instead of printing the map, compare it with the installed snippet FILE (e.g. "
    "/etc/asterisk/reccontrol-features.conf): one line per feature it gets wrong (missing, "
    "another sequence than the YAML's, another action).",
)
def features_conf_command(config_path: Path | None, installed: Path | None) -> None:
    """Print reccontrol-features.conf, the agents' keys as Asterisk's feature map
    (start, pause, resume, private and card of agent_keys), to install next to
    features.conf. On this path Asterisk, not reccontrol, recognises the keys: after
    changing agent_keys, write the file again and reload Asterisk's features.

    Exit status: 0 printed, or FILE matches; 1 FILE cannot be read; 2 config error;
    3 FILE does not match (one line per feature on stderr)."""
    keys = load_or_exit(config_path, secrets=False).agent_keys if config_path else AgentKeys()
    if installed is None:
        click.echo(features_conf(keys), nl=False)
        return
    try:
        text = installed.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{installed}: cannot be read ({type(exc).__name__})")
    problems = differences(keys, text)
    for problem in problems:
        click.echo(f"{installed}: {problem}", err=True)
    if problems:
        raise SystemExit(EXIT_ATTENTION)
    click.echo(f"{installed}: matches agent_keys")
