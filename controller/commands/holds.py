"""``reccontrol hold``: legal holds (T6), placed, reviewed and released by the DPO through
the audited access service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from controller.cli_support import config_option, load_or_exit, parse_day
from controller.commands.auth import access_service, person_options, refusals, sign_in

EXIT_HELP = (
    "Exit status: 0 done; 1 failed; 2 config error; 4 refused (not the DPO, no purpose, "
    "no such call or hold, a bad date or text; the refusal is in the access log)."
)

review_option = click.option(
    "--review-by",
    "review_by",
    required=True,
    metavar="DATE",
    help="When the DPO must look at the hold again (YYYY-MM-DD, the start of that day in "
    "the site's time zone; must be in the future). From then on every purge raises an "
    "alert until the hold is reviewed or released.",
)


@click.group()
def hold() -> None:
    """Legal holds (T6): keep a call's recordings, metadata and summary sheets past their
    expiry while a dispute runs. Only the DPO may place, review, release or list them;
    every step is in the access log."""


def _day(config: Any, text: str) -> Any:
    moment = parse_day(text, config.timezone, end=False)
    assert moment is not None  # the option is required
    return moment


def _show(hold_: Any, tz: Any) -> str:
    state = (
        f"released {hold_.released_at.astimezone(tz):%Y-%m-%d} by {hold_.released_by}"
        if hold_.released_at
        else f"review by {hold_.review_by.astimezone(tz):%Y-%m-%d}"
    )
    return (
        f"call {hold_.call_id}  {hold_.service or '-'}  reference {hold_.reference}  {state}  "
        f"placed {hold_.placed_at.astimezone(tz):%Y-%m-%d} by {hold_.placed_by}: {hold_.reason}"
    )


@hold.command(
    "place",
    help="Place a legal hold on CALL_ID: its recordings, metadata and summary sheets are "
    "kept past their expiry until the hold is released. A recording whose deletion had "
    "already started cannot be kept; it is named.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("call_id")
@click.option(
    "--reason",
    required=True,
    help="Why the call must be kept (the dispute), in words; no phone or card numbers.",
)
@click.option(
    "--reference",
    required=True,
    help="The dispute's reference (a mediation or case name); no phone or card numbers.",
)
@review_option
def hold_place(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    call_id: str,
    reason: str,
    reference: str,
    review_by: str,
) -> None:
    config = load_or_exit(config_path)
    when = _day(config, review_by)
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        placed = service.hold_place(person, purpose, call_id, reason, reference, when)
    tz = config.timezone
    click.echo(
        f"hold {placed.hold.id} on call {placed.hold.call_id}: "
        f"{len(placed.recordings)} recording(s) kept; "
        f"review by {placed.hold.review_by.astimezone(tz):%Y-%m-%d}"
    )
    for recording_id in placed.already_deleting:
        click.echo(
            f"recording {recording_id}: its deletion had already started; it cannot be kept",
            err=True,
        )


@hold.command(
    "review",
    help="Record that the hold on CALL_ID was reviewed and still stands, with its next "
    "review date.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("call_id")
@review_option
def hold_review(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    call_id: str,
    review_by: str,
) -> None:
    config = load_or_exit(config_path)
    when = _day(config, review_by)
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        reviewed = service.hold_review(person, purpose, call_id, when)
    click.echo(
        f"hold on call {reviewed.call_id}: review by "
        f"{reviewed.review_by.astimezone(config.timezone):%Y-%m-%d}"
    )


@hold.command(
    "release",
    help="Release the hold on CALL_ID: what it kept follows its own retention again, so "
    "the next purge deletes what has expired.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("call_id")
def hold_release(
    config_path: Path, person_id: str, purpose: str, token_file: Path | None, call_id: str
) -> None:
    config = load_or_exit(config_path)
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        released = service.hold_release(person, purpose, call_id)
    click.echo(f"hold on call {released.call_id} released (reference {released.reference})")


@hold.command(
    "list",
    help="List the standing legal holds, the next review first; overdue ones are marked.\n\n"
    + EXIT_HELP,
)
@config_option
@person_options
@click.option("--all", "include_released", is_flag=True, help="Also list released holds.")
def hold_list(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    include_released: bool,
) -> None:
    import datetime as dt

    config = load_or_exit(config_path)
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        holds = service.hold_list(person, purpose, include_released)
    now = dt.datetime.now(dt.UTC)
    for item in holds:
        mark = "OVERDUE  " if item.overdue(now) else ""
        click.echo(mark + _show(item, config.timezone))
    click.echo(f"{len(holds)} hold(s)")
