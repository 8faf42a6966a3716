"""S11: a real ``reccontrol recording redact`` process killed (SIGKILL) between any two of
its steps leaves the recording with exactly one readable version, the one its row names;
the next redaction ends the interrupted one first (finished if the new version was in
place, else undone), so no stray version is left in the vault and the access log has one
entry for it, and its chain verifies.

Each round stops the process at a named step (``RECCONTROL_STOP_AT``, see
``controller/stoppoints.py``) and kills it there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.config import Config
from controller.config.encryption import site_vault
from controller.recordings import LocalVault
from controller.stoppoints import ENV as STOP_AT
from controller.store import SqliteStore
from tests.sites import ENV, add_recording, load_site, wav_bytes, write_site
from tests.stopping import kill_at_step, start_stopping_at

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
STOP_TIMEOUT = 60.0
BEFORE_SWITCH = ("redaction-journaled", "redaction-written")
AFTER_SWITCH = ("redaction-switched", "redaction-shredded")


def redact_command(config_path: Path, root: Path, call_id: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "controller",
        "recording",
        "redact",
        call_id,
        "--from",
        "0.5",
        "--to",
        "1",
        "-c",
        str(config_path),
        "--as",
        "cdubois",
        "--purpose",
        "a caller read out a card number",
        "--token-file",
        str(root / "access" / "cdubois.token"),
    ]


def current(config: Config, call_id: str) -> tuple[Path, str]:
    """The file the recording's row names, checked readable and matching its hash."""
    store = SqliteStore.open(config.store.path)
    try:
        summary = store.call_summary(call_id)
        assert summary is not None
        (row,) = summary["recordings"]
    finally:
        store.close()
    assert row["state"] == "stored"
    path = Path(row["path"])
    with vault_of(config).reader(path) as source:
        assert hashlib.sha256(source.read()).hexdigest() == row["sha256"]
    return path, str(row["sha256"])


def vault_of(config: Config) -> LocalVault:
    """The site's vault, sealed (S10): its site key made as the daemon's first start does."""
    return site_vault(config.recordings, create_key=True).vault


@pytest.mark.parametrize("step", [*BEFORE_SWITCH, *AFTER_SWITCH])
def test_s11_redaction_killed_at_each_step_leaves_one_version_and_the_next_run_ends_it(
    tmp_path: Path, step: str
) -> None:
    config_path = write_site(tmp_path)
    config = load_site(config_path)
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault = vault_of(config)
    vault.prepare()
    call_id, recording_id = add_recording(
        store, vault, config, service="sales", created_at=T0, audio=wav_bytes(2.0)
    )
    other_call, _ = add_recording(
        store, vault, config, service="sales", created_at=T0, audio=wav_bytes(2.0)
    )
    store.close()
    original, original_sha = current(config, call_id)
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    env.pop(STOP_AT, None)

    kill_at_step(start_stopping_at(redact_command(config_path, tmp_path, call_id), env, step), step)
    # Killed: the row names one readable version (the old one until the switch).
    path, sha = current(config, call_id)
    assert (path == original) == (step in BEFORE_SWITCH)

    # The next redaction (of another call) ends the interrupted one first.
    done = subprocess.run(
        redact_command(config_path, tmp_path, other_call),
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    path, sha = current(config, call_id)
    other_path, _ = current(config, other_call)
    # One version each, and nothing else in the vault: no stray new or old version, and
    # no data key but theirs.
    assert sorted(config.recordings.vault_dir.iterdir()) == sorted([path, other_path])
    assert vault.keyring is not None and len(vault.keyring.ids()) == 2
    assert vault.is_sealed(path) and vault.is_sealed(other_path)
    with vault.reader(path) as source:
        audio = source.read()
    silenced = audio[44 + 8000 : 44 + 16000] == bytes(8000)
    store = SqliteStore.open(config.store.path)
    try:
        assert store.pending_redactions() == []
        (entry,) = [
            e
            for e in store.access_entries()
            if e.action == "redact" and e.target == f"recording:{recording_id}"
        ]
        assert entry.details["old_sha256"] == original_sha
        if step in BEFORE_SWITCH:
            assert (path, sha) == (original, original_sha) and not silenced
            assert entry.result == "error" and "interrupted" in str(entry.details["reason"])
        else:
            assert path != original and silenced
            assert entry.result == "ok" and entry.details["finished_by"] == "system"
            assert entry.details["new_sha256"] == sha
        verdict = store.verify_access_log(config.audit.checkpoint_key)
        assert verdict.ok, verdict.describe()
    finally:
        store.close()
