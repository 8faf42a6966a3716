"""The ``store`` section: a SQLite file (``path``, the embedded default) or a PostgreSQL
server several nodes share (``url``, N1), and this node's name (``node``)."""

from __future__ import annotations

from pathlib import Path

from controller.config.model import StoreSettings
from controller.config.reader import Node, Secrets, without_credentials

NODE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


def store(node: Node, secrets: Secrets) -> StoreSettings:
    keys = ("path", "url", "password", "password_env", "password_file", "node")
    if not node.mapping(keys):
        return StoreSettings(Path())
    path, url = node["path"], node["url"]
    if path.present and url.present:
        url.fail(
            "give either 'path' (a SQLite file, one node) or 'url' (a PostgreSQL "
            "server shared by several nodes), not both"
        )
        return StoreSettings(Path())
    if not url.present and not path.present:
        path.fail("is required (a SQLite file), unless 'url' names a PostgreSQL server")
        return StoreSettings(Path())
    name = node["node"].string(
        "local",
        pattern=NODE_PATTERN,
        pattern_hint="must be a node name (letters, digits, . _ -, at most 63)",
    )
    if path.present:
        if node["password_env"].present or node["password_file"].present:
            node["password_env" if node["password_env"].present else "password_file"].fail(
                "only a PostgreSQL store ('url') takes a password"
            )
        return StoreSettings(Path(path.string("")), node=name)
    if not node["node"].present:
        name = _node_required(node["node"])
    return StoreSettings(
        Path(), url=_url(url), password=node.secret("password", secrets), node=name
    )


def _url(node: Node) -> str:
    url = node.string("")
    parts = node.url_parts(url)
    if parts is None:
        return ""
    if parts.scheme not in POSTGRESQL_SCHEMES or not parts.hostname or not parts.path.strip("/"):
        node.fail(
            "must be a postgresql:// URL naming a server and a database, such as "
            f"postgresql://reccontrol@db.example:5432/reccontrol; got {without_credentials(url)!r}"
        )
    elif parts.password:
        node.fail("must not carry the password; use 'password_env' or 'password_file'")
    return str(url)


def _node_required(node: Node) -> str:
    """Several nodes share a PostgreSQL store: each must say which one it is, or a node
    restarting would take another's calls for its own."""
    node.fail(
        "is required with a PostgreSQL store ('url'): each node sharing it needs its "
        "own name (for example the Asterisk host's name)"
    )
    return "local"
