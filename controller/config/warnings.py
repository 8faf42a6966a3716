"""What a valid config may still get wrong: printed by ``check-config``, logged at start."""

from __future__ import annotations

import datetime as dt
import ipaddress
from urllib.parse import urlsplit

from controller.config.model import Config, WebSettings


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` surely means this machine only: ``localhost`` or a loopback
    address. Any other name could resolve anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def unkeyed_audit_alert() -> str:
    """What the daemon logs (an ALERT) and ``check-config`` prints for a site whose access
    log has no key (S7)."""
    return (
        "audit.checkpoint_key_file: not set: the access log is only hash-chained, not "
        "keyed, so whoever can write the store can rewrite it unseen (S7). Create a key "
        "(head -c 32 /dev/urandom | base64 > FILE, mode 0600) and name it with "
        "audit.checkpoint_key_file or audit.checkpoint_key_env"
    )


def audit_alerts(config: Config) -> list[str]:
    """Settings that leave the access log open to an unseen rewrite."""
    return [] if config.audit.checkpoint_key is not None else [unkeyed_audit_alert()]


def staff_information(config: Config, now: dt.datetime) -> tuple[str, bool]:
    """What ``check-config`` says about the staff representatives' prior information
    (A8), and whether it is a warning: a date after today means the daemon starts but
    records nothing until that day."""
    informed = config.legal.staff_representatives_informed
    today = now.astimezone(config.timezone).date()
    if informed is None:
        # The loader refuses such a config; kept for configs built in code.
        return (
            "legal.staff_representatives_informed: not set: no call is recorded (A8)",
            True,
        )
    if informed > today:
        return (
            f"legal.staff_representatives_informed: {informed} is after today ({today}): "
            "no call is recorded before that day, the staff representatives must be "
            "informed first (A8)",
            True,
        )
    return f"staff representatives informed on {informed}: calls may be recorded (A8)", False


def config_warnings(config: Config) -> list[str]:
    """One line per risky but allowed setting, each naming its key path."""
    warnings = []
    parts = urlsplit(config.ari.url)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        warnings.append(
            f"ari.url: plain http:// to {parts.hostname}, which is not this machine: the ARI "
            "password and every call command travel in clear; use https:// (S5)"
        )
    web = config.web
    if not is_loopback(web.host) and web.tls_certificate is None:
        # Only loadable with web.behind_proxy: true (see site.py).
        warnings.append(
            f"web.host: the web API listens on {web.host!r}, not only on this machine, in "
            "plain HTTP: tokens and card payment requests cross the network in clear unless "
            "the reverse proxy (web.behind_proxy) is the only way to reach it; firewall "
            f"port {web.port} from everything else"
        )
    warnings += metrics_warnings(web)
    agi = config.agi
    if agi is not None and not is_loopback(agi.host):
        # Only loadable with agi.allow_remote: true (see controller/config/agi.py).
        warnings.append(
            f"agi.listen: the FastAGI server listens on {agi.host!r}, not only on this "
            "machine, without authentication: firewall port "
            f"{agi.port} from everything but your Asterisk hosts"
        )
    return warnings


def metrics_warnings(web: WebSettings) -> list[str]:
    """/metrics with an address as its only guard, where the address proves little."""
    if web.metrics.token is not None:
        return []
    if web.behind_proxy:
        # The proxy forwards every client from its own address, often the loopback.
        return [
            "web.metrics: behind a reverse proxy every scrape comes from the proxy's "
            "address, so whoever reaches the proxy can read /metrics; set "
            "web.metrics.token_file (or token_env), or have the proxy not forward /metrics"
        ]
    remote = [str(n) for n in web.metrics.allow if not n.is_loopback]
    if remote and not is_loopback(web.host):
        return [
            f"web.metrics.allow: {', '.join(remote)} may scrape /metrics on their address "
            "alone; set web.metrics.token_file (or token_env) as well"
        ]
    return []
