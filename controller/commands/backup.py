"""``reccontrol backup`` and ``reccontrol restore --check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli_support import EXIT_ATTENTION, config_option, fail, load_or_exit, open_vault


@click.command()
@config_option
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New or empty folder to write the backup into (created 0700).",
)
@click.option(
    "--no-audio",
    is_flag=True,
    help="List the vault's files and hashes without copying them (for a vault backed up "
    "by other means).",
)
def backup(config_path: Path, folder: Path, no_audio: bool) -> None:
    """Back up the site while the daemon runs: a consistent copy of the store (SQLite's
    online backup API), the vault's recordings, and a manifest of every vault file with
    its SHA-256 and a digest of the store's tables, signed with the audit key
    (audit.checkpoint_key). Never the secrets: no YAML, key, password or credential is
    copied. DIR must be new, or an empty folder of this user's; never a link.

    Exit status: 0 done; 1 failed; 2 config error; 3 done, but vault files were refused
    (a link or a file not reccontrol's planted in the vault: not copied, one line each)."""
    from controller.store.backup import take_backup
    from controller.store.backup_files import BackupError

    config = load_or_exit(config_path)
    if config.store.url:
        # The copy is SQLite's online backup; a server has its own tools.
        fail(
            "store.url: reccontrol backup copies a SQLite store; back a PostgreSQL store "
            "up with pg_dump (and each node's vault with the node)"
        )
    vault = open_vault(config)
    try:
        summary = take_backup(
            config.store.path,
            vault,
            folder,
            key=config.audit.checkpoint_key,
            copy_audio=not no_audio,
        )
    except (BackupError, OSError) as exc:
        fail(str(exc))
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    for refused in summary.refused:
        click.echo(f"problem: {refused}", err=True)
    audio = "copied" if summary.audio_copied else "listed, not copied"
    click.echo(
        f"backup in {summary.folder}: store schema version {summary.schema_version}, "
        f"{summary.recordings} stored recording(s), {summary.files} vault file(s) {audio}"
    )
    if summary.refused:
        sys.exit(EXIT_ATTENTION)


@click.command()
@config_option
@click.option(
    "--check",
    "folder",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The backup folder to verify ('reccontrol backup --to').",
)
@click.option(
    "--vault",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A copy of the vault held elsewhere, to check instead of the backup's own.",
)
def restore(config_path: Path, folder: Path, vault: Path | None) -> None:
    """Verify a backup before restoring it, without touching the live site: the
    manifest's signature with the audit key, the store copy's integrity, schema version
    and table digests, the access log's hash chain and head, and each recording file's
    SHA-256 against the manifest and the store. The config is read only for the audit
    key. Without one (no audit.checkpoint_key) the backup cannot be authenticated: it is
    said so, on stderr.

    Exit status: 0 the backup is sound; 2 config error; 3 problems found (one line each
    on stderr), a malformed or unsigned manifest included."""
    from controller.store.backup_check import check_backup

    config = load_or_exit(config_path)
    report = check_backup(folder, key=config.audit.checkpoint_key, vault=vault)
    for fact in report.facts:
        click.echo(fact)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if not report.ok:
        sys.exit(EXIT_ATTENTION)
    if report.authenticated:
        click.echo(f"backup in {folder}: sound")
    else:
        click.echo(f"backup in {folder}: consistent, but not authenticated (no audit key)")
