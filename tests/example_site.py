"""The shipped ``config/example.yaml`` with its secrets where the systemd unit puts them:
one file per ``LoadCredential=`` name in a folder given as ``$CREDENTIALS_DIRECTORY``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "example.yaml"
# The credentials the example names, as the unit loads them.
CREDENTIALS = {
    "ari_password": "x",
    "caller_hmac_key": "k" * 32,
    "audit_key": "a" * 32,
}


def example_environ(root: Path) -> dict[str, str]:
    """Writes the credentials into ``root/credentials`` (0600, as systemd hands them
    over) and returns the environment the daemon sees under its unit."""
    folder = root / "credentials"
    folder.mkdir(mode=0o700, exist_ok=True)
    for name, value in CREDENTIALS.items():
        path = folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    return {"CREDENTIALS_DIRECTORY": str(folder)}
