"""``reccontrol access``: credentials for the people on the access list (S1, S5)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from controller.cli_support import EXIT_ATTENTION, config_option, fail, load_or_exit
from controller.config import Config


def credential_warnings(config: Config) -> list[str]:
    """Problems with the persons' configured credentials, one line each."""
    from controller.access.credentials import CredentialError, read_verifier

    warnings = []
    for person in config.access.persons.values():
        try:
            read_verifier(person.credential)
        except CredentialError as exc:
            warnings.append(f"{exc} ({person.id} cannot sign in)")
    return warnings


@click.group()
def access() -> None:
    """Credentials of the authorised persons listed under access.persons (S1)."""


@access.command("hash-password")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the hash to this new file (mode 0600) instead of printing it.",
)
def hash_password_command(output: Path | None) -> None:
    """Ask for a password twice (never on the command line) and print its scrypt hash,
    the line to put in the file named by password_hash_file. Exits 1 when the two entries
    differ or the output file exists."""
    from controller.access.credentials import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 12:
        fail("use at least 12 characters")
    line = hash_password(password)
    if output is None:
        click.echo(line)
        return
    _write_private(output, line)
    click.echo(f"wrote {output}", err=True)


@access.command("new-token")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="New file (mode 0600) that receives the token; give it to the person only.",
)
def new_token_command(token_file: Path) -> None:
    """Create a random access token, write it to --token-file and print its hash, the
    line to put in the file named by token_hash_file. Exits 1 when the file exists."""
    from controller.access.credentials import hash_token, new_token

    token = new_token()
    _write_private(token_file, token)
    click.echo(hash_token(token))


@access.command("list")
@config_option
def list_command(config_path: Path) -> None:
    """List the authorised persons: id, role, services, and whether their credential can
    be read. Exits 3 when a credential cannot be read."""
    from controller.access.credentials import CredentialError, read_verifier

    config = load_or_exit(config_path)
    unreadable = False
    for person in sorted(config.access.persons.values(), key=lambda p: p.id):
        try:
            read_verifier(person.credential)
            state = f"{person.credential.kind} ok"
        except CredentialError:
            state = f"{person.credential.kind} UNREADABLE"
            unreadable = True
        click.echo(
            f"{person.id:<16} {person.role:<10} {','.join(person.services):<24} {state}  "
            f"{person.name}"
        )
    if unreadable:
        sys.exit(EXIT_ATTENTION)


def _write_private(path: Path, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{path} already exists; not overwritten")
    except OSError as exc:
        fail(f"cannot create {path}: {exc.strerror or exc}")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
