"""The ``ami`` section: Asterisk's manager interface, for what only AMI does on the
calls of dialplan-only sites (muting a running MixMonitor). Required with ``agi``."""

from __future__ import annotations

from controller.config.model import AmiSettings
from controller.config.reader import Node, Secrets
from controller.config.warnings import is_loopback
from controller.secrets import Secret

KEYS = ("host", "port", "username", "password", "password_env", "password_file")
DEFAULT_PORT = 5038


def ami_section(node: Node, secrets: Secrets, *, agi: bool) -> AmiSettings | None:
    """``agi``: the config has an ``agi`` section, which needs this one."""
    if not node.present:
        if agi:
            node.fail(
                "is required with the 'agi' section: host, port, username and "
                "password_env or password_file of an AMI user (manager.conf)"
            )
        return None
    if not node.mapping(KEYS, required=("username",)):
        return None
    host = node["host"].string("127.0.0.1")
    if isinstance(host, str) and not is_loopback(host):
        # AMI sends the secret in clear: it never leaves the machine.
        node["host"].fail(
            f"{host[:60]!r} is not a loopback address: AMI sends its secret in clear; "
            "run the daemon on the Asterisk machine and use 127.0.0.1"
        )
    password = node.secret("password", secrets)
    return AmiSettings(
        host=host if isinstance(host, str) else "127.0.0.1",
        port=node["port"].integer(DEFAULT_PORT, minimum=1, maximum=65535),
        username=node["username"].string(
            "", pattern=r"[A-Za-z0-9_.-]{1,64}", pattern_hint="must be a manager.conf user name"
        ),
        password=password or Secret(""),
    )
