"""The shipped deployments, read together (S7): the systemd unit with the example YAML,
and the compose file with the site YAML its header lists, give a daemon whose access log
is keyed and whose witness it can write; nothing else is needed but the secret files."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from controller.config import load_config
from controller.config.warnings import audit_alerts
from tests.example_site import EXAMPLE
from tests.unit.test_systemd_unit import UNIT, directives

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE = REPOSITORY / "docker" / "compose.yaml"
CONTROLLER_IMAGE = REPOSITORY / "docker" / "controller.Dockerfile"


def unit_credentials() -> list[str]:
    return [value.split(":", 1)[0] for value in directives(UNIT.read_text())["LoadCredential"]]


def unit_writable_folders() -> list[PurePosixPath]:
    """What ProtectSystem=strict leaves writable: the unit's own folders and
    ReadWritePaths=."""
    unit = directives(UNIT.read_text())

    def listed(key: str) -> list[str]:
        return [name for value in unit.get(key, []) for name in value.split()]

    return [
        *(PurePosixPath("/var/lib", name) for name in listed("StateDirectory")),
        *(PurePosixPath("/var/log", name) for name in listed("LogsDirectory")),
        *(PurePosixPath(path) for path in listed("ReadWritePaths")),
    ]


def test_unit_and_example_yaml_give_a_keyed_daemon_S7(tmp_path: Path) -> None:
    """S7: the example YAML, given only the files the unit loads with LoadCredential=
    (in $CREDENTIALS_DIRECTORY, as systemd hands them over), loads with the audit key set,
    raises no unkeyed alert, and names a witness file in a folder the unit makes
    writable."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in unit_credentials():
        (credentials / name).write_text(f"{name}-0123456789abcdef\n")
    config = load_config(EXAMPLE, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.audit.checkpoint_key is not None
    assert config.audit.checkpoint_key.reveal() == "audit_key-0123456789abcdef"
    assert audit_alerts(config) == []
    witness = config.audit.witness_file
    assert witness is not None
    assert any(PurePosixPath(witness).is_relative_to(f) for f in unit_writable_folders()), witness


def compose_site_yaml() -> dict[str, Any]:
    """The daemon's YAML keys the compose file's header lists ("key.path: value")."""
    found: dict[str, Any] = {}
    for line in COMPOSE.read_text().splitlines():
        match = re.match(r"#\s+(?:reccontrol\.yaml\s+.*?\s+)?([a-z_]+(?:\.[a-z_]+)+): (\S+)$", line)
        if match:
            node = found
            *parents, leaf = match.group(1).split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = match.group(2)
    return found


def test_compose_gives_the_daemon_its_audit_key_and_witness_S7() -> None:
    """S7: the compose file hands the daemon the secret its listed YAML names for the
    audit key (from the site's secrets folder), and a volume where its witness lives."""
    site = compose_site_yaml()
    key_file = PurePosixPath(site["audit"]["checkpoint_key_file"])
    assert key_file.parent == PurePosixPath("/run/secrets")
    compose = yaml.safe_load(COMPOSE.read_text())
    daemon = compose["services"]["reccontrol"]
    assert key_file.name in daemon["secrets"]
    assert compose["secrets"][key_file.name]["file"].endswith(f"/secrets/{key_file.name}")
    witness = PurePosixPath(site["audit"]["witness_file"])
    mounts = [PurePosixPath(v.split(":")[1]) for v in daemon["volumes"]]
    assert witness.parent in mounts
    # The image makes that folder the daemon's, so the volume starts out writable by it.
    assert str(witness.parent) in CONTROLLER_IMAGE.read_text()


def test_compose_containers_are_read_only_without_privileges() -> None:
    """Both containers: read-only root file system, no new privileges, every capability
    dropped (the daemon adds none back)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["cap_drop"] == ["ALL"], name
    assert "cap_add" not in services["reccontrol"]


def test_dockerignore_keeps_site_secrets_and_history_out_of_the_build() -> None:
    """The build context is the repository root: the site folder's secrets (docker/ by
    default), the git history and the venv never reach the builder."""
    ignored = (REPOSITORY / ".dockerignore").read_text().splitlines()
    for pattern in (".git", ".venv", "docker/secrets", "tests", "**/__pycache__"):
        assert pattern in ignored, pattern
