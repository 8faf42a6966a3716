"""A PostgreSQL server of the test process's own (N1): Debian's ``postgresql`` binaries,
``initdb`` in a temporary folder, ``postgres`` on a free port with its Unix socket in
that folder, stopped at the end of the session.

``initdb`` refuses to run as root: as root, the server runs as the ``postgres`` account
Debian's package creates (or ``nobody``), through ``setpriv``. The superuser has a
password, so the store's password path (``password_env``) is the one exercised.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.integration.conftest import free_port
from tests.waiting import blocking_until

SUPERUSER = "reccontrol_test"
# Accounts tried, in order, to run the server when the tests run as root.
SERVER_ACCOUNTS = ("postgres", "nobody")


class PostgresMissing(RuntimeError):
    """Debian's postgresql package is not installed (``./dev`` installs it)."""


def server_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and postgres."""
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresMissing(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run ./dev, which installs Debian's postgresql package"
        )
    return found[-1]


def _account() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current one, unless it is root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_ACCOUNTS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresMissing(f"none of the accounts {SERVER_ACCOUNTS} exists to run PostgreSQL")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str = "postgres") -> str:
        """The URL a store connects with (over TCP; the password is given apart)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), password=self.password, autocommit=True)

    def create_database(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def answers(self) -> bool:
        try:
            with self.admin() as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True


def _as(account: pwd.struct_passwd | None, command: list[str]) -> list[str]:
    if account is None:
        return command
    return [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--clear-groups",
        "--",
        *command,
    ]


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh cluster on a free port, removed on the way out."""
    binaries = server_binaries()
    account = _account()
    # Under /tmp (world-traversable), not pytest's root-only temp folder: the server's
    # account must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="reccontrol-pg-"))
    password = secrets.token_hex(16)
    (folder / "socket").mkdir()
    (folder / "pwfile").write_text(password + "\n", encoding="utf-8")
    if account is not None:
        for path in (folder, folder / "socket", folder / "pwfile"):
            os.chown(path, account.pw_uid, account.pw_gid)
    data = folder / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            _as(
                account,
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={folder / 'pwfile'}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            ),
            check=True,
            capture_output=True,
            env=env,
            cwd=folder,
        )
        port = free_port()
        log = (folder / "server.log").open("wb")
        process = subprocess.Popen(
            _as(
                account,
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(folder / "socket"),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # A test cluster: durability is not what is tested.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )
        server = PostgresServer(folder, port, password, process)
        blocking_until(
            lambda: True if process.poll() is not None or server.answers() else None,
            "PostgreSQL answers",
            within=60,
        )
        if process.poll() is not None:
            raise RuntimeError(
                "PostgreSQL did not start: "
                + (folder / "server.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            )
        yield server
    finally:
        if process is not None and process.poll() is None:
            # SIGINT: the server's "fast" shutdown.
            process.send_signal(2)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
