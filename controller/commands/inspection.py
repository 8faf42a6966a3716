"""``reccontrol inspection-pack`` (D3): the pack a CNIL inspection of a period asks for,
and the check of a pack's signed manifest."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli_support import (
    EXIT_ATTENTION,
    EXIT_CONFIG,
    EXIT_FAILED,
    config_option,
    fail,
    load_or_exit,
    open_store,
    parse_day,
)


@click.command("inspection-pack")
@config_option
@click.option(
    "--from",
    "start",
    metavar="DATE",
    help="First day of the period (YYYY-MM-DD, in the site's time zone), or a date and time.",
)
@click.option(
    "--to",
    "end",
    metavar="DATE",
    help="Last day of the period, included (YYYY-MM-DD), or a date and time (excluded).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write the pack into: new or empty; created for its owner only.",
)
@click.option(
    "--language",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="The documents' language (default: documents.language in the config, else fr).",
)
@click.option(
    "--verify",
    "verify_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Check the pack in this folder against its manifest instead of making one.",
)
def inspection_pack(
    config_path: Path,
    start: str | None,
    end: str | None,
    out: Path | None,
    language: str | None,
    verify_dir: Path | None,
) -> None:
    """Make the inspection pack of a period (D3), or check one with --verify.

    The pack holds the register, the notices and the DPIA (Markdown and HTML), the
    sampling audit of the period (configured against achieved), the access-log entries
    of the period (JSON lines) with the verdict on the whole chain and its signed head,
    the deletion receipts, the alerts, each configuration the daemon loaded that was in
    force during the period (by SHA-256 and date), the legal holds that stood during
    it (T6), and manifest.json: every file with its SHA-256, signed with the audit key.

    Exit status: 0 written (or, with --verify, every file matches a manifest the audit key
    signed); 1 refused, the access log's chain is broken (the pack is still written, its
    verdict says why), or a file is missing, changed or added; 2 config or usage error;
    3 --verify without an audit key: the files match, but the manifest is not
    authenticated."""
    from controller.documents import document_problems
    from controller.inspection import PackRefused, Period, make_pack, verify_pack

    config = load_or_exit(config_path)
    if verify_dir is not None:
        if start or end or out:
            fail("--verify checks a pack: give it without --from, --to and --out", EXIT_CONFIG)
        verdict = verify_pack(verify_dir, config.audit.checkpoint_key)
        for problem in verdict.problems:
            click.echo(f"{verify_dir}: {problem}", err=True)
        if not verdict.ok:
            click.echo(f"{verify_dir}: the pack does not match its manifest", err=True)
            sys.exit(EXIT_FAILED)
        if not verdict.signed:
            click.echo(
                f"{verify_dir}: {verdict.files} files match the manifest, but no audit key is "
                "configured (audit.checkpoint_key): the manifest itself is not authenticated",
                err=True,
            )
            sys.exit(EXIT_ATTENTION)
        click.echo(f"{verify_dir}: intact: {verdict.files} files match the signed manifest")
        return
    given = (("--from", start), ("--to", end), ("--out", out))
    missing = [name for name, value in given if not value]
    if missing or out is None:
        fail(f"{', '.join(missing)} required to make a pack (or --verify DIR)", EXIT_CONFIG)
    lacking = document_problems(config, register=True)
    for item in lacking:
        click.echo(f"error: {item}", err=True)
    if lacking:
        sys.exit(EXIT_CONFIG)
    first = parse_day(start, config.timezone, end=False)
    after = parse_day(end, config.timezone, end=True)
    if first is None or after is None:  # both were given: checked above
        fail("--from and --to are required", EXIT_CONFIG)
    from controller.clock import SystemClock

    store = open_store(config)
    try:
        summary = make_pack(
            config,
            store,
            Period(first, after),
            out,
            SystemClock().now(),
            language or config.documents.language,
        )
    except PackRefused as exc:
        fail(f"refused: {exc}")
    except OSError as exc:
        fail(f"cannot write the pack into {out}: {exc}")
    finally:
        store.close()
    click.echo(
        f"inspection pack written to {summary.folder}: {len(summary.files)} files, "
        f"{summary.entries} access-log entries, {summary.receipts} deletion receipts, "
        f"{summary.alerts} alerts, {summary.configs} configuration(s) in force"
    )
    click.echo(f"legal holds in force during the period: {summary.holds}")
    click.echo(
        "manifest signed with the audit key"
        if summary.signed
        else "warning: manifest not signed: no audit key is configured (audit.checkpoint_key)"
    )
    if not summary.log_ok:
        click.echo(
            "error: the access log's chain is broken: see access-log-verification.json", err=True
        )
        sys.exit(EXIT_FAILED)
