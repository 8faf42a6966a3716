"""The demo's console persons (S1, S5): fresh passwords, only their hashes on disk, and the
daemon held until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from controller.access.credentials import MIN_SCRYPT_LOG2_N, Password, check
from controller.config.governance_model import CredentialSource
from controller.demo.console import (
    DEMO_PERSONS,
    access_section,
    console_lines,
    make_sign_ins,
    until_stopped,
)
from tests.integration.conftest import free_port


def test_s1_s5_the_demo_writes_hashes_only_and_prints_each_password_once(
    tmp_path: Path,
) -> None:
    sign_ins = make_sign_ins()
    again = make_sign_ins()
    assert {s.password for s in sign_ins}.isdisjoint(s.password for s in again)

    # The lowest cost the daemon accepts, for speed; the demo uses the default.
    section = access_section(tmp_path / "access", sign_ins, log2_n=MIN_SCRYPT_LOG2_N)

    assert [p.role for p in DEMO_PERSONS] == ["supervisor", "quality", "dpo"]
    for sign_in in sign_ins:
        person = section["persons"][sign_in.person.id]
        path = Path(person["password_hash_file"])
        assert path.stat().st_mode & 0o077 == 0
        assert sign_in.password not in path.read_text(encoding="utf-8")
        assert sign_in.password not in repr(sign_in)
        source = CredentialSource("password", "file", str(path), "access")
        assert check(source, Password(sign_in.password), {})
        assert not check(source, Password(sign_in.password + "x"), {})
    url = f"http://127.0.0.1:{free_port()}"
    lines = console_lines(url, sign_ins)
    assert lines[0].startswith(f"The console: {url}/sign-in ")
    assert [sum(s.password in line for line in lines) for s in sign_ins] == [1, 1, 1]


async def test_the_kept_demo_holds_until_sigterm() -> None:
    holding = asyncio.create_task(until_stopped())
    await asyncio.sleep(0)
    assert not holding.done()

    os.kill(os.getpid(), signal.SIGTERM)

    await asyncio.wait_for(holding, timeout=10)
