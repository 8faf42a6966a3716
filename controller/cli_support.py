"""What every ``reccontrol`` command shares: loading the config, opening the store,
failing with a clear message and a documented exit code."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from zoneinfo import ZoneInfo

import click

from controller.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from controller.recordings import LocalVault
    from controller.store import SqliteStore

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_ATTENTION = 3
EXIT_REFUSED = 4


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_or_exit(path: str | Path, *, secrets: bool = True) -> Config:
    """Loads the config, or prints one line per problem and exits 2. ``secrets=False``
    never reads a secret (for documents and offline checks): they are left empty."""
    try:
        return load_config(path, resolve_secrets=secrets)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The reccontrol YAML configuration file.",
)


def open_vault(config: Config) -> LocalVault:
    """The vault the config describes (sealed by default, S10); exits 2 when it holds
    sealed recordings and no site key that opens them."""
    from controller.config.encryption import VaultKeyUnusable, site_vault

    try:
        return site_vault(config.recordings).vault
    except VaultKeyUnusable as exc:
        fail(f"{exc} ({exc.error_id})", EXIT_CONFIG)


def open_store(config: Config) -> SqliteStore:
    from controller.store import StoreError
    from controller.store.opening import open_configured

    try:
        return open_configured(config.store, audit_key=config.audit.checkpoint_key)
    except StoreError as exc:
        fail(str(exc))


def parse_day(text: str | None, timezone: ZoneInfo, *, end: bool) -> dt.datetime | None:
    """A date (YYYY-MM-DD, whole day in the site's time zone, inclusive) or a date and
    time (ISO 8601) into UTC. ``end`` gives the first moment after the day."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(0), tzinfo=timezone)
            if end:
                moment += dt.timedelta(days=1)
            return moment.astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.astimezone(dt.UTC)
