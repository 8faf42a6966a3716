"""``reccontrol sampling-audit`` (P3): the configured sampling rate against the rate
achieved, per service."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli_support import config_option, load_or_exit, open_store
from controller.config import Config


def sampling_report(config: Config) -> list[str]:
    """The table, one line per service, from the store the config names."""
    from controller.inspection import sampling_table

    store = open_store(config)
    try:
        rows = store.sampling_audit()
    finally:
        store.close()
    return sampling_table(config, rows)


@click.command("sampling-audit")
@config_option
def sampling_audit(config_path: Path) -> None:
    """Show, per service, the configured sampling rate against the rate achieved (P3).

    'draws' counts the calls that could be recorded, so a random draw was made;
    'achieved' is sampled / draws; 'calls' counts every call that reached a decision."""
    for line in sampling_report(load_or_exit(config_path)):
        click.echo(line)
