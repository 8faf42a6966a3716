"""The ``reccontrol`` command. Every command and option carries help text."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
from pathlib import Path

import click

from controller import __version__
from controller.cli_support import (
    CONTEXT,
    EXIT_CONFIG,
    config_option,
    fail,
    load_or_exit,
    open_store,
)
from controller.commands.access import access, credential_warnings
from controller.commands.agi import agi
from controller.commands.audit import audit
from controller.commands.backup import backup, restore
from controller.commands.documents import announcement_script, dpia, notice, register
from controller.commands.holds import hold
from controller.commands.inspection import inspection_pack
from controller.commands.records import recording, sheet
from controller.commands.retention import purge
from controller.commands.sampling import sampling_audit
from controller.commands.subjects import subject
from controller.commands.vault import vault
from controller.config.warnings import audit_alerts, config_warnings, staff_information

__all__ = ["EXIT_CONFIG", "cli", "fail", "load_or_exit", "main", "open_store"]


# -- the sandbox Asterisk and the demo: from a checkout only ---------------------------
DEV_COMMANDS = {"sandbox": "controller.sandbox.commands", "demo": "controller.demo.commands"}
"""Commands of the packages the wheel leaves out (the test Asterisk builder and the
demo): listed when their package is there, a source checkout, and loaded only when
run, so the daemon's own command line never imports them."""


def _dev_package_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.rsplit(".", 1)[0]) is not None
    except ImportError:
        return False


class _WithDevCommands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [name for name, module in DEV_COMMANDS.items() if _dev_package_present(module)]
        return sorted([*super().list_commands(ctx), *present])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = DEV_COMMANDS.get(cmd_name)
        if module is None or not _dev_package_present(module):
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(module), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_WithDevCommands, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="reccontrol")
def cli() -> None:
    """reccontrol: records contact-centre calls with Asterisk, within the CNIL rules,
    GDPR and PCI DSS."""


@cli.command()
@config_option
def run(config_path: Path) -> None:
    """Run the daemon: the ARI event loop, and the web API. Stops cleanly on SIGTERM.

    At start it applies the store's pending migrations, and refuses a store written by a
    newer reccontrol. Exit status: 2 config error (or sealed recordings
    and no site key that opens them); 4 store newer than this reccontrol
    (the systemd unit does not restart it then); 1 any other failure to start."""
    from controller.commands.startup import upgrade_at_start
    from controller.config.encryption import VaultKeyUnusable
    from controller.daemon import run as run_daemon
    from controller.instance import AlreadyRunning, PortBusy
    from controller.logs import setup_logging
    from controller.web.tls import TlsSetupError

    config = load_or_exit(config_path)
    setup_logging(config.logging.level, fmt=config.logging.format)
    for warning in config_warnings(config):
        logging.getLogger("reccontrol").warning("%s", warning)
    staff, not_yet = staff_information(config, dt.datetime.now(dt.UTC))
    if not_yet:
        logging.getLogger("reccontrol").warning("%s", staff)
    try:
        run_daemon(config, before_start=lambda: upgrade_at_start(config.store))
    except (AlreadyRunning, PortBusy, TlsSetupError) as exc:
        fail(str(exc))
    except VaultKeyUnusable as exc:
        fail(f"{exc} ({exc.error_id})", EXIT_CONFIG)


@cli.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--offline",
    is_flag=True,
    help="Check everything except that the secrets and credentials resolve (their "
    "environment variables and files are not read): for a machine that does not hold them.",
)
def check_config(file: Path, offline: bool) -> None:
    """Validate FILE. Exits 0 when it is valid; otherwise prints one line per problem,
    each naming the YAML key path, and exits 2. Also says from which day calls may be
    recorded (the staff representatives' information, A8), with a warning when that
    day is still to come."""
    config = load_or_exit(file, secrets=not offline)
    click.echo(f"{file}: valid ({len(config.services)} service(s), {len(config.agents)} agent(s))")
    staff, not_yet = staff_information(config, dt.datetime.now(dt.UTC))
    click.echo(f"warning: {staff}" if not_yet else staff, err=not_yet)
    for warning in config_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    for alert in audit_alerts(config):
        click.echo(f"ALERT: {alert}", err=True)
    if offline:
        click.echo("secrets and credentials not checked (--offline)", err=True)
        return
    # A credential that cannot be read locks out one person, not the daemon: a warning.
    for warning in credential_warnings(config):
        click.echo(f"warning: {warning}", err=True)


# -- sampling audit, retention, access log, backups, data subjects, documents ------------
for _command in (
    sampling_audit,
    purge,
    audit,
    backup,
    restore,
    subject,
    recording,
    sheet,
    hold,
    access,
    notice,
    register,
    dpia,
    announcement_script,
    inspection_pack,
    agi,
    vault,
):
    cli.add_command(_command)


def main() -> None:
    cli()
