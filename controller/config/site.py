"""The site-wide sections: the data controller (``organisation``), the ``timezone``, how
the daemon reaches Asterisk (``ari``), where it keeps its data (``store``,
``recordings``), what it keeps of callers (``privacy``), how it logs (``logging``) and
where it listens (``web``)."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.config.encryption import encryption
from controller.config.metrics import metrics
from controller.config.model import (
    MAX_CALL_METADATA_DAYS,
    AriSettings,
    LoggingSettings,
    Organisation,
    PrivacySettings,
    ReconnectSettings,
    RecordingSettings,
    WatchdogSettings,
    WebSettings,
)
from controller.config.reader import Node, Secrets, without_credentials
from controller.config.warnings import is_loopback
from controller.privacy import is_region
from controller.secrets import Secret


def organisation(node: Node) -> Organisation:
    node.mapping(("name", "address", "dpo", "complaint_authority"), required=("name", "dpo"))
    dpo = node["dpo"]
    if dpo.present:
        dpo.mapping(("name", "email", "address"), required=("name", "email"))
    return Organisation(
        name=node["name"].string(""),
        address=node["address"].string(""),
        dpo_name=dpo["name"].string(""),
        dpo_email=dpo["email"].string(
            "", pattern=r"[^@\s]+@[^@\s]+", pattern_hint="must be an e-mail address"
        ),
        dpo_address=dpo["address"].string(""),
        complaint_authority=node["complaint_authority"].string(
            "CNIL, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, www.cnil.fr"
        ),
    )


def time_zone(node: Node) -> ZoneInfo:
    tz_name = node.string("Europe/Paris")
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        node.fail(f"unknown time zone {tz_name!r}; use a name like Europe/Paris")
        return ZoneInfo("UTC")


def ari(node: Node, secrets: Secrets) -> AriSettings | None:
    if not node.mapping(
        (
            "url",
            "username",
            "password",
            "password_env",
            "password_file",
            "app",
            "request_timeout",
            "reconnect",
            "event_log",
            "watchdog",
        ),
        required=("url", "username"),
    ):
        return None
    url = node["url"].string("")
    parts = node["url"].url_parts(url)
    if url and parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
        node["url"].fail(
            "must be an http:// or https:// URL of Asterisk's HTTP server; "
            f"got {without_credentials(url)!r}"
        )
    if parts is not None and (parts.username or parts.password):
        node["url"].fail("must not carry credentials; use 'username' and 'password_env'")
    reconnect = node["reconnect"]
    # A short cap: once the link is back, the daemon hears keys again within seconds.
    initial, maximum = 0.5, 3.0
    if reconnect.present and reconnect.mapping(("initial_delay", "max_delay")):
        initial = reconnect["initial_delay"].number(0.5, minimum=0.01, maximum=60)
        maximum = reconnect["max_delay"].number(max(3.0, initial), minimum=0.1, maximum=600)
        if maximum < initial:
            reconnect["max_delay"].fail(f"must be >= initial_delay ({initial:g})")
    watchdog = node["watchdog"]
    interval, timeout = 15.0, 5.0
    if watchdog.present and watchdog.mapping(("interval", "timeout")):
        interval = watchdog["interval"].number(15.0, minimum=0.05, maximum=3600)
        timeout = watchdog["timeout"].number(5.0, minimum=0.05, maximum=600)
    password = node.secret("password", secrets)
    event_log = node["event_log"].string(None)
    return AriSettings(
        url=url.rstrip("/"),
        username=node["username"].string(""),
        password=password or Secret(""),
        app=node["app"].string(
            "reccontrol",
            pattern=r"[A-Za-z0-9_.-]+",
            pattern_hint="must be an ARI application name (letters, digits, . _ -)",
        ),
        request_timeout=node["request_timeout"].number(5.0, minimum=0.1, maximum=120),
        reconnect=ReconnectSettings(initial, maximum),
        event_log=Path(event_log) if event_log else None,
        watchdog=WatchdogSettings(interval, timeout),
    )


def recordings(node: Node, secrets: Secrets) -> RecordingSettings:
    if not node.mapping(
        ("asterisk_dir", "vault_dir", "format", "channels", "sweep_minutes", "encryption"),
        required=("asterisk_dir", "vault_dir"),
    ):
        return RecordingSettings(Path(), Path())
    vault_dir = Path(node["vault_dir"].string(""))
    settings = RecordingSettings(
        asterisk_dir=Path(node["asterisk_dir"].string("")),
        vault_dir=vault_dir,
        encryption=encryption(node["encryption"], vault_dir, secrets),
        format=node["format"].string("wav", choices=("wav", "wav16")),
        channels=node["channels"].string("mono", choices=("mono", "stereo")),
        sweep_minutes=node["sweep_minutes"].number(10.0, minimum=0.01, maximum=1440),
    )
    if settings.asterisk_dir == settings.vault_dir and node["vault_dir"].present:
        node["vault_dir"].fail(
            "must differ from asterisk_dir: Asterisk's folder is reachable "
            "through ARI, the vault only through reccontrol's audited API"
        )
    return settings


def privacy(node: Node, secrets: Secrets) -> PrivacySettings | None:
    if not node.mapping(
        (
            "caller_hmac_key",
            "caller_hmac_key_env",
            "caller_hmac_key_file",
            "objection_memory_days",
            "default_region",
            "call_metadata_days",
        )
    ):
        return None
    key = node.secret("caller_hmac_key", secrets, min_length=16)
    return PrivacySettings(
        caller_hmac_key=key or Secret(""),
        objection_memory_days=node["objection_memory_days"].integer(
            365, minimum=1, maximum=3650
        ),
        default_region=_region(node["default_region"]),
        call_metadata_days=_call_metadata_days(node["call_metadata_days"]),
    )


def _call_metadata_days(node: Node) -> int:
    days = node.integer(MAX_CALL_METADATA_DAYS, minimum=1)
    if isinstance(days, int) and days > MAX_CALL_METADATA_DAYS:
        node.fail(
            f"must be <= {MAX_CALL_METADATA_DAYS}: call metadata (calls, decisions, consent "
            "events) is kept at most 365 days (T5)"
        )
        return MAX_CALL_METADATA_DAYS
    return days if isinstance(days, int) else MAX_CALL_METADATA_DAYS


def _region(node: Node) -> str:
    region = node.string("FR")
    if isinstance(region, str) and not is_region(region):
        node.fail(f"must be a region code such as FR, BE or CH; got {region!r}")
        return "FR"
    return region if isinstance(region, str) else "FR"


def log_settings(node: Node) -> LoggingSettings:
    level, log_format = "INFO", "text"
    if node.present and node.mapping(("level", "format")):
        level = node["level"].string("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
        log_format = node["format"].string("text", choices=("text", "json"))
    return LoggingSettings(level, "json" if log_format == "json" else "text")


def web(node: Node, secrets: Secrets) -> WebSettings:
    """The web API's and the console's address. Without ``tls`` it speaks plain HTTP, so
    it listens on the loopback only, unless the site states that a reverse proxy doing
    TLS fronts it (``behind_proxy: true``); ``check-config`` still warns then."""
    keys = ("host", "port", "behind_proxy", "tls", "session_idle_seconds", "language", "metrics")
    if not node.present or not node.mapping(keys):
        return WebSettings()
    host = node["host"].string("127.0.0.1")
    port = node["port"].integer(8090, minimum=1, maximum=65535)
    behind_proxy = node["behind_proxy"].boolean(False)
    certificate, key = _tls(node["tls"])
    if host.strip() and not is_loopback(host) and not behind_proxy and certificate is None:
        node["host"].fail(
            f"{host!r} is not a loopback address: without 'tls' the web API speaks plain "
            "HTTP, so passwords, tokens and session cookies would cross the network in clear; "
            "give 'tls' a certificate and key, or listen on 127.0.0.1 (or ::1) and put a "
            "reverse proxy doing TLS in front, or state 'behind_proxy: true' if one already "
            "is the only way in"
        )
    # Eight hours at most: a console left open overnight is signed out.
    idle = node["session_idle_seconds"].integer(900, minimum=1, maximum=8 * 3600)
    language = node["language"].string("fr", choices=("fr", "en"))
    return WebSettings(
        host=host,
        port=port,
        behind_proxy=behind_proxy,
        tls_certificate=certificate,
        tls_key=key,
        session_idle_seconds=idle,
        language=language,
        metrics=metrics(node["metrics"], secrets),
    )


def _tls(node: Node) -> tuple[Path | None, Path | None]:
    """``web.tls``: ``certificate`` (PEM chain) and ``key`` (PEM), both readable files."""
    if not node.present or not node.mapping(("certificate", "key"), ("certificate", "key")):
        return None, None
    paths: list[Path | None] = []
    for name in ("certificate", "key"):
        text = node[name].string(None)
        if not text:
            paths.append(None)
            continue
        path = Path(text)
        if not path.is_absolute():
            node[name].fail(f"{text!r}: give an absolute path")
        elif not path.is_file() or not os.access(path, os.R_OK):
            node[name].fail(f"{text!r}: no readable file there")
        paths.append(path)
    return paths[0], paths[1]
