"""``reccontrol audit``: the hash-chained access log (S3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from controller.audit.chain import parse_witness
from controller.cli_support import EXIT_FAILED, config_option, fail, load_or_exit, open_store


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
@click.option(
    "--witness",
    "witness_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The file where the daemon published the signed head (audit.witness_file): "
    "every head in it must still be in the log.",
)
def verify(config_path: Path, anchor: str | None, witness_path: Path | None) -> None:
    """Verify the access log from its latest checkpoint to its head.

    With the audit key configured, every entry after the key start must carry a valid
    MAC and every checkpoint after it must be HMAC-signed: an unsigned one is tampering.

    Exit status: 0 the chain is intact; 1 it is broken (an entry edited, deleted,
    inserted or reordered, an entry or checkpoint that does not match its signature, an
    unsigned checkpoint, the end cut off, the anchor missing, or a head the witness
    published missing): the first bad entry is named; 2 config error."""
    config = load_or_exit(config_path)
    witness = None
    if witness_path is not None:
        try:
            text = witness_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the witness file {witness_path}: {exc}")
        witness, bad = parse_witness(text.splitlines())
        if bad is not None:
            click.echo(f"witness file {witness_path}, line {bad[0]}: {bad[1]}", err=True)
            sys.exit(EXIT_FAILED)
    store = open_store(config)
    try:
        verdict = store.verify_access_log(config.audit.checkpoint_key, anchor, witness)
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
