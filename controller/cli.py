"""The ``reccontrol`` command. Every command and option carries help text."""

from __future__ import annotations

import datetime as dt
import logging
import sys
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
from controller.commands.audit import audit
from controller.commands.backup import backup, restore
from controller.commands.documents import announcement_script, dpia, notice, register
from controller.commands.holds import hold
from controller.commands.inspection import inspection_pack
from controller.commands.records import recording, sheet
from controller.commands.retention import purge
from controller.commands.sampling import sampling_audit
from controller.commands.subjects import subject
from controller.config.warnings import audit_alerts, config_warnings, staff_information

__all__ = ["EXIT_CONFIG", "cli", "fail", "load_or_exit", "main", "open_store"]


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="reccontrol")
def cli() -> None:
    """reccontrol: records contact-centre calls with Asterisk, within the CNIL rules,
    GDPR and PCI DSS."""


@cli.command()
@config_option
def run(config_path: Path) -> None:
    """Run the daemon: the ARI event loop, and the web API. Stops cleanly on SIGTERM.

    At start it applies the store's pending migrations, and refuses a store written by a
    newer reccontrol. Exit status: 2 config error; 4 store newer than this reccontrol
    (the systemd unit does not restart it then); 1 any other failure to start."""
    from controller.commands.startup import upgrade_at_start
    from controller.daemon import run as run_daemon
    from controller.instance import AlreadyRunning, PortBusy
    from controller.logs import setup_logging

    config = load_or_exit(config_path)
    setup_logging(config.logging.level, fmt=config.logging.format)
    for warning in config_warnings(config):
        logging.getLogger("reccontrol").warning("%s", warning)
    staff, not_yet = staff_information(config, dt.datetime.now(dt.UTC))
    if not_yet:
        logging.getLogger("reccontrol").warning("%s", staff)
    try:
        run_daemon(config, before_start=lambda: upgrade_at_start(config.store.path))
    except (AlreadyRunning, PortBusy) as exc:
        fail(str(exc))


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
):
    cli.add_command(_command)


# -- sandbox -------------------------------------------------------------------------
@cli.group()
def sandbox() -> None:
    """Manage a local Asterisk 22 for the demo and the tests (a Debian chroot; needs
    root and debootstrap)."""


name_option = click.option(
    "--name", default="default", show_default=True, help="Which sandbox instance."
)


@sandbox.command("up")
@name_option
@click.option("--port", default=8088, show_default=True, help="HTTP port for ARI.")
def sandbox_up(name: str, port: int) -> None:
    """Build the sandbox if needed, start its Asterisk and wait until it is fully booted."""
    from controller.sandbox import Sandbox, SandboxError

    try:
        box = Sandbox.from_environment()
        box.ensure_built()
        instance = box.up(name, http_port=port)
    except SandboxError as exc:
        fail(str(exc))
    click.echo(
        f"sandbox {instance.name}: up, ARI at {instance.ari_url}, "
        f"SIP on udp 127.0.0.1:{instance.sip_port}"
    )


@sandbox.command("down")
@name_option
def sandbox_down(name: str) -> None:
    """Stop the sandbox's Asterisk (only the one it started) and unmount what it mounted."""
    from controller.sandbox import Sandbox, SandboxError

    try:
        Sandbox.from_environment().down(name)
    except SandboxError as exc:
        fail(str(exc))
    click.echo(f"sandbox {name}: down")


@sandbox.command("status")
@name_option
def sandbox_status(name: str) -> None:
    """Say whether the sandbox's Asterisk is running, and where ARI listens. Exits 3 when
    it is not running."""
    from controller.sandbox import Sandbox, SandboxError

    try:
        instance = Sandbox.from_environment().status(name)
    except SandboxError as exc:
        fail(str(exc))
    if instance is None:
        click.echo(f"sandbox {name}: not running")
        sys.exit(3)
    click.echo(
        f"sandbox {instance.name}: running, ARI at {instance.ari_url}, "
        f"SIP on udp 127.0.0.1:{instance.sip_port}"
    )


@sandbox.command("render")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the Asterisk configuration into (created if needed).",
)
@click.option(
    "--instance-dir",
    default="/var/lib/reccontrol-asterisk",
    show_default=True,
    help="Where that Asterisk keeps its spool, database, logs and sounds.",
)
@click.option("--http-port", default=8088, show_default=True, help="HTTP port for ARI.")
@click.option(
    "--sip-port",
    default=5060,
    show_default=True,
    help="UDP port of the SIP transport; the simulated phones' contacts take the next ones.",
)
@click.option("--ari-username", default="reccontrol", show_default=True, help="ARI user name.")
@click.option(
    "--ari-password-file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File holding the ARI password (never on the command line).",
)
def sandbox_render(
    out: Path,
    instance_dir: str,
    http_port: int,
    sip_port: int,
    ari_username: str,
    ari_password_file: Path,
) -> None:
    """Write the sandbox's Asterisk configuration (the same templates, rendered, plus the
    dialplan snippets) for an Asterisk outside the sandbox, such as the container image.
    Start that Asterisk with 'asterisk -C OUT/asterisk.conf'."""
    import os

    from controller.sandbox import Sandbox
    from controller.sandbox.templates import (
        phone_placeholder,
        phone_placeholders,
        rendered_files,
    )

    box = Sandbox.from_environment()
    password = ari_password_file.read_text(encoding="utf-8").strip()
    if not password:
        fail(f"{ari_password_file} is empty")
    values = {
        "INSTANCE": "container",
        "INSTANCE_DIR": instance_dir,
        "SOUNDS_DIR": f"{instance_dir}/sounds",
        "HTTP_PORT": str(http_port),
        "SIP_PORT": str(sip_port),
        "ARI_USERNAME": ari_username,
        "ARI_PASSWORD": password,
    }
    for offset, phone in enumerate(phone_placeholders(box.config_dir), start=1):
        values[phone_placeholder(phone)] = str(sip_port + offset)
    try:
        files = rendered_files(box.config_dir, box.dialplan_dir, values)
    except ValueError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True, mode=0o750)
    for name, text in files.items():
        # ari.conf holds the password: owner and group only.
        fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    click.echo(f"{len(files)} files written to {out}")


@sandbox.command("reset")
@name_option
def sandbox_reset(name: str) -> None:
    """Stop the sandbox instance and wipe its state (recordings, logs, database)."""
    from controller.sandbox import Sandbox, SandboxError

    try:
        Sandbox.from_environment().reset(name)
    except SandboxError as exc:
        fail(str(exc))
    click.echo(f"sandbox {name}: reset")


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/reccontrol/demo"),
    show_default=True,
    help="Where the demo writes its config, store, vault and logs (wiped at start).",
)
@click.option("--port", default=8088, show_default=True, help="HTTP port for the sandbox's ARI.")
@click.option("--keep", is_flag=True, help="Leave the sandbox Asterisk running afterwards.")
def demo(workdir: Path, port: int, keep: bool) -> None:
    """Run the demo: start the sandbox Asterisk (root and debootstrap needed), run the
    daemon on an embedded SQLite store, put scripted calls through it and print what
    happened to each."""
    from controller.demo.extras import DemoExtraMissing, require_demo_extra

    try:
        require_demo_extra()
    except DemoExtraMissing as exc:
        fail(str(exc))
    from controller.demo.run import run_demo
    from controller.sandbox import SandboxError

    try:
        run_demo(workdir, port, keep)
    except SandboxError as exc:
        fail(str(exc))


def main() -> None:
    cli()
