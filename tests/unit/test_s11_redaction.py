"""S11: redaction through the audited door, on a real store and a sealed vault: the new
version, the old version's data key destroyed, the access-log entry, the refusals (role,
legal hold, span, which recording), and a redaction stopped between any two steps."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.access.errors import NOT_FOUND
from controller.access.service import AccessRefused, AccessService
from controller.cli import cli
from controller.clock import FixedClock
from controller.config import Config
from controller.config.encryption import site_vault
from controller.config.model import Person
from controller.recordings import LocalVault
from controller.recordings.keyring import DataKeyDestroyed, FixedSiteKeys, Keyring
from controller.recordings.vault import VaultError
from controller.retention import redaction
from controller.store import SqliteStore
from tests.sites import ENV, add_call, add_recording, load_site, wav_bytes, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
SITE_KEY = bytes(range(32))
PURPOSE = "caller read a card number aloud"
STEPS = ("redaction-journaled", "redaction-written", "redaction-switched", "redaction-shredded")


@dataclass
class Site:
    config: Config
    store: SqliteStore
    vault: LocalVault
    service: AccessService
    root: Path

    def person(self, person_id: str) -> Person:
        return self.config.access.persons[person_id]

    def add(
        self, seconds: float = 2.0, rate: int = 8000, call_id: str | None = None, channels: int = 1
    ) -> str:
        return add_recording(
            self.store,
            self.vault,
            self.config,
            service="sales",
            created_at=T0,
            audio=wav_bytes(seconds, rate) if channels == 1 else stereo(seconds, rate),
            call_id=call_id,
        )[0]

    def plain(self, path: Path) -> bytes:
        with self.vault.reader(path) as source:
            return source.read()

    def row(self, call_id: str) -> dict[str, object]:
        summary = self.store.call_summary(call_id)
        assert summary is not None
        (row,) = summary["recordings"]
        return dict(row)


def stereo(seconds: float, rate: int) -> bytes:
    """A two-channel WAV (caller left, agent right) of random samples."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(os.urandom(int(seconds * rate) * 4))
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = load_site(write_site(tmp_path))
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    keyring = Keyring(tmp_path / "keyring", FixedSiteKeys((SITE_KEY,)))
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir, keyring)
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault.prepare()
    service = AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))
    yield Site(config, store, vault, service, tmp_path)
    store.close()


def entries(site: Site, action: str = "redact") -> list[tuple[str, str, dict[str, object]]]:
    return [
        (e.actor, e.result, dict(e.details))
        for e in site.store.access_entries()
        if e.action == action
    ]


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 2)])
def test_s11_the_dpo_silences_the_span_in_a_new_version_and_the_old_key_is_destroyed(
    site: Site, rate: int, channels: int
) -> None:
    call_id = site.add(seconds=2.0, rate=rate, channels=channels)
    before = site.row(call_id)
    old_path = Path(str(before["path"]))
    old_plain = site.plain(old_path)
    backup = site.root / "backup"
    backup.mkdir()
    shutil.copy2(old_path, backup / old_path.name)
    keys_before = site.vault.keyring.ids() if site.vault.keyring else []

    dpo = site.person("cdubois")
    done = site.service.redact(dpo, PURPOSE, call_id, None, "0.5", "1.25")

    after = site.row(call_id)
    new_path = Path(str(after["path"]))
    assert new_path != old_path and new_path.parent == site.vault.vault_dir
    assert after["sha256"] == done.new_sha256 != before["sha256"]
    new_plain = site.plain(new_path)
    frame = 2 * channels
    start, end = 44 + rate // 2 * frame, 44 + rate * 5 // 4 * frame
    assert len(new_plain) == len(old_plain)
    assert new_plain[:start] == old_plain[:start]
    assert new_plain[start:end] == bytes(end - start)
    assert new_plain[end:] == old_plain[end:]
    # The old version is gone, and its data key: a backup's copy cannot be decrypted.
    assert not old_path.exists()
    assert site.vault.keyring is not None and len(site.vault.keyring.ids()) == len(keys_before)
    copy = LocalVault(site.vault.asterisk_dir, backup, site.vault.keyring)
    with pytest.raises(DataKeyDestroyed), copy.reader(backup / old_path.name) as source:
        source.read()
    assert sorted(site.vault.vault_dir.iterdir()) == [new_path]
    # Who, why, the span and both hashes; the chain verifies.
    ((actor, result, details),) = entries(site)
    assert (actor, result) == ("cdubois", "ok")
    assert details["span"] == "0.5-1.25" and details["silenced"] == [0.5, 1.25]
    assert details["old_sha256"] == before["sha256"]
    assert details["new_sha256"] == after["sha256"]
    assert details["old_key_destroyed"] is True and done.old_key_destroyed
    assert done.entry is not None and done.entry.purpose == PURPOSE
    assert site.store.verify_access_log(site.config.audit.checkpoint_key).ok
    assert site.store.pending_redactions() == []


