"""How a CLI user proves who they are (S1): ``--as PERSON`` and a token file, or the
person's password typed at a prompt. The resulting person is what the access log
names."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.cli_support import EXIT_FAILED, EXIT_REFUSED, fail, open_store, open_vault
from controller.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def person_options(func: F) -> F:
    """``--as``, ``--purpose`` and ``--token-file``, for commands that go through the
    access service."""
    func = click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="RECCONTROL_TOKEN_FILE",
        help="File holding your access token (env RECCONTROL_TOKEN_FILE). Without it, "
        "your password is asked at a prompt.",
    )(func)
    func = click.option(
        "--purpose",
        required=True,
        help="Why you need this access, in words (S2). Logged with the action; never put "
        "phone or card numbers in it.",
    )(func)
    func = click.option(
        "--as",
        "person_id",
        required=True,
        help="Your id in access.persons of the config.",
    )(func)
    return func


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"cannot read the token file {path}: {exc.strerror or exc}")
    if not token:
        fail(f"the token file {path} is empty")
    return token


def sign_in(service: Any, person_id: str, token_file: Path | None) -> Any:
    """The authenticated person, or exit 4 (the refusal is in the access log)."""
    from controller.access.credentials import Password, Presented, Token
    from controller.access.service import AccessRefused

    presented: Presented
    if token_file is not None:
        presented = Token(read_token(token_file))
    else:
        presented = Password(click.prompt(f"Password for {person_id}", hide_input=True, err=True))
    try:
        return service.authenticate(person_id, presented)
    except AccessRefused as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        fail(f"refused: {exc.reason}{detail}", EXIT_REFUSED)


@contextlib.contextmanager
def access_service(config: Config) -> Iterator[Any]:
    """The access service on a store opened for this command, closed afterwards."""
    from controller.access.service import AccessService
    from controller.clock import SystemClock
    store = open_store(config)
    try:
        vault = open_vault(config)
        yield AccessService(config, store, vault, SystemClock())
    finally:
        store.close()


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """A refusal exits 4 (it is already in the access log); a failure exits 1, as does an
    access log that cannot be written (the access was not done)."""
    from controller.access.service import AccessFailed, AccessRefused
    from controller.audit.errors import AccessLogError

    try:
        yield
    except AccessRefused as exc:
        fail(f"refused: {exc.reason}", EXIT_REFUSED)
    except AccessFailed as exc:
        fail(str(exc), EXIT_FAILED)
    except AccessLogError as exc:
        fail(f"{exc} ({exc.error_id})", EXIT_FAILED)
