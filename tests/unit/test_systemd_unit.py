"""The systemd unit shipped in systemd/: verified by systemd itself, and hardened as the
README's "Install with systemd" promises."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
UNIT = REPOSITORY / "systemd" / "reccontrol.service"


def directives(text: str) -> dict[str, list[str]]:
    """Key to values, in order (a key such as LoadCredential= may repeat)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def analyze_verify(root: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed: apt-get install systemd", pytrace=False)
    return subprocess.run(
        [tool, f"--root={root}", "verify", "reccontrol.service"],
        capture_output=True,
        text=True,
        check=False,
    )


def installed_root(tmp_path: Path, unit_text: str) -> Path:
    """A root file system laid out as the README's steps leave it: the venv's command
    (a stand-in: systemd only checks it is executable), the unit, systemd's own units."""
    root = tmp_path / "root"
    command = root / "opt/reccontrol/bin/reccontrol"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    (units / "reccontrol.service").write_text(unit_text)
    for system_units in (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")):
        if system_units.is_dir():
            shutil.copytree(system_units, root / "lib/systemd/system", symlinks=True)
            break
    return root


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    done = analyze_verify(installed_root(tmp_path, UNIT.read_text()))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "" and done.stdout.strip() == ""


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt value is reported."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest")
    done = analyze_verify(installed_root(tmp_path, broken))
    assert "ProtectSystem" in done.stderr or "protect system" in done.stderr.lower()


def test_unit_runs_confined_as_reccontrol_outside_asterisk_group_S4_S5() -> None:
    """S4, S5: its own user and group, never Asterisk's group (which reads Asterisk's own
    secrets), only the recording folder's group; restarted always, read-only system but
    for the store and vault, the witness and Asterisk's recording folder (out of which it
    moves each file), secrets from LoadCredential=, never from the YAML."""
    unit = directives(UNIT.read_text())
    assert unit["User"] == ["reccontrol"]
    assert unit["Group"] == ["reccontrol"]
    assert unit["SupplementaryGroups"] == ["reccontrol-spool"]
    assert "asterisk" not in " ".join(unit["Group"] + unit["SupplementaryGroups"]).split()
    assert unit["Restart"] == ["always"]
    # Config errors (2) and a store newer than the code (4) would only loop.
    assert unit["RestartPreventExitStatus"] == ["2 4"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["PrivateTmp"] == ["yes"]
    assert unit["StateDirectory"] == ["reccontrol"] and unit["StateDirectoryMode"] == ["0700"]
    assert unit["LogsDirectory"] == ["reccontrol reccontrol-witness"]
    assert unit["LogsDirectoryMode"] == ["0700"]
    (writable,) = unit["ReadWritePaths"]
    assert writable.split() == ["/var/spool/asterisk/recording"]
    credentials = {value.split(":", 1)[0] for value in unit["LoadCredential"]}
    assert credentials == {"ari_password", "caller_hmac_key", "audit_key"}
    assert unit["ExecStart"] == [
        "/opt/reccontrol/bin/reccontrol run -c /etc/reccontrol/reccontrol.yaml"
    ]


# The goal for `systemd-analyze security`: 0 is a fully sandboxed unit, 10 none at all.
MAX_EXPOSURE = 3.0
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def exposure(unit_file: Path) -> float:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed: apt-get install systemd", pytrace=False)
    done = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = EXPOSURE.search(done.stdout)
    assert found, f"no exposure level in systemd-analyze's answer:\n{done.stdout}{done.stderr}"
    return float(found.group(1))


def test_unit_exposure_is_at_most_3_S5() -> None:
    """S5: ``systemd-analyze security`` rates the shipped unit at most 3.0 (no capability,
    a system-call filter, no namespaces, /proc hidden, no W+X memory, ...)."""
    score = exposure(UNIT)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"


def test_exposure_check_can_fail(tmp_path: Path) -> None:
    """The score check above can fail: the unit without its sandboxing scores above 3."""
    kept = ("[", "Description", "ExecStart", "User", "Group", "Type", "WantedBy")
    bare = "\n".join(
        line for line in UNIT.read_text().splitlines() if line.startswith(kept)
    )
    unit_file = tmp_path / "reccontrol.service"
    unit_file.write_text(bare + "\n")
    assert exposure(unit_file) > MAX_EXPOSURE