@pytest.mark.parametrize("person_id", ["mleroy", "snguyen", "tadmin"])
def test_s11_only_the_dpo_may_redact(site: Site, person_id: str) -> None:
    call_id = site.add()
    before = site.row(call_id)
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(site.person(person_id), PURPOSE, call_id, None, "0", "1")
    assert caught.value.error_id == "forbidden" and "may not redact" in caught.value.reason
    assert site.row(call_id) == before
    ((actor, result, details),) = entries(site)
    assert (actor, result) == (person_id, "refused")
    assert details["reason"] == caught.value.reason


def test_s11_a_recording_under_a_legal_hold_is_not_redacted(site: Site) -> None:
    call_id = site.add()
    before = site.row(call_id)
    dpo = site.person("cdubois")
    review_by = T0 + dt.timedelta(days=30)
    site.service.hold_place(dpo, "dispute with a caller", call_id, "litigation", "REF-A", review_by)
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(dpo, PURPOSE, call_id, None, "0", "1")
    assert "legal hold (reference REF-A)" in caught.value.reason
    assert site.row(call_id) == before
    assert site.plain(Path(str(before["path"])))  # still readable
    ((_, result, details),) = entries(site)
    assert result == "refused" and "legal hold" in str(details["reason"])


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("1", "0.5", "--to: 0.5 s is not after --from (1 s)"),
        ("0", "2.5", "--to: 2.5 s is past the end of the recording (2 s)"),
        ("2", "3", "--from: 2 s is at or past the end"),
        ("abc", "1", "--from: 'abc' is not a number of seconds"),
        ("0", "-1", "--to: -1 is before the start"),
    ],
)
def test_s11_a_bad_span_is_refused_naming_the_option_and_nothing_is_written(
    site: Site, start: str, end: str, words: str
) -> None:
    call_id = site.add(seconds=2.0)
    before = site.row(call_id)
    files = sorted(site.vault.vault_dir.iterdir())
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(site.person("cdubois"), PURPOSE, call_id, None, start, end)
    assert caught.value.error_id == "bad-span"
    assert words in caught.value.reason
    assert site.row(call_id) == before
    assert sorted(site.vault.vault_dir.iterdir()) == files
    ((_, result, details),) = entries(site)
    assert result == "refused" and words in str(details["reason"])


def test_s11_the_recording_must_be_named_when_the_call_has_several(site: Site) -> None:
    call_id = add_call(site.store, site.config, service="sales", started_at=T0)
    site.add(call_id=call_id)
    site.add(call_id=call_id)
    summary = site.store.call_summary(call_id)
    assert summary is not None
    first, second = (str(r["id"]) for r in summary["recordings"])
    dpo = site.person("cdubois")
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(dpo, PURPOSE, call_id, None, "0", "1")
    assert caught.value.error_id == "bad-recording"
    assert "has 2 stored recordings" in caught.value.reason and "--recording" in caught.value.reason
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(dpo, PURPOSE, call_id, "feedface", "0", "1")
    assert "--recording: feedface is not a stored recording of call" in caught.value.reason
    done = site.service.redact(dpo, PURPOSE, call_id, second, "0", "1")
    assert done.recording_id == second
    summary = site.store.call_summary(call_id)
    assert summary is not None
    hashes = {str(r["id"]): r["sha256"] for r in summary["recordings"]}
    assert hashes[second] == done.new_sha256 and hashes[first] != done.new_sha256


def test_s11_no_such_call_reads_as_not_found(site: Site) -> None:
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(site.person("cdubois"), PURPOSE, "0123abcd", None, "0", "1")
    assert caught.value.error_id == NOT_FOUND


