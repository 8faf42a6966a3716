"""``reccontrol subject``: data-subject requests, of callers (C5) and of agents (S9),
through the audited access service."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.audit.receipts import receipt_recordings
from controller.cli_support import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    config_option,
    load_or_exit,
    parse_day,
)
from controller.commands.auth import access_service, person_options, refusals, sign_in
from controller.config import Config

F = TypeVar("F", bound=Callable[..., Any])

EXIT_HELP = (
    "Exit status: 0 done; 1 failed (a file could not be read or removed: listed); "
    "2 config error; 3 erase done, but calls under a legal hold were kept (listed); "
    "4 refused (wrong credential, role, scope or no purpose; the refusal "
    "is in the access log)."
)


def subject_options(func: F) -> F:
    func = click.option(
        "--to",
        "end",
        metavar="DATE",
        help="Last day (YYYY-MM-DD, inclusive) or moment (YYYY-MM-DDTHH:MM) of calls to "
        "include, in the site's time zone.",
    )(func)
    func = click.option(
        "--from",
        "start",
        metavar="DATE",
        help="First day (YYYY-MM-DD) or moment (YYYY-MM-DDTHH:MM) of calls to include, in "
        "the site's time zone.",
    )(func)
    func = click.option(
        "--agent",
        "agent_id",
        metavar="ID",
        help="An agent's request (S9) instead of a caller's: the agent's id under agents "
        "(or of a former agent whose data is still kept). Not with --number.",
    )(func)
    func = click.option(
        "--number",
        help="The caller's phone number. Omit it (and --agent) to type it at a prompt, which "
        "keeps it out of the shell history and the process list.",
    )(func)
    func = person_options(func)
    return config_option(func)


@click.group()
def subject() -> None:
    """Data-subject requests: find, export or erase every call, recording and summary
    sheet of a phone number (C5), or find and export what is kept about an agent with
    --agent (S9). The number is matched through its HMAC; each step is logged with the
    requester and the purpose."""


def _number(number: str | None, agent_id: str | None) -> str:
    """The caller's number, typed at a prompt if not given; "" for an agent's request."""
    if agent_id is not None:
        if number:
            raise click.UsageError("give --number (a caller) or --agent (an agent), not both")
        return ""
    if number:
        return number
    value: str = click.prompt("Caller's phone number", err=True)
    return value


def _window(config: Config, start: str | None, end: str | None) -> tuple[Any, Any]:
    return parse_day(start, config.timezone, end=False), parse_day(end, config.timezone, end=True)


@subject.command(
    help="List every call of the number, with its recordings and summary sheets (ids, "
    "times, states), without printing the number. With --agent: the agent's calls, "
    "recordings, sheets (also those whose call is no longer kept) and private-call "
    "counts.\n\n" + EXIT_HELP
)
@subject_options
def find(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    number: str | None,
    agent_id: str | None,
    start: str | None,
    end: str | None,
) -> None:
    config = load_or_exit(config_path)
    window = _window(config, start, end)
    if agent_id is not None:
        _number(number, agent_id)
        with access_service(config) as service, refusals():
            person = sign_in(service, person_id, token_file)
            agent_found = service.agent_find(person, purpose, agent_id, *window)
        _print_agent(agent_found, config.timezone)
        return
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        found = service.subject_find(person, purpose, _number(number, None), *window)
    _print_calls(found.calls, config.timezone)
    click.echo(
        f"{len(found.calls)} call(s), {len(found.recordings)} recording(s), "
        f"{len(found.sheet_ids)} sheet(s)"
        + (f"; {found.hidden} call(s) outside your services" if found.hidden else "")
    )


def _print_calls(calls: Any, tz: Any) -> None:
    for record in calls:
        call = record.call
        started = _local(call["started_at"], tz)
        click.echo(f"call {call['id']}  {call['service']}  {started}  {call['outcome'] or ''}")
        for rec in record.recordings:
            # A transferred call is one call: its recordings are its segments (R3).
            click.echo(
                f"  recording {rec.id}  {rec.state}  segment {rec.segment} "
                f"({rec.agent_id or 'agent unknown'})  "
                f"expires {rec.expires_at.astimezone(tz):%Y-%m-%d}"
            )
        for sheet_id in record.sheet_ids:
            click.echo(f"  sheet {sheet_id}")


def _print_agent(found: Any, tz: Any) -> None:
    _print_calls(found.calls, tz)
    for sheet_id in found.sheets_without_call:
        click.echo(f"sheet {sheet_id}  (its call is no longer kept)")
    for row in found.private_counts:
        click.echo(f"private calls {row['day']}: {row['count']}")
    click.echo(
        f"agent {found.agent_id}: {len(found.calls)} call(s), {len(found.recordings)} "
        f"recording(s), {len(found.sheet_ids)} sheet(s), "
        f"{sum(r['count'] for r in found.private_counts)} private call(s)"
        + (f"; {found.hidden} call(s) or sheet(s) outside your services" if found.hidden else "")
    )


@subject.command(
    help="Write a zip of the number's recordings (WAV) and their metadata (JSON: calls, "
    "decisions, consent events, recordings, summary sheets). With --agent: the agent's "
    "calls, recordings and sheets with their rectification notes, and private-call "
    "counts; the recordings hold the callers' voices too, so check what is handed over "
    "(GDPR Art. 15(4)).\n\n" + EXIT_HELP
)
@subject_options
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The zip to write (mode 0600; an existing file is not overwritten). It holds the "
    "audio and metadata.json, including the number or the agent: hand it over securely.",
)
def export(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    number: str | None,
    agent_id: str | None,
    start: str | None,
    end: str | None,
    output: Path,
) -> None:
    config = load_or_exit(config_path)
    window = _window(config, start, end)
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        value = _number(number, agent_id)
        if agent_id is not None:
            result = service.agent_export(person, purpose, agent_id, output, *window)
        else:
            result = service.subject_export(person, purpose, value, output, *window)
    click.echo(
        f"wrote {result.path}: {result.calls} call(s), {result.recordings} recording(s), "
        f"{result.sheets} sheet(s)"
    )
    for problem in result.problems:
        click.echo(f"error: {problem}", err=True)
    if result.problems:
        sys.exit(EXIT_FAILED)


@subject.command(
    help="Erase the number's recordings (files and rows, a receipt naming them in the "
    "access log) and summary sheets, and unlink its calls from the number. A recorded objection is "
    "kept, so the number stays unrecorded. Safe to run again after an interruption. "
    "With --agent it is refused (exit 4, logged): an agent's erasure request is answered "
    "by rectification (sheet rectify) and objection (agents.<id>.protected), not by "
    "deleting recordings that are also the callers' data (S9).\n\n" + EXIT_HELP
)
@subject_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    number: str | None,
    agent_id: str | None,
    start: str | None,
    end: str | None,
    yes: bool,
) -> None:
    config = load_or_exit(config_path)
    window = _window(config, start, end)
    if agent_id is not None:
        _number(number, agent_id)
        with access_service(config) as service, refusals():
            person = sign_in(service, person_id, token_file)
            service.agent_erase(person, purpose, agent_id)
        return
    with access_service(config) as service, refusals():
        person = sign_in(service, person_id, token_file)
        value = _number(number, None)
        if not yes:
            click.confirm("Erase every recording and sheet of this number?", abort=True, err=True)
        result = service.subject_erase(person, purpose, value, *window)
    click.echo(
        f"erased: {result.recordings_deleted} recording(s), {result.sheets_deleted} sheet(s); "
        f"{result.calls} call(s) no longer linked to the number"
    )
    for receipt in result.receipts:
        for deleted in receipt_recordings(receipt.details):
            click.echo(
                f"receipt {receipt.seq}: recording:{deleted.get('recording_id')} "
                f"sha256 {deleted.get('sha256')}"
            )
    if result.objection_kept:
        click.echo("the caller's objection is kept, so this number is still not recorded")
    for call_id, reference in result.held.items():
        click.echo(
            f"kept: call {call_id}, its recordings and sheets are under a legal hold "
            f"(reference {reference}), kept for a legal claim (GDPR Art. 17(3)(e)); "
            "erase again once the DPO has released it",
            err=True,
        )
    for problem in result.problems:
        click.echo(f"error: {problem}", err=True)
    if result.problems:
        sys.exit(EXIT_FAILED)
    if result.held:
        sys.exit(EXIT_ATTENTION)


def _local(text: str, tz: Any) -> str:
    import datetime as dt

    return f"{dt.datetime.fromisoformat(text).astimezone(tz):%Y-%m-%d %H:%M}"
