"""Loads the YAML file into :class:`~controller.config.model.Config`.

Every problem is reported with its key path, e.g.
``services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from controller.config import governance
from controller.config import services as services_section
from controller.config.endpoints import Endpoint, EndpointError, ambiguity, parse_endpoint
from controller.config.governance_model import DOCUMENT_LANGUAGES, DocumentSettings
from controller.config.model import (
    MAX_CALL_METADATA_DAYS,
    Agent,
    AriSettings,
    Config,
    LoggingSettings,
    Organisation,
    PrivacySettings,
    ReconnectSettings,
    RecordingSettings,
    StoreSettings,
    WatchdogSettings,
    WebSettings,
)
from controller.config.reader import (
    MISSING,
    NAME_HINT,
    NAME_PATTERN,
    ConfigError,
    Node,
    Problem,
    Problems,
    Secrets,
    parse_yaml,
    without_credentials,
)
from controller.config.service_model import AgentKeys, PrivateCalls, Service
from controller.config.warnings import is_loopback
from controller.privacy import NumberError, is_region, to_e164
from controller.secrets import Secret

SEQUENCE_PATTERN = r"[0-9*#]{2,4}"


# -- sections ------------------------------------------------------------------------
def _organisation(node: Node) -> Organisation:
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


def _ari(node: Node, secrets: Secrets) -> AriSettings | None:
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


def _strings(node: Node, *, allow_empty: bool = False) -> list[tuple[Node, str]]:
    """A list of strings with the node of each, for errors naming ``key[index]``. A
    single string stands for a list of one, as :meth:`Node.string_list` allows."""
    values = node.string_list((), allow_empty=allow_empty)
    nodes = list(node.elements()) if isinstance(node.value, list) else [node]
    return [(n, v) for n, v in zip(nodes, values, strict=False) if isinstance(v, str)]


def _endpoints(node: Node) -> tuple[str, ...]:
    """An agent's endpoints, each one a name Asterisk could report (A7)."""
    endpoints: list[str] = []
    for element, text in _strings(node):
        try:
            parse_endpoint(text)
        except EndpointError as exc:
            element.fail(str(exc))
        endpoints.append(text)
    return tuple(endpoints)


def _private_lines(node: Node, region: str) -> tuple[str, ...]:
    """An agent's private lines in E.164 form, read by the rule used for callers'
    numbers, so a call to one is known whatever form the trunk delivers it in (A2)."""
    lines: list[str] = []
    for element, line in _strings(node, allow_empty=True):
        try:
            lines.append(to_e164(line, region))
        except NumberError as exc:
            # The message never repeats the number: the key path says which one it is.
            element.fail(
                f"is {exc}; write it in international form, e.g. +33100000101 "
                f"(national numbers are read in privacy.default_region, {region})"
            )
    return tuple(lines)


def _agent(name: str, node: Node, region: str) -> Agent:
    node.mapping(
        ("name", "endpoints", "windows", "protected", "protection_reason", "private_lines"),
        required=("name", "endpoints", "windows"),
    )
    protected = node["protected"].boolean(False)
    reason = node["protection_reason"].string("")
    if protected and not reason:
        node["protection_reason"].fail(
            "is required when protected is true (e.g. 'staff representative' or "
            "'objected for a legitimate reason')"
        )
    windows = node["windows"].each(Node.window)
    if node["windows"].present and not windows:
        node["windows"].fail("must list at least one published recording period (A1)")
    return Agent(
        id=name,
        name=node["name"].string(""),
        endpoints=_endpoints(node["endpoints"]),
        windows=windows,
        protected=protected,
        protection_reason=reason,
        private_lines=_private_lines(node["private_lines"], region),
    )


