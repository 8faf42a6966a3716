"""The demo's console: the persons who sign in to it, and the daemon kept running for
them once the demo's calls are made (``reccontrol demo --keep``).

Their passwords are made at each run and printed once, beside the console's address;
only their scrypt hashes are written, in the demo's folder, as the access list wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.access.credentials import SCRYPT_LOG2_N, hash_password


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    role: str
    services: tuple[str, ...]
    title: str
    """What the demo calls them when it prints their sign-in."""


# A supervisor and the DPO see every service; the quality analyst only two, so the
# console shows a scope at work.
DEMO_PERSONS = (
    DemoPerson("mleroy", "Marc Leroy", "supervisor", ("*",), "supervisor"),
    DemoPerson("snguyen", "Sophie Nguyen", "quality", ("sales", "hotline"), "quality analyst"),
    DemoPerson("cdubois", "Claire Dubois", "dpo", ("*",), "DPO"),
)


@dataclass(frozen=True)
class SignIn:
    person: DemoPerson
    password: str

    def __repr__(self) -> str:
        return f"SignIn({self.person.id}, ***)"


def make_sign_ins(persons: Iterable[DemoPerson] = DEMO_PERSONS) -> list[SignIn]:
    """A fresh password for each person: the demo never ships one."""
    return [SignIn(person, secrets.token_urlsafe(9)) for person in persons]


def access_section(
    folder: Path, sign_ins: Iterable[SignIn], log2_n: int = SCRYPT_LOG2_N
) -> dict[str, Any]:
    """The config's ``access`` section; each password's hash (scrypt, cost ``2^log2_n``)
    is written in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    persons: dict[str, Any] = {}
    for sign_in in sign_ins:
        person = sign_in.person
        path = folder / f"{person.id}.scrypt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(hash_password(sign_in.password, log2_n=log2_n) + "\n")
        persons[person.id] = {
            "name": person.name,
            "role": person.role,
            "services": list(person.services),
            "password_hash_file": str(path),
        }
    return {"persons": persons}


def console_lines(url: str, sign_ins: Iterable[SignIn]) -> list[str]:
    """What the demo prints for a newcomer to open the console."""
    lines = [f"The console: {url}/sign-in (Ctrl-C stops the daemon)"]
    for sign_in in sign_ins:
        person = sign_in.person
        scope = "all services" if "*" in person.services else ", ".join(person.services)
        lines.append(
            f"  {person.title:<16} {person.name:<14} id {person.id:<8} "
            f"password {sign_in.password}   ({scope})"
        )
    return lines


async def until_stopped() -> None:
    """Waits for SIGTERM; Ctrl-C cancels the wait as it cancels ``asyncio.run``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
