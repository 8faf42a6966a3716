"""Building the chroot: cached, rebuilt after an interrupted run, never wiping a folder
it did not create. A stand-in debootstrap keeps these fast and offline; the real one
runs in the session fixture."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from controller.sandbox import Sandbox, SandboxError
from controller.sandbox.host import mounts_under
from tests.integration.conftest import REPOSITORY

FAKE_DEBOOTSTRAP = """#!/bin/sh
# Called as: debootstrap [options...] suite target mirror. Leaves what the sandbox checks.
echo "$@" >> "$FAKE_LOG"
eval target=\\${$(($# - 1))}
mkdir -p "$target/usr/sbin" "$target/etc" "$target/proc"
printf '#!/bin/sh\\n' > "$target/usr/sbin/asterisk"
echo 'asterisk:x:101:101::/var/lib/asterisk:/usr/sbin/nologin' > "$target/etc/passwd"
"""


@pytest.fixture
def fake_debootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    script = tools / "debootstrap"
    script.write_text(FAKE_DEBOOTSTRAP)
    script.chmod(0o755)
    log = tmp_path / "debootstrap.calls"
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    return log


def sandbox_at(root: Path) -> Sandbox:
    return Sandbox(
        root,
        REPOSITORY / "config" / "asterisk",
        REPOSITORY / "dialplan",
        mirror="http://mirror.example/debian",
    )


def test_build_is_cached(fake_debootstrap: Path, tmp_path: Path) -> None:
    box = sandbox_at(tmp_path / "root")
    box.ensure_built()
    box.ensure_built()
    calls = fake_debootstrap.read_text().splitlines()
    assert len(calls) == 1
    assert calls[0].startswith("--variant=minbase --include=asterisk,")
    assert calls[0].endswith(f" sid {tmp_path / 'root'} http://mirror.example/debian")
    assert box.is_built()
    assert not (tmp_path / "root/.reccontrol-partial").exists()


def test_half_built_root_is_unmounted_wiped_and_rebuilt(
    fake_debootstrap: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    # What an interrupted run leaves: our partial marker, some files, a mount inside.
    (root / "proc").mkdir(parents=True)
    (root / ".reccontrol-partial").write_text("")
    (root / "leftover").write_text("")
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "proc")], check=True)
    try:
        (root / "proc" / "inside-the-mount").write_text("")
        box = sandbox_at(root)
        assert not box.is_built()
        box.ensure_built()
    finally:
        if mounts_under(root):
            subprocess.run(["umount", str(root / "proc")], check=False)
    assert box.is_built()
    assert mounts_under(root) == []
    assert not (root / "leftover").exists()
    assert len(fake_debootstrap.read_text().splitlines()) == 1


def test_a_folder_the_sandbox_did_not_create_is_never_wiped(
    fake_debootstrap: Path, tmp_path: Path
) -> None:
    root = tmp_path / "precious"
    root.mkdir()
    (root / "data").write_text("keep me")
    with pytest.raises(SandboxError, match="is not a sandbox root"):
        sandbox_at(root).ensure_built()
    assert (root / "data").read_text() == "keep me"
    assert not fake_debootstrap.exists()


def test_missing_debootstrap_is_one_clear_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("controller.sandbox.host._SBIN_PATH", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"^debootstrap is not installed: apt-get install"):
        sandbox_at(tmp_path / "root").ensure_built()