def _unambiguous_endpoints(node: Node, agents: dict[str, Agent]) -> None:
    """Refuses endpoints of two agents that one channel could fit, or whose names differ
    only by a dash and a tail (``PJSIP/alice``, ``PJSIP/alice-rep``): a misread name there
    records one for the other, a protected agent for an unprotected one (A3)."""
    seen: list[tuple[str, int, Endpoint]] = []
    for agent in agents.values():
        for index, text in enumerate(agent.endpoints):
            try:
                endpoint = parse_endpoint(text)
            except EndpointError:
                continue  # already reported
            for other_id, other_index, other in seen:
                if other_id == agent.id:
                    continue
                why = ambiguity(other, endpoint)
                if why is not None:
                    other_text = agents[other_id].endpoints[other_index]
                    endpoints = node[agent.id]["endpoints"]
                    listed = isinstance(endpoints.value, list)
                    node.problems.add(
                        endpoints.child_path(index) if listed else endpoints.path,
                        f"{text!r} and agents.{other_id}.endpoints[{other_index}] "
                        f"({other_text!r}) could be taken for one another: {why}. Rename "
                        "one of the phones, or list it under one agent only",
                    )
            seen.append((agent.id, index, endpoint))


def _agent_keys(node: Node, services: dict[str, Service]) -> AgentKeys:
    """Agent key sequences: well-formed, none a prefix of another, none starting with a
    key that callers press (opt-out, full notice)."""
    defaults = AgentKeys()
    if not node.present or not node.mapping(
        (*defaults.sequences(), "inter_digit_timeout", "ok_sound", "refused_sound")
    ):
        return defaults
    hint = 'must be 2 to 4 DTMF keys (0-9, * or #), e.g. "*2"'
    sequences = {
        action: node[action].string(default, pattern=SEQUENCE_PATTERN, pattern_hint=hint)
        for action, default in defaults.sequences().items()
    }
    caller_keys: dict[str, str] = {}
    for service in services.values():
        caller_keys.setdefault(
            service.caller_keys.opt_out, f"services.{service.name}.caller_keys.opt_out"
        )
        caller_keys.setdefault(
            service.caller_keys.full_notice, f"services.{service.name}.caller_keys.full_notice"
        )
    actions = list(sequences)
    for i, action in enumerate(actions):
        seq = sequences[action]
        if not isinstance(seq, str) or not re.fullmatch(SEQUENCE_PATTERN, seq):
            continue
        if seq[0] in caller_keys:
            node[action].fail(
                f"starts with {seq[0]!r}, a caller key ({caller_keys[seq[0]]}); agent "
                "sequences must not begin with a key callers press"
            )
        for other in actions[i + 1 :]:
            other_seq = sequences[other]
            if not isinstance(other_seq, str):
                continue
            if seq == other_seq:
                node[other].fail(f"is the same sequence as {action} ({seq!r})")
            elif other_seq.startswith(seq) or seq.startswith(other_seq):
                short, long_ = (action, other) if len(seq) < len(other_seq) else (other, action)
                node[long_].fail(
                    f"overlaps {short} ({sequences[short]!r}): one sequence must not begin "
                    "with another"
                )
    return AgentKeys(
        start=sequences["start"],
        pause=sequences["pause"],
        resume=sequences["resume"],
        private=sequences["private"],
        payment=sequences["payment"],
        card=sequences["card"],
        notice_given=sequences["notice_given"],
        inter_digit_timeout=node["inter_digit_timeout"].number(2.0, minimum=0.5, maximum=10),
        ok_sound=node["ok_sound"].sound("beep"),
        refused_sound=node["refused_sound"].sound("beeperr"),
    )


def _private_calls(node: Node) -> PrivateCalls:
    if not node.present or not node.mapping(("dial_prefix",)):
        return PrivateCalls()
    return PrivateCalls(
        dial_prefix=node["dial_prefix"].string(
            "*77", pattern=r"[*#0-9]{1,4}", pattern_hint='must be 1 to 4 keys such as "*77"'
        )
    )


