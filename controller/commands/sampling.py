"""``reccontrol sampling-audit`` (P3): the configured sampling rate against the rate
achieved, per service."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli_support import config_option, load_or_exit, open_store
from controller.config import Config


def sampling_report(config: Config) -> list[str]:
    """The table, one line per service, from the store the config names."""
    store = open_store(config)
    try:
        rows = store.sampling_audit()
    finally:
        store.close()
    lines = [
        f"{'service':<16} {'configured':>10} {'achieved':>9} {'draws':>6} {'sampled':>8} "
        f"{'calls':>6}"
    ]
    for row in rows:
        lines.append(
            f"{row.service:<16} {row.configured_rate:>10.3f} {row.achieved_rate:>9.3f} "
            f"{row.draws:>6} {row.sampled:>8} {row.calls:>6}"
        )
    for name, service in config.services.items():
        if not any(r.service == name for r in rows):
            lines.append(f"{name:<16} {service.sampling_rate:>10.3f} {'-':>9} {0:>6} {0:>8} {0:>6}")
    return lines


@click.command("sampling-audit")
@config_option
def sampling_audit(config_path: Path) -> None:
    """Show, per service, the configured sampling rate against the rate achieved (P3).

    'draws' counts the calls that could be recorded, so a random draw was made;
    'achieved' is sampled / draws; 'calls' counts every call that reached a decision."""
    for line in sampling_report(load_or_exit(config_path)):
        click.echo(line)
