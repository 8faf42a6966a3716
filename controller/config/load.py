"""Loads the YAML file into :class:`~controller.config.model.Config`.

Every problem is reported with its key path, e.g.
``services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)``.
Each section is read by the module named after it (:mod:`~controller.config.site`,
:mod:`~controller.config.agents`, :mod:`~controller.config.services`,
:mod:`~controller.config.governance`, :mod:`~controller.config.agi`); what spans sections
is checked here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from controller.config import agents as agents_section
from controller.config import governance, site
from controller.config import services as services_section
from controller.config.agi import agi_section
from controller.config.ami import ami_section
from controller.config.model import Config
from controller.config.reader import (
    MISSING,
    NAME_HINT,
    NAME_PATTERN,
    ConfigError,
    Node,
    Problem,
    Problems,
    Secrets,
)
from controller.config.service_model import Service
from controller.config.store import store as store_section
from controller.config.strict_yaml import parse_yaml

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
    "agi",
    "ami",
)


def build(data: Any, source: Path, secrets: Secrets) -> Config:
    problems = Problems()
    root = Node(data if data is not None else {}, "", problems)
    if not root.mapping(
        TOP_LEVEL,
        required=("organisation", "ari", "store", "recordings", "privacy", "agents", "services"),
    ):
        raise ConfigError(problems.items)

    organisation = site.organisation(root["organisation"])
    timezone = site.time_zone(root["timezone"])
    ari = site.ari(root["ari"], secrets)
    store = store_section(root["store"], secrets)
    recordings = site.recordings(root["recordings"], secrets)
    privacy = site.privacy(root["privacy"], secrets)
    log_settings = site.log_settings(root["logging"])
    web = site.web(root["web"], secrets)

    agents = agents_section.agents(root["agents"], privacy.default_region if privacy else "FR")

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

    agent_keys = agents_section.agent_keys(root["agent_keys"], services)
    private_calls = agents_section.private_calls(root["private_calls"])
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
    documents = governance.documents(root["documents"])
    agi = agi_section(root["agi"])
    ami = ami_section(root["ami"], secrets, agi=root["agi"].present)
    if services and legal.staff_representatives_informed is None:
        _staff_not_informed(root["legal"])

    if problems or ari is None or privacy is None:
        raise ConfigError(problems.items)
    return Config(
        source=source,
        organisation=organisation,
        timezone=timezone,
        ari=ari,
        store=store,
        recordings=recordings,
        privacy=privacy,
        logging=log_settings,
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
        agi=agi,
        ami=ami,
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
