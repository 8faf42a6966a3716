"""``reccontrol audit``: the hash-chained access log (S3, S7)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from controller.audit.chain import WitnessLine, parse_witness
from controller.audit.errors import AccessLogError
from controller.cli_support import (
    EXIT_CONFIG,
    EXIT_FAILED,
    config_option,
    fail,
    load_or_exit,
    open_store,
)


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
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Processes that check a long chain (SQLite): 2 checks its two halves at once.",
)
def verify(config_path: Path, anchor: str | None, witness_path: Path | None, jobs: int) -> None:
    """Verify the access log from its latest checkpoint to its head.

    With the audit key configured, every entry after the key start must carry a valid
    MAC and every checkpoint after it must be HMAC-signed: an unsigned one is tampering.

    Exit status: 0 the chain is intact; 1 it is broken (an entry edited, deleted,
    inserted or reordered, an entry or checkpoint that does not match its signature, an
    unsigned checkpoint, the key start or the recorded head removed, the end cut off, the
    anchor missing, a head the witness published missing, purged before its time, or a
    key start other than the one it published): the first bad entry is named; 2 config
    error."""
    config = load_or_exit(config_path)
    witness = read_witness(witness_path) if witness_path is not None else None
    store = open_store(config)
    try:
        verdict = store.verify_access_log(
            config.audit.checkpoint_key, anchor, witness, config.audit.retention_days, jobs
        )
    finally:
        store.close()
    for note in verdict.notes:
        click.echo(note)
    if verdict.ok:
        click.echo(verdict.describe())
        return
    click.echo(f"access log {verdict.describe()}", err=True)
    sys.exit(EXIT_FAILED)


def read_witness(path: Path) -> list[WitnessLine]:
    """The witness file's lines, or exit 1 naming the unreadable one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the witness file {path}: {exc}")
    lines, bad = parse_witness(text.splitlines())
    if bad is not None:
        click.echo(f"witness file {path}, line {bad[0]}: {bad[1]}", err=True)
        sys.exit(EXIT_FAILED)
    return lines


@audit.command("adopt-key")
@config_option
@click.option(
    "--witness",
    "witness_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The witness file to check first (default: audit.witness_file, if it exists).",
)
def adopt_key(config_path: Path, witness_path: Path | None) -> None:
    """Switch an access log written before the audit key was set over to the key (S7).

    Verifies the hash chain first, then signs its present head (the key start): entries
    before it stay checkable by their hash chain, every later entry carries a MAC. The
    daemon never does this by itself: a keyed log whose key start was removed must not
    be keyed again over what was changed.

    Refused (exit 1) when the log is already keyed, when its chain is broken, or when it
    was keyed before (an entry carries a MAC, a checkpoint is HMAC-signed, or the witness
    published a key start). Exit status: 0 adopted; 1 refused; 2 config error (no key)."""
    from controller.clock import SystemClock

    config = load_or_exit(config_path)
    if config.audit.checkpoint_key is None:
        fail(
            "audit.checkpoint_key_env: no audit key is configured (set "
            "audit.checkpoint_key_env or audit.checkpoint_key_file first)",
            EXIT_CONFIG,
        )
    path = witness_path or config.audit.witness_file
    published = None
    if path is not None and path.exists():
        published = next(
            (line.key_start for line in read_witness(path) if line.key_start is not None), None
        )
    store = open_store(config)
    try:
        start = store.adopt_audit_key(SystemClock().now(), published)
    except AccessLogError as exc:
        fail(f"refused: {exc}")
    finally:
        store.close()
    click.echo(
        f"keyed: entries from {start.from_seq} on carry a MAC; entries 1..{start.from_seq - 1} "
        "keep their hash chain, bound by the signed key start"
    )


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
    except AccessLogError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"seq": seq, "hash": digest}))
    else:
        click.echo(digest)