class Killed(BaseException):
    """Stands for SIGKILL at a stop point: no handler of the code under test catches it,
    so nothing after the point runs (the real kill: tests/faults/test_s11_redaction_killed)."""


@pytest.mark.parametrize("step", STEPS)
def test_s11_a_redaction_stopped_at_any_step_ends_with_one_readable_version_and_no_stray_key(
    site: Site, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = site.add(seconds=2.0)
    before = site.row(call_id)
    old_plain = site.plain(Path(str(before["path"])))
    dpo = site.person("cdubois")

    def stop(name: str) -> None:
        if name == step:
            raise Killed(name)

    monkeypatch.setattr(redaction, "stop_point", stop)
    with pytest.raises(Killed):
        site.service.redact(dpo, PURPOSE, call_id, None, "0.5", "1")
    monkeypatch.undo()
    assert len(site.store.pending_redactions()) == 1
    # What the daemon does at start (and every redaction first).
    (entry,) = site.service.finish_redactions()
    assert site.store.pending_redactions() == []
    row = site.row(call_id)
    path = Path(str(row["path"]))
    # Exactly one version: the file the row names, readable, with the key of its own.
    assert sorted(site.vault.vault_dir.iterdir()) == [path]
    assert site.vault.keyring is not None and len(site.vault.keyring.ids()) == 1
    now = site.plain(path)
    assert len(now) == len(old_plain)
    if step in ("redaction-journaled", "redaction-written"):
        assert row == before and now == old_plain
        assert entry.result == "error" and "interrupted" in str(entry.details["reason"])
    else:
        assert row["sha256"] != before["sha256"]
        assert now[44 + 8000 : 44 + 16000] == bytes(8000)
        assert entry.result == "ok" and entry.details["finished_by"] == "system"
        assert entry.details["new_sha256"] == row["sha256"]
    assert entry.actor == "cdubois" and entry.purpose == PURPOSE
    assert site.store.verify_access_log(site.config.audit.checkpoint_key).ok
    # Nothing left to finish: a second pass writes nothing.
    assert site.service.finish_redactions() == []


# -- the command line ------------------------------------------------------------------------
def cli_site(tmp_path: Path) -> tuple[Path, Config, str]:
    """A site whose vault seals (its key made as at the daemon's first start), with one
    two-second recording; its config path, config and call id."""
    config_path = write_site(tmp_path)
    config = load_site(config_path)
    vault = site_vault(config.recordings, create_key=True).vault
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault.prepare()
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    try:
        call_id, _ = add_recording(
            store, vault, config, service="sales", created_at=T0, audio=wav_bytes(2.0)
        )
    finally:
        store.close()
    return config_path, config, call_id


def redact_cli(config_path: Path, person: str, call_id: str, *span: str) -> Result:
    token = config_path.parent / "access" / f"{person}.token"
    args = ["recording", "redact", "-c", str(config_path), call_id, *span]
    args += ["--as", person, "--purpose", PURPOSE, "--token-file", str(token)]
    return CliRunner().invoke(cli, args, env=ENV)


def test_s11_the_command_redacts_and_says_what_it_silenced(tmp_path: Path) -> None:
    config_path, config, call_id = cli_site(tmp_path)

    result = redact_cli(config_path, "cdubois", call_id, "--from", "0:00.5", "--to", "1.25")

    assert result.exit_code == 0, result.output
    store = SqliteStore.open(config.store.path)
    try:
        summary = store.call_summary(call_id)
        assert summary is not None
        (row,) = summary["recordings"]
        (entry,) = [e for e in store.access_entries() if e.action == "redact"]
    finally:
        store.close()
    lines = result.output.splitlines()
    assert lines[0] == (
        f"recording {row['id']}: 0.500 s to 1.250 s silenced; new version sha256 {row['sha256']}"
    )
    assert lines[1] == (
        f"old version sha256 {entry.details['old_sha256']}: "
        "shredded: its data key destroyed, then its file"
    )
    assert entry.details["old_key_destroyed"] is True
    assert lines[2] == f"access log entry {entry.seq}"


def test_s11_the_command_refuses_a_bad_span_with_exit_4_naming_the_option(
    tmp_path: Path,
) -> None:
    config_path, _, call_id = cli_site(tmp_path)

    result = redact_cli(config_path, "cdubois", call_id, "--from", "1", "--to", "3")

    assert result.exit_code == 4
    assert "refused: --to: 3 s is past the end of the recording (2 s)" in result.output
    refused = redact_cli(config_path, "mleroy", call_id, "--from", "0", "--to", "1")
    assert refused.exit_code == 4 and "role supervisor may not redact" in refused.output


def test_s11_a_hold_placed_while_the_new_version_is_written_wins(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A legal hold placed between the checks and the switch (by another process, say)
    is seen in the switch's transaction: the new version is shredded, the recording
    keeps its old one, the refusal is logged."""
    call_id = site.add(seconds=2.0)
    before = site.row(call_id)
    dpo = site.person("cdubois")
    review_by = T0 + dt.timedelta(days=30)

    def hold_now(name: str) -> None:
        if name == "redaction-written":
            reason = "dispute with a caller"
            site.service.hold_place(dpo, reason, call_id, "claim", "REF-B", review_by)

    monkeypatch.setattr(redaction, "stop_point", hold_now)
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(dpo, PURPOSE, call_id, None, "0.5", "1")

    assert "legal hold (reference REF-B)" in caught.value.reason
    assert site.row(call_id) == before
    assert sorted(site.vault.vault_dir.iterdir()) == [Path(str(before["path"]))]
    assert site.vault.keyring is not None and len(site.vault.keyring.ids()) == 1
    assert site.store.pending_redactions() == []
    results = [(result, str(details.get("reason", ""))) for _, result, details in entries(site)]
    assert [r for r, _ in results] == ["error", "refused"]
    assert "legal hold" in results[1][1]


def test_s11_an_old_version_that_was_not_sealed_is_said_to_be_only_removed(
    site: Site,
) -> None:
    """A vault not yet migrated to sealed files (S10): the old version has no data key to
    destroy, so its copies in earlier backups stay readable; the entry and the answer
    say so rather than claim a shredding."""
    plain = LocalVault(site.vault.asterisk_dir, site.vault.vault_dir)
    call_id = add_recording(
        site.store, plain, site.config, service="sales", created_at=T0, audio=wav_bytes(2.0)
    )[0]
    old_path = Path(str(site.row(call_id)["path"]))
    assert not site.vault.is_sealed(old_path)

    done = site.service.redact(site.person("cdubois"), PURPOSE, call_id, None, "0", "1")

    assert not done.old_key_destroyed and not old_path.exists()
    assert site.vault.is_sealed(Path(str(site.row(call_id)["path"])))
    ((_, result, details),) = entries(site)
    assert result == "ok" and details["old_key_destroyed"] is False
    assert "not sealed" in str(details["old_version"])


def test_s11_an_interrupted_redaction_that_cannot_end_now_stays_and_blocks_only_its_recording(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = site.add(seconds=2.0)
    other = site.add(seconds=2.0)
    dpo = site.person("cdubois")

    def stop(name: str) -> None:
        if name == "redaction-switched":
            raise Killed(name)

    monkeypatch.setattr(redaction, "stop_point", stop)
    with pytest.raises(Killed):
        site.service.redact(dpo, PURPOSE, call_id, None, "0", "1")
    monkeypatch.undo()

    def unwritable(path: Path) -> bool:
        raise VaultError(f"cannot remove {path.name}: read-only file system")

    monkeypatch.setattr(site.vault, "shred", unwritable)
    assert site.service.finish_redactions() == []
    assert len(site.store.pending_redactions()) == 1
    with pytest.raises(AccessRefused) as caught:
        site.service.redact(dpo, PURPOSE, call_id, None, "1", "2")
    assert caught.value.error_id == "redaction-under-way"
    monkeypatch.undo()
    # Another recording is redacted all the same; then the stuck one ends.
    done = site.service.redact(dpo, PURPOSE, other, None, "0", "1")
    assert done.entry is not None and done.entry.result == "ok"
    assert site.store.pending_redactions() == []
    assert sorted(site.vault.vault_dir.iterdir()) == sorted(
        Path(str(site.row(c)["path"])) for c in (call_id, other)
    )
