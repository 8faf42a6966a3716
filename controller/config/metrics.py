"""``web.metrics``: who may scrape ``/metrics`` (R4).

The figures say how many calls run and how they end, so they are not for anyone who
reaches the port: by default only this machine's loopback may scrape. A site whose
Prometheus runs elsewhere lists its address (or network) in ``allow``, and may require
a bearer token besides, read from the environment or a file like every other secret.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

from controller.config.model import LOOPBACK_NETWORKS, MetricsSettings
from controller.config.reader import Node, Secrets
from controller.secrets import Secret

KEYS = ("allow", "token", "token_env", "token_file")
# A token a scraper could guess would make the address list the only protection.
MIN_TOKEN_LENGTH = 16


def metrics(node: Node, secrets: Secrets) -> MetricsSettings:
    if not node.present or not node.mapping(KEYS):
        return MetricsSettings()
    allow = LOOPBACK_NETWORKS
    if node["allow"].present:
        allow = _networks(node["allow"])
    token: Secret | None = None
    if any(node[key].present for key in ("token", "token_env", "token_file")):
        token = node.secret("token", secrets)
        if token is not None and secrets.resolve and len(token.reveal()) < MIN_TOKEN_LENGTH:
            where = "token_env" if node["token_env"].present else "token_file"
            node[where].fail(f"the token must be at least {MIN_TOKEN_LENGTH} characters long")
    return MetricsSettings(allow=allow, token=token)


def _networks(node: Node) -> tuple[IPv4Network | IPv6Network, ...]:
    if isinstance(node.value, str):
        # One address where a list is expected is a common slip; accept it.
        one = _network(node)
        return (one,) if one is not None else LOOPBACK_NETWORKS
    if isinstance(node.value, list) and not node.value:
        node.fail("must not be an empty list: leave it out for the loopback only")
        return LOOPBACK_NETWORKS
    networks = tuple(network for network in node.each(_network) if network is not None)
    return networks or LOOPBACK_NETWORKS


def _network(node: Node) -> IPv4Network | IPv6Network | None:
    text = node.string("")
    if not isinstance(text, str) or not text:
        return None
    try:
        # strict=False: 10.1.2.3/8 is read as 10.0.0.0/8, as a person writing it means.
        return ip_network(text.strip(), strict=False)
    except ValueError:
        node.fail(
            "must be an IP address or a network such as 10.0.0.5, 10.0.0.0/8 or ::1; "
            f"got {text!r}"
        )
        return None
