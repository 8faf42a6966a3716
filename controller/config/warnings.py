"""What a valid config may still get wrong: printed by ``check-config``, logged at start."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from controller.config.model import Config


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def config_warnings(config: Config) -> list[str]:
    """One line per risky but allowed setting, each naming its key path."""
    warnings = []
    parts = urlsplit(config.ari.url)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        warnings.append(
            f"ari.url: plain http:// to {parts.hostname}, which is not this machine: the ARI "
            "password and every call command travel in clear; use https:// (S5)"
        )
    return warnings
