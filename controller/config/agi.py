"""The ``agi`` section: the FastAGI server for dialplan-only sites. Absent: no server,
the ARI path alone."""

from __future__ import annotations

from controller.config.model import DEFAULT_AGI_PORT as DEFAULT_PORT
from controller.config.model import AgiSettings
from controller.config.reader import Node
from controller.config.warnings import is_loopback

KEYS = ("listen", "max_connections", "read_timeout_seconds", "allow_remote")


def agi_section(node: Node) -> AgiSettings | None:
    if not node.present:
        return None
    if not node.mapping(KEYS):
        return None
    listen = node["listen"]
    address = listen.string(f"127.0.0.1:{DEFAULT_PORT}")
    host, port = split_listen(address) if isinstance(address, str) else (None, None)
    if host is None or port is None:
        listen.fail(
            "must be HOST:PORT, such as 127.0.0.1:4573 or [::1]:4573, with a port "
            f"from 1 to 65535; got {str(address)[:60]!r}"
        )
        host, port = "127.0.0.1", DEFAULT_PORT
    allow_remote = node["allow_remote"].boolean(False)
    if not is_loopback(host) and not allow_remote:
        listen.fail(
            f"{host!r} is not a loopback address: FastAGI has no authentication, so "
            "anyone who reaches the port could play announcements and store consent "
            "events; listen on 127.0.0.1 (Asterisk on this machine), or state "
            "'allow_remote: true' once only your Asterisk hosts can reach it"
        )
    return AgiSettings(
        host=host,
        port=port,
        max_connections=node["max_connections"].integer(100, minimum=1, maximum=10000),
        read_timeout_seconds=node["read_timeout_seconds"].number(
            10.0, minimum=0, exclusive_minimum=True, maximum=300
        ),
        allow_remote=allow_remote,
    )


def split_listen(address: str) -> tuple[str | None, int | None]:
    """``127.0.0.1:4573`` or ``[::1]:4573`` as host and port; None for a part that is
    not one."""
    text = address.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        sep, port_text = rest[:1], rest[1:]
        if not closed:
            return None, None
    else:
        host, sep, port_text = text.rpartition(":")
        if ":" in host:
            return None, None
    if sep != ":" or not host or not port_text.isascii() or not port_text.isdigit():
        return None, None
    port = int(port_text[:6])
    return (host, port) if 1 <= port <= 65535 else (None, None)
