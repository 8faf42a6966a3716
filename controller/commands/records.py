"""``reccontrol sheet`` and ``reccontrol recording``: summary sheets (with the agents'
rectification notes) and recordings, through the audited access service (S2, T2, S9)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click

from controller.audit.receipts import receipt_recordings
from controller.cli_support import config_option, fail, load_or_exit, open_vault
from controller.commands.auth import access_service, person_options, refusals, sign_in

EXIT_HELP = (
    "Exit status: 0 done; 1 failed; 2 config error; 4 refused (the refusal is in the access log)."
)


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: write {what} as CRITERION=VALUE")
        pairs[key] = rest
    return pairs


def _scores(values: tuple[str, ...]) -> dict[str, int]:
    scores = {}
    for key, value in _pairs(values, "a score").items():
        try:
            scores[key] = int(value)
        except ValueError:
            raise click.BadParameter(f"{key}: the score must be a whole number") from None
    return scores


def evaluation_options(func: Any) -> Any:
    func = click.option("--text", help="Free text of the sheet (no phone or card numbers).")(func)
    func = click.option(
        "--comment",
        multiple=True,
        metavar="CRITERION=TEXT",
        help="A comment for one criterion; repeat for several.",
    )(func)
    func = click.option(
        "--score",
        multiple=True,
        metavar="CRITERION=N",
        help="A score for one criterion (0 to its max_score); repeat for several.",
    )(func)
    return func


@click.group()
def sheet() -> None:
    """Summary sheets (T2): the evaluation of a call, kept at most sheets.retention_days
    (<= 365), and after its recording is gone, with the agent's rectification notes
    (S9)."""


@contextlib.contextmanager
def _signed_in(
    config_path: Path, person_id: str, token_file: Path | None
) -> Iterator[tuple[Any, Any, Any]]:
    config = load_or_exit(config_path)
    with access_service(config) as service, refusals():
        yield config, service, sign_in(service, person_id, token_file)


def _print_sheet(view: Any, tz: Any) -> None:
    s = view.sheet
    started = s.call_started_at.astimezone(tz)
    duration = f"{s.call_duration_seconds:.0f} s" if s.call_duration_seconds is not None else "-"
    click.echo(f"sheet {s.id} (version {s.version})")
    click.echo(f"employee:  {s.employee_name} ({s.employee_id})")
    click.echo(f"evaluator: {s.evaluator_name} ({s.evaluator_id})")
    click.echo(f"call:      {s.call_id or '-'}  {started:%Y-%m-%d %H:%M}  {duration}")
    recording = s.recording_id if view.recording_available else "no longer kept"
    click.echo(f"recording: {recording}")
    for score in s.scores:
        value = "-" if score.score is None else score.score
        click.echo(f"  {score.label}: {value}/{score.max_score}  {score.comment}")
    if s.free_text:
        click.echo(f"text: {s.free_text}")
    for number, note in enumerate(s.rectifications, start=1):
        whose = "the agent's words" if note.author == "agent" else "the DPO, for the agent"
        click.echo(
            f"rectification {number} ({note.id}): {note.at.astimezone(tz):%Y-%m-%d %H:%M}, "
            f"{whose}, entered by {note.entered_by_name} ({note.entered_by})"
        )
        click.echo(f"  why:  {note.purpose}")
        click.echo(f"  note: {note.note}")
    click.echo(f"expires:   {s.expires_at.astimezone(tz):%Y-%m-%d}")


@sheet.command("show", help="Show a summary sheet.\n\n" + EXIT_HELP)
@config_option
@person_options
@click.argument("sheet_id")
def sheet_show(
    config_path: Path, person_id: str, purpose: str, token_file: Path | None, sheet_id: str
) -> None:
    with _signed_in(config_path, person_id, token_file) as (config, service, person):
        view = service.sheet_read(person, purpose, sheet_id)
    _print_sheet(view, config.timezone)


@sheet.command(
    "create",
    help="Write a summary sheet for a call: the scores and comments per configured "
    "criterion, and free text. The employee, date, time and duration come from the call; "
    "you are the evaluator. Prints the new sheet's id.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.option("--call", "call_id", required=True, help="The call the sheet evaluates.")
@evaluation_options
def sheet_create(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    call_id: str,
    score: tuple[str, ...],
    comment: tuple[str, ...],
    text: str | None,
) -> None:
    scores, comments = _scores(score), _pairs(comment, "a comment")
    with _signed_in(config_path, person_id, token_file) as (_, service, person):
        created = service.sheet_create(person, purpose, call_id, scores, comments, text or "")
    click.echo(created.id)


@sheet.command(
    "edit",
    help="Change scores, comments or the free text of a summary sheet; what is not given "
    "stays.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("sheet_id")
@evaluation_options
def sheet_edit(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    sheet_id: str,
    score: tuple[str, ...],
    comment: tuple[str, ...],
    text: str | None,
) -> None:
    scores, comments = _scores(score), _pairs(comment, "a comment")
    with _signed_in(config_path, person_id, token_file) as (_, service, person):
        edited = service.sheet_edit(person, purpose, sheet_id, scores, comments, text)
    click.echo(f"sheet {edited.id}: version {edited.version}")


@sheet.command(
    "rectify",
    help="Attach the agent's rectification note to a summary sheet about them (S9): the "
    "agent's own words, or yours as DPO on their behalf. The note is kept with the sheet "
    "for the sheet's life, never edited (a later note supersedes), shown by sheet show "
    "and in the agent's export, and deleted with the sheet. The log records who, when, "
    "why and the note's length, not its text. The scores stay as the evaluator wrote "
    "them.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("sheet_id")
@click.option(
    "--note",
    required=True,
    help="The note, at most 4000 characters, without phone or card numbers.",
)
@click.option(
    "--author",
    type=click.Choice(["agent", "dpo"]),
    default="agent",
    show_default=True,
    help="Whose words the note is: the agent's (you enter them for the agent) or the "
    "DPO's, on the agent's behalf.",
)
def sheet_rectify(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    sheet_id: str,
    note: str,
    author: str,
) -> None:
    with _signed_in(config_path, person_id, token_file) as (_, service, person):
        added = service.sheet_rectify(person, purpose, sheet_id, note, author)
    click.echo(f"sheet {sheet_id}: rectification {added.id} added")


@click.group()
def recording() -> None:
    """Recordings: download, redact or delete one, through the audited access service (S2,
    S11)."""


@recording.command(
    "download",
    help="Copy a recording's audio to a new file (mode 0600) and check it against the hash "
    "recorded when it was stored.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("recording_id")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write; an existing file is not overwritten.",
)
def recording_download(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    recording_id: str,
    output: Path,
) -> None:
    from controller.recordings.vault import VaultError, copy_hashed

    with _signed_in(config_path, person_id, token_file) as (config, service, person):
        handle = service.download(person, purpose, recording_id)
    vault = open_vault(config)
    try:
        # The vault file is opened (and checked) first: a refused one creates nothing.
        with vault.reader(handle.path) as source:
            digest = _write_new(output, lambda out: copy_hashed(source, out, handle.path.name))
    except VaultError as exc:
        fail(f"recording {handle.recording_id}: {exc.error_id}: {exc}")
    if handle.sha256 and digest != handle.sha256:
        fail(f"{output} does not match the recorded hash")
    click.echo(f"wrote {output} (sha256 {handle.sha256})")


def _write_new(output: Path, write: Callable[[BinaryIO], str]) -> str:
    """Creates ``output`` (new, 0600, never through a link) and fills it with ``write``;
    removes it if that fails, so no half copy is left."""
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        fail(f"cannot create {output}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    return result


@recording.command(
    "delete",
    help="Delete a recording before its expiry: file and row, with a receipt in the access "
    "log.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("recording_id")
def recording_delete(
    config_path: Path, person_id: str, purpose: str, token_file: Path | None, recording_id: str
) -> None:
    with _signed_in(config_path, person_id, token_file) as (_, service, person):
        receipt = service.delete(person, purpose, recording_id)
    for deleted in receipt_recordings(receipt.details):
        click.echo(
            f"receipt {receipt.seq}: recording:{deleted.get('recording_id')} "
            f"sha256 {deleted.get('sha256')}"
        )


@recording.command(
    "redact",
    help="Silence a span of a call's recording for good (S11, the DPO): a new version is "
    "written with [--from, --to) as digital silence on every channel, same length, every "
    "other sample unchanged; the recording then points to it and the old version is "
    "shredded (its data key destroyed, then its file), so no backup can bring it back "
    "(an old version never sealed is only removed: the output says so). "
    "The access log keeps who, when, why, the span and both versions' hashes. Refused "
    "under a legal hold. A redaction a crash interrupted is finished (or undone, if the "
    "new version was not yet in place) first.\n\n" + EXIT_HELP,
)
@config_option
@person_options
@click.argument("call_id", metavar="CALL")
@click.option(
    "--from",
    "start",
    required=True,
    help="Where the silence starts, in seconds from the start of the recording (75.5) "
    "or M:SS (1:15.5).",
)
@click.option(
    "--to", "end", required=True, help="Where it ends (excluded), as --from; after --from."
)
@click.option(
    "--recording",
    "recording_id",
    help="The recording to redact, when the call has several (a transfer's segments).",
)
def recording_redact(
    config_path: Path,
    person_id: str,
    purpose: str,
    token_file: Path | None,
    call_id: str,
    start: str,
    end: str,
    recording_id: str | None,
) -> None:
    from controller.retention.redaction import old_version_fate

    with _signed_in(config_path, person_id, token_file) as (_, service, person):
        done = service.redact(person, purpose, call_id, recording_id, start, end)
    first, last = done.silence.seconds
    click.echo(
        f"recording {done.recording_id}: {first:.3f} s to {last:.3f} s silenced; "
        f"new version sha256 {done.new_sha256}"
    )
    fate = old_version_fate(done.old_key_destroyed)
    click.echo(f"old version sha256 {done.old_sha256}: {fate}")
    if done.entry is not None:
        click.echo(f"access log entry {done.entry.seq}")
