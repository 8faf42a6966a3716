"""S10: ``reccontrol vault migrate`` and ``reccontrol vault rotate`` killed with SIGKILL at
each of their steps (the stop points of ``controller/stoppoints.py``): every recording
stays readable, in one form or the other, and the next run finishes the job. Rotation
also runs under load: readers open every recording while it re-wraps their keys.

No Asterisk here: both are command-line processes on the vault's files.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.config import Config
from controller.config.encryption import site_vault
from controller.recordings import LocalVault
from controller.recordings.keyring import FixedSiteKeys, Keyring, SiteKeyMissing, parse_site_key
from controller.stoppoints import ANNOUNCEMENT
from controller.stoppoints import ENV as STOP_AT
from tests.sites import ENV, load_site, wav_bytes, write_site
from tests.stopping import kill_at_step

REPO = Path(__file__).resolve().parents[2]
FILES = 12
STOP_TIMEOUT = 120.0


def cli(config: Path, *args: str, stop_at: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    if stop_at is not None:
        env[STOP_AT] = stop_at
    return subprocess.Popen(
        [sys.executable, "-m", "controller", *args, "-c", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at(config: Path, step: str, *args: str) -> None:
    """Runs the command until it stops at ``step``, then kills it there with SIGKILL."""
    kill_at_step(cli(config, *args, stop_at=step), step)


def finish(config: Path, *args: str) -> str:
    process = cli(config, *args)
    out, err = process.communicate(timeout=STOP_TIMEOUT)
    assert process.returncode == 0, err
    return out


def site(tmp_path: Path) -> tuple[Path, Config]:
    path = write_site(tmp_path)
    return path, load_site(path)


def readable(config: Config, expected: dict[str, str]) -> None:
    """Every recording opens through the configured vault and is the one recorded."""
    vault = site_vault(config.recordings).vault
    names = sorted(p.name for p in vault.files() if not p.name.endswith(".partial"))
    assert names == sorted(expected)
    for name, digest in expected.items():
        with vault.reader(vault.vault_dir / name) as source:
            assert hashlib.sha256(source.read()).hexdigest() == digest, name


def plaintext_vault(config: Config) -> dict[str, str]:
    plain = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    plain.prepare()
    expected = {}
    for n in range(FILES):
        audio = wav_bytes(0.5 + n / 4)  # several chunks for the longer ones
        name = f"rec{n:02d}.wav"
        (plain.vault_dir / name).write_bytes(audio)
        (plain.vault_dir / name).chmod(0o600)
        expected[name] = hashlib.sha256(audio).hexdigest()
    return expected


@pytest.mark.parametrize(
    "step", ["migration-sealed", "migration-renamed", "migration-sealed@5", "migration-renamed@7"]
)
def test_s10_migration_killed_at_any_step_loses_nothing(tmp_path: Path, step: str) -> None:
    path, config = site(tmp_path)
    expected = plaintext_vault(config)
    kill_at(path, step, "vault", "migrate")
    readable(config, expected)
    kill_at(path, "migration-renamed@2", "vault", "migrate")
    readable(config, expected)
    out = finish(path, "vault", "migrate")
    assert out.startswith("sealed ") and f"; {FILES} already sealed" not in out
    vault = site_vault(config.recordings).vault
    assert all(vault.is_sealed(p) for p in vault.files())
    readable(config, expected)
    # Idempotent: a second run seals nothing more.
    assert finish(path, "vault", "migrate").strip() == (
        f"sealed 0 recording file(s); {FILES} already sealed"
    )


def sealed_vault(config: Config) -> dict[str, str]:
    vault = site_vault(config.recordings, create_key=True).vault
    vault.prepare()
    expected = {}
    for n in range(FILES):
        audio = wav_bytes(0.5 + n / 4)
        version = vault.write_version(vault.vault_dir / f"rec{n:02d}.wav", io.BytesIO(audio))
        expected[version.path.name] = version.sha256
    return expected


@pytest.mark.parametrize(
    "step", ["rotation-new-key", "rotation-rewrapped", "rotation-rewrapped@6", "rotation-finishing"]
)
def test_s10_rotation_killed_at_any_step_leaves_everything_readable(
    tmp_path: Path, step: str
) -> None:
    path, config = site(tmp_path)
    expected = sealed_vault(config)
    key_file = config.recordings.encryption.site_key_file
    assert key_file is not None
    old = parse_site_key(key_file.read_text())
    kill_at(path, step, "vault", "rotate")
    # Old and new key are both still in use: everything opens.
    readable(config, expected)
    kill_at(path, "rotation-finishing", "vault", "rotate")
    readable(config, expected)
    out = finish(path, "vault", "rotate")
    assert "site key rotated" in out and f"{FILES} in the keyring" in out
    assert not key_file.with_name(key_file.name + ".new").exists()
    new = parse_site_key(key_file.read_text())
    assert new != old
    readable(config, expected)
    # The old key opens nothing any more.
    vault = site_vault(config.recordings).vault
    assert vault.keyring is not None
    retired = LocalVault(
        vault.asterisk_dir, vault.vault_dir, Keyring(vault.keyring.folder, FixedSiteKeys((old,)))
    )
    for name in expected:
        with pytest.raises(SiteKeyMissing), retired.reader(vault.vault_dir / name):
            pass


def test_s10_rotation_under_load_every_read_succeeds(tmp_path: Path) -> None:
    """Readers open and read every recording, again and again, while the rotation runs
    beside them in its own process; none fails, and reads happen during it."""
    path, config = site(tmp_path)
    expected = sealed_vault(config)
    vault = site_vault(config.recordings).vault  # a reader's keys: loaded before the rotation
    reads: list[int] = [0]
    failures: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for name, digest in expected.items():
                try:
                    with vault.reader(vault.vault_dir / name) as source:
                        if hashlib.sha256(source.read()).hexdigest() != digest:
                            failures.append(f"{name}: wrong audio")
                except Exception as exc:  # every failure counts, whatever its kind
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        # Stopped once mid-way, so reads certainly happen while the keys are mixed.
        process = cli(path, "vault", "rotate", stop_at="rotation-rewrapped@4")
        assert process.stderr is not None
        for line in process.stderr:
            if line.strip() == f"{ANNOUNCEMENT}rotation-rewrapped@4":
                break
        before = reads[0]
        while reads[0] < before + 2 * FILES:
            threading.Event().wait(0.05)
        process.kill()
        process.wait()
        finish(path, "vault", "rotate")
        after = reads[0]
        while reads[0] < after + 2 * FILES:
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
