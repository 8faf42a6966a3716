"""``reccontrol audit``: the hash-chained access log (S3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from controller.cli_support import EXIT_FAILED, config_option, load_or_exit, open_store


@click.group()
def audit() -> None:
    """Check the access log's hash chain and export its head (S3)."""


@audit.command()
@config_option
@click.option(
    "--anchor",
    metavar="HASH",
    help="A head hash published earlier ('reccontrol audit head'); it must still be in the chain.",
)
def verify(config_path: Path, anchor: str | None) -> None:
    """Verify the access log from its latest checkpoint to its head.

    Exit status: 0 the chain is intact; 1 it is broken (an entry edited, deleted,
    inserted or reordered, a checkpoint that does not match its signature, the end cut
    off, or the anchor missing): the first bad entry is named; 2 config error."""
    config = load_or_exit(config_path)
    store = open_store(config)
    try:
        verdict = store.verify_access_log(config.audit.checkpoint_key, anchor)
    finally:
        store.close()
    for note in verdict.notes:
        click.echo(note)
    if verdict.ok:
        click.echo(verdict.describe())
        return
    click.echo(f"access log {verdict.describe()}", err=True)
    sys.exit(EXIT_FAILED)


@audit.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print sequence number, hash and time.")
def head(config_path: Path, as_json: bool) -> None:
    """Print the hash of the access log's last entry, to anchor it elsewhere (a ticket,
    an e-mail to the DPO, a notary). Later, 'audit verify --anchor HASH' proves nothing
    before it was changed."""
    config = load_or_exit(config_path)
    store = open_store(config)
    try:
        seq, digest = store.audit_head()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"seq": seq, "hash": digest}))
    else:
        click.echo(digest)
