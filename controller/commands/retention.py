"""``reccontrol purge`` (T4)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli_support import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    config_option,
    load_or_exit,
)

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@click.command()
@config_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only report what would be deleted; change nothing.",
)
def purge(config_path: Path, dry_run: bool) -> None:
    """Delete expired recordings (files and rows, with receipts naming them in the access log),
    summary sheets and access-log entries (behind a checkpoint), and check the vault
    against the store. Safe to interrupt; the next run finishes the job.

    The access log is cut only once every entry to cut verifies (hash, link, MAC, dates
    that go forward); otherwise nothing is cut, an alert is raised and the exit status is 1.

    What a legal hold keeps (T6) is left alone and listed; a hold past its review date
    raises an alert at every run until the DPO reviews or releases it.

    Exit status: 0 done; 1 some deletions failed, or the access log was not cut (listed);
    2 config error; 3 done, but
    files in the vault that no recording knows, recordings whose file is missing, or legal
    holds past their review date were found (listed on stderr; they need a person to
    look)."""
    from controller.audit.errors import AccessLogError
    from controller.clock import SystemClock
    from controller.retention.purge import CLI_BATCH, run_purge
    from controller.store import StoreError
    from controller.store.opening import open_configured

    config = load_or_exit(config_path)
    show_bar = sys.stdout.isatty() and not dry_run
    with contextlib.ExitStack() as stack:
        bars: list[ProgressBar[int]] = []

        def on_plan(total: int) -> None:
            if show_bar and total:
                bar = click.progressbar(length=total, label="Deleting expired recordings")
                bars.append(stack.enter_context(bar))

        def on_progress(done: int) -> None:
            for bar in bars:
                bar.update(done)

        try:
            store = stack.enter_context(
                contextlib.closing(
                    open_configured(config.store, audit_key=config.audit.checkpoint_key)
                )
            )
            report = run_purge(
                config,
                SystemClock(),
                store,
                dry_run=dry_run,
                # Counting what is to delete reads every candidate once: only for the bar.
                on_plan=on_plan if show_bar else None,
                on_progress=on_progress,
                batch_size=CLI_BATCH,
                overlapped=True,
            )
        except (StoreError, AccessLogError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)

    if dry_run:
        for recording_id, rule in report.planned:
            click.echo(f"would delete recording {recording_id}: {rule}")
    for held in report.held:
        click.echo(
            f"kept recording {held.row.id} past its expiry ({held.rule}): "
            f"legal hold {held.reference} on call {held.row.call_id}"
        )
    for line in report.summary():
        click.echo(line)
    for name in report.unknown_files:
        click.echo(f"unknown file in the vault (no recording knows it): {name}", err=True)
    for recording_id in report.marked_missing:
        click.echo(f"recording {recording_id}: its file is missing", err=True)
    for message in report.overdue_holds:
        click.echo(f"ALERT: {message}", err=True)
    for problem in report.errors:
        click.echo(f"error: {problem}", err=True)
    if report.errors:
        sys.exit(EXIT_FAILED)
    if report.needs_attention:
        sys.exit(EXIT_ATTENTION)
