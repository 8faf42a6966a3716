"""``reccontrol sandbox``: a local Asterisk 22 for the demo and the tests. Part of the
source checkout, not of the installed daemon (see the README)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli_support import CONTEXT, fail


@click.group(context_settings=CONTEXT)
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
    import secrets

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
        # The image serves the ARI path: AMI stays off, its secret never used.
        "AMI_ENABLED": "no",
        "AMI_PORT": "5038",
        "AMI_USERNAME": ari_username,
        "AMI_PASSWORD": secrets.token_urlsafe(24),
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
