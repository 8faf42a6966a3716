"""An instance's folder in the chroot: its state file (ports, ARI credentials, pid) and
the Asterisk configuration rendered into its etc folder."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from controller.sandbox import host
from controller.sandbox.chroot import INSTANCES
from controller.sandbox.errors import SandboxError
from controller.sandbox.instance import SandboxInstance
from controller.sandbox.templates import phone_placeholder, rendered_files

STATE_FILE = "instance.json"
# Asterisk writes these; everything else in an instance folder is root's.
_ASTERISK_DIRS = ("lib", "db", "spool", "spool/recording", "run", "log", "cache", "sounds")


def instance_from_state(
    root: Path, folder: Path, name: str, state: dict[str, Any]
) -> SandboxInstance:
    """The instance ``name`` as its state file describes it; ``folder`` is where it lives."""
    port = int(state["http_port"])
    return SandboxInstance(
        name=name,
        root=root,
        http_port=port,
        # Instances started before SIP was configured have neither.
        sip_port=int(state.get("sip_port") or 0),
        phone_ports={str(k): int(v) for k, v in (state.get("phone_ports") or {}).items()},
        ari_url=f"http://127.0.0.1:{port}",
        ari_username=str(state["ari_username"]),
        ari_password=str(state["ari_password"]),
        # Instances started before AMI was configured have none (port 0).
        ami_port=int(state.get("ami_port") or 0),
        ami_username=str(state.get("ami_username") or ""),
        ami_password=str(state.get("ami_password") or ""),
        recording_dir=folder / "spool" / "recording",
        sounds_dir=folder / "sounds",
        instance_dir=folder,
        log_dir=folder / "log",
        pid=int(state["pid"]),
    )


def load_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE_FILE
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise SandboxError(f"{path} is not valid JSON: reset the instance") from exc
    return loaded if isinstance(loaded, dict) else None


def save_state(folder: Path, state: dict[str, Any]) -> None:
    path = folder / STATE_FILE
    temporary = path.with_suffix(".tmp")
    # Holds the ARI password: readable by root only.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state, out)
    os.replace(temporary, path)


def write_config(
    root: Path,
    folder: Path,
    name: str,
    state: dict[str, Any],
    config_dir: Path,
    dialplan_dir: Path,
) -> None:
    """Creates the folders of instance ``name`` and renders the templates of
    ``config_dir`` and the snippets of ``dialplan_dir`` into its etc folder."""
    uid, gid = host.chroot_ids(root, "asterisk")
    folder.mkdir(parents=True, exist_ok=True)
    _own(folder, 0, gid, 0o750)
    for sub in _ASTERISK_DIRS:
        path = folder / sub
        path.mkdir(parents=True, exist_ok=True)
        # Recordings must not be world-readable (S4), and Asterisk answers 500 to a
        # record request when the folder is missing: create it, owned by asterisk.
        _own(path, uid, gid, 0o750)
    etc = folder / "etc"
    etc.mkdir(exist_ok=True)
    _own(etc, 0, gid, 0o750)
    for old in etc.iterdir():
        if old.is_file():
            old.unlink()
    values = {
        "INSTANCE": name,
        "INSTANCE_DIR": str(INSTANCES / name),
        "SOUNDS_DIR": str(INSTANCES / name / "sounds"),
        "HTTP_PORT": str(state["http_port"]),
        "SIP_PORT": str(state["sip_port"]),
        "ARI_USERNAME": str(state["ari_username"]),
        "ARI_PASSWORD": str(state["ari_password"]),
        # AMI off for an instance started before it was configured.
        "AMI_ENABLED": "yes" if state.get("ami_port") else "no",
        "AMI_PORT": str(state.get("ami_port") or 5038),
        "AMI_USERNAME": str(state.get("ami_username") or state["ari_username"]),
        "AMI_PASSWORD": str(state.get("ami_password") or secrets.token_urlsafe(24)),
    }
    for phone, port in state["phone_ports"].items():
        values[phone_placeholder(phone)] = str(port)
    try:
        files = rendered_files(config_dir, dialplan_dir, values)
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    for file_name, text in files.items():
        _write_private(etc / file_name, text, gid)


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _write_private(path: Path, text: str, gid: int) -> None:
    # Config files hold the ARI password: root writes them, the asterisk group reads.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)