TOP_LEVEL = (
    "organisation",
    "timezone",
    "ari",
    "store",
    "recordings",
    "privacy",
    "logging",
    "web",
    "agents",
    "services",
    "agent_keys",
    "private_calls",
    "payment",
    "access",
    "sheets",
    "audit",
    "purge",
    "legal",
    "documents",
    "proportionality",
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


def build(data: Any, source: Path, secrets: Secrets) -> Config:
    problems = Problems()
    root = Node(data if data is not None else {}, "", problems)
    if not root.mapping(
        TOP_LEVEL,
        required=("organisation", "ari", "store", "recordings", "privacy", "agents", "services"),
    ):
        raise ConfigError(problems.items)

    organisation = _organisation(root["organisation"])

    tz_name = root["timezone"].string("Europe/Paris")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        root["timezone"].fail(f"unknown time zone {tz_name!r}; use a name like Europe/Paris")
        timezone = ZoneInfo("UTC")

    ari = _ari(root["ari"], secrets)

    store = root["store"]
    store_path = Path()
    if store.mapping(("path",), required=("path",)):
        store_path = Path(store["path"].string(""))

    rec = root["recordings"]
    recordings = RecordingSettings(Path(), Path())
    if rec.mapping(
        ("asterisk_dir", "vault_dir", "format", "sweep_minutes"),
        required=("asterisk_dir", "vault_dir"),
    ):
        recordings = RecordingSettings(
            asterisk_dir=Path(rec["asterisk_dir"].string("")),
            vault_dir=Path(rec["vault_dir"].string("")),
            format=rec["format"].string("wav", choices=("wav", "wav16")),
            sweep_minutes=rec["sweep_minutes"].number(10.0, minimum=0.01, maximum=1440),
        )
        if recordings.asterisk_dir == recordings.vault_dir and rec["vault_dir"].present:
            rec["vault_dir"].fail(
                "must differ from asterisk_dir: Asterisk's folder is reachable "
                "through ARI, the vault only through reccontrol's audited API"
            )

    priv = root["privacy"]
    privacy: PrivacySettings | None = None
    if priv.mapping(
        (
            "caller_hmac_key",
            "caller_hmac_key_env",
            "caller_hmac_key_file",
            "objection_memory_days",
            "default_region",
            "call_metadata_days",
        )
    ):
        key = priv.secret("caller_hmac_key", secrets, min_length=16)
        privacy = PrivacySettings(
            caller_hmac_key=key or Secret(""),
            objection_memory_days=priv["objection_memory_days"].integer(
                365, minimum=1, maximum=3650
            ),
            default_region=_region(priv["default_region"]),
            call_metadata_days=_call_metadata_days(priv["call_metadata_days"]),
        )

    log = root["logging"]
    level, log_format = "INFO", "text"
    if log.present and log.mapping(("level", "format")):
        level = log["level"].string("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
        log_format = log["format"].string("text", choices=("text", "json"))

    web = _web(root["web"])

    agents: dict[str, Agent] = {}
    for name, node in root["agents"].items():
        if not re.fullmatch(NAME_PATTERN, name):
            node.fail(f"invalid agent id: {NAME_HINT}")
        agents[name] = _agent(name, node, privacy.default_region if privacy else "FR")
    if root["agents"].present and not agents:
        root["agents"].fail("must name at least one agent")
    _unambiguous_endpoints(root["agents"], agents)

    limits = services_section.proportionality(root["proportionality"])
    services: dict[str, Service] = {}
    for name, node in root["services"].items():
        if not re.fullmatch(NAME_PATTERN, name):
            node.fail(f"invalid service name: {NAME_HINT}")
        service = services_section.service(name, node, limits)
        if service is not None:
            services[name] = service
    if root["services"].present and not root["services"].value:
        root["services"].fail("must define at least one service")

    agent_keys = _agent_keys(root["agent_keys"], services)
    private_calls = _private_calls(root["private_calls"])
    payment = services_section.payment(root["payment"], secrets)
    for name, service in services.items():
        if service.payments and payment is None and not root["payment"].present:
            root["services"][name]["payments"].fail(
                "needs a top-level 'payment' section (the payment API and IVR prompts)"
            )
    access = governance.access(root["access"], services)
    sheets = governance.sheets(root["sheets"])
    audit = governance.audit(root["audit"], secrets)
    purge = governance.purge(root["purge"])
    legal = governance.legal(root["legal"])
    documents = _documents(root["documents"])
    if services and legal.staff_representatives_informed is None:
        _staff_not_informed(root["legal"])

    if problems or ari is None or privacy is None:
        raise ConfigError(problems.items)
    return Config(
        source=source,
        organisation=organisation,
        timezone=timezone,
        ari=ari,
        store=StoreSettings(store_path),
        recordings=recordings,
        privacy=privacy,
        logging=LoggingSettings(level, "json" if log_format == "json" else "text"),
        web=web,
        agents=agents,
        services=services,
        agent_keys=agent_keys,
        private_calls=private_calls,
        payment=payment,
        access=access,
        sheets=sheets,
        audit=audit,
        purge=purge,
        legal=legal,
        documents=documents,
        proportionality=limits,
    )


def _staff_not_informed(legal: Node) -> None:
    """A8: every service records (a sample, every call under an exemption, or a call an
    agent records for mediation), and none may before the staff representatives were
    told, so a config without that date is refused rather than loaded to record nothing.
    Only the missing date is reported: a malformed one already was."""
    informed = legal["staff_representatives_informed"]
    if informed.present or (legal.present and not isinstance(legal.value, dict)):
        return
    legal.problems.add(
        informed.path,
        "is required: the system is presented to the staff representatives before any "
        "call is recorded; give the date they were informed, e.g. 2025-11-15 (A8)",
    )


def _documents(node: Node) -> DocumentSettings:
    """The documents' language: what a DPO hands the CNIL (fr) or an auditor abroad (en)."""
    if not node.present or not node.mapping(("language",)):
        return DocumentSettings()
    language = node["language"].string("fr", choices=DOCUMENT_LANGUAGES)
    return DocumentSettings(language if language in DOCUMENT_LANGUAGES else "fr")


def _web(node: Node) -> WebSettings:
    """The web API's address. It speaks plain HTTP with bearer tokens, so it listens on
    the loopback only, unless the site states that a reverse proxy doing TLS fronts it
    (``behind_proxy: true``); ``check-config`` still warns then."""
    if not node.present or not node.mapping(("host", "port", "behind_proxy")):
        return WebSettings()
    host = node["host"].string("127.0.0.1")
    port = node["port"].integer(8090, minimum=1, maximum=65535)
    behind_proxy = node["behind_proxy"].boolean(False)
    if host.strip() and not is_loopback(host) and not behind_proxy:
        node["host"].fail(
            f"{host!r} is not a loopback address: the web API speaks plain HTTP, so tokens "
            "would cross the network in clear; listen on 127.0.0.1 (or ::1) and put a "
            "reverse proxy doing TLS in front, or state 'behind_proxy: true' if one "
            "already is the only way in"
        )
    return WebSettings(host=host, port=port, behind_proxy=behind_proxy)


def load_config(
    path: Path | str, environ: Mapping[str, str] | None = None, *, resolve_secrets: bool = True
) -> Config:
    """Reads and validates a config file. Raises :class:`ConfigError` listing every problem.

    With ``resolve_secrets=False`` no secret is read (documents, offline checks): each is
    checked for where it would come from, and left empty in the result."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem("", f"{path}: cannot read the file: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"{path}: the file is not UTF-8 text")]) from None
    data = parse_yaml(text, str(path))
    config = build(data, path, Secrets(os.environ if environ is None else environ, resolve_secrets))
    return dataclasses.replace(config, canonical_yaml=canonical_yaml(data))


def canonical_yaml(data: Any) -> str:
    """One text per configuration, whatever its comments, spacing and key order: its hash
    identifies the configuration in force (D3)."""
    try:
        return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False)
    except TypeError:
        # Keys of mixed types (``1:`` beside ``a:``) cannot be sorted: keep the file's order.
        return yaml.safe_dump(data, allow_unicode=True, default_flow_style=False)


__all__ = ["MISSING", "ConfigError", "load_config", "parse_yaml"]
