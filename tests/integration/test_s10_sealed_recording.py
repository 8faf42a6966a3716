"""S10 on a real call: the vault file of a real recording holds no plaintext audio (the
tone detector finds no marker in its bytes read as PCM), while the audited download
through reccontrol holds both voices; the site was sealed by default, its key made at
the daemon's first start."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.access.credentials import hash_token
from controller.cli import cli
from controller.demo.site import SandboxSite
from controller.recordings.sealing import is_sealed
from controller.sandbox import SandboxInstance
from tests.audio import Audio, raw_pcm, read_wav, tone_seconds, tone_spans
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE, running_flow, service

CALLER_NUMBER = "+33612345678"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def dpo(site: SandboxSite) -> tuple[dict[str, object], Path]:
    """A DPO who may download, and the token file they sign in with."""
    site.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    token_file = site.workdir / "dpo.token"
    token_file.write_text(token + "\n")
    (site.workdir / "dpo.token-hash").write_text(hash_token(token) + "\n")
    person = {
        "name": "Claire Dubois",
        "role": "dpo",
        "services": ["*"],
        "token_hash_file": str(site.workdir / "dpo.token-hash"),
    }
    return {"persons": {"cdubois": person}}, token_file


async def test_s10_the_vault_file_holds_no_audio_the_audited_download_does(
    site: SandboxSite, tmp_path: Path
) -> None:
    access, token_file = dpo(site)
    async with running_flow(
        site, services={"sales": service(site)}, draws=[0.1], access=access
    ) as flow:
        await flow.board.call("sales", "c-talk-9", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)

    (rec,) = call["recordings"]
    assert rec["state"] == "stored"
    path = Path(rec["path"])
    assert flow.vault_files() == [path]
    stored = path.read_bytes()
    assert is_sealed(stored)
    # Sealed by default: the site key was generated, private, beside the vault.
    key_file = flow.vault.with_name("vault-site.key")
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Whoever copies the vault file hears nothing: no marker in its bytes as PCM, only
    # noise, whose frames now and then pass for a tone (a voice lasts seconds).
    raw = raw_pcm(path)
    assert raw.duration > 4.0
    for marker in (CALLER_VOICE, AGENT_VOICE):
        assert longest_span(raw, marker) < 0.1
        assert tone_seconds(raw, marker) < 0.05 * raw.duration

    out = tmp_path / "downloaded.wav"
    result = CliRunner().invoke(
        cli,
        [
            "recording", "download", "-c", str(site.workdir / "reccontrol.yaml"), rec["id"],
            "--output", str(out), "--as", "cdubois", "--purpose", "complaint C-12",
            "--token-file", str(token_file),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == rec["sha256"]
    audio = read_wav(out)
    assert audio.duration == pytest.approx(rec["duration_seconds"], abs=0.01)
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert tone_seconds(audio, AGENT_VOICE) > 0.8 * audio.duration
    # The same reading of bytes as PCM finds the voices in the plaintext at once.
    assert longest_span(raw_pcm(out), CALLER_VOICE) > 1.0


def longest_span(audio: Audio, freq: float) -> float:
    return max((end - start for start, end in tone_spans(audio, freq)), default=0.0)
