"""``web.metrics`` (R4): who may scrape /metrics. Loopback only by default; addresses
and networks in ``allow``; a bearer token from the environment or a file, never the
YAML; every bad value one problem naming its key path."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from controller.config.model import LOOPBACK_NETWORKS, MetricsSettings
from controller.config.warnings import config_warnings
from tests.unit.test_config import ENV, Loader, load, mutate, problems_of

__all__ = ["load"]

TOKEN = "scrape-token-0123456789"


def with_metrics(section: Any) -> dict[str, Any]:
    return mutate(lambda d: d.setdefault("web", {}).update(metrics=section))


def test_r4_without_a_metrics_section_only_the_loopback_scrapes_and_no_token(
    load: Loader,
) -> None:
    assert load(mutate(lambda d: None)).web.metrics == MetricsSettings()
    assert load(with_metrics({})).web.metrics == MetricsSettings(LOOPBACK_NETWORKS, None)


def test_r4_allow_takes_addresses_and_networks(load: Loader) -> None:
    metrics = load(with_metrics({"allow": ["10.0.0.5", "192.0.2.0/24", "2001:db8::/32"]}))
    assert metrics.web.metrics.allow == (
        ip_network("10.0.0.5/32"),
        ip_network("192.0.2.0/24"),
        ip_network("2001:db8::/32"),
    )
    single = load(with_metrics({"allow": "10.1.2.3/8"})).web.metrics
    assert single.allow == (ip_network("10.0.0.0/8"),)


def test_r4_the_token_is_read_from_the_environment_or_a_file(
    load: Loader, tmp_path: Path
) -> None:
    env = {**ENV, "SCRAPE_TOKEN": TOKEN}
    from_env = load(with_metrics({"token_env": "SCRAPE_TOKEN"}), env).web.metrics.token
    assert from_env is not None and from_env.reveal() == TOKEN
    assert TOKEN not in repr(from_env)
    secret = tmp_path / "scrape-token"
    secret.write_text(TOKEN + "\n")
    from_file = load(with_metrics({"token_file": str(secret)})).web.metrics.token
    assert from_file is not None and from_file.reveal() == TOKEN


@pytest.mark.parametrize(
    ("section", "path", "words"),
    [
        ({"allow": ["127.0.0.1", "not-an-address"]}, "web.metrics.allow[1]", "not-an-address"),
        ({"allow": ["10.0.0.0/33"]}, "web.metrics.allow[0]", "IP address or a network"),
        ({"allow": []}, "web.metrics.allow", "must not be an empty list"),
        ({"allow": {"a": 1}}, "web.metrics.allow", "must be a list"),
        ({"token": TOKEN}, "web.metrics.token", "not written in the YAML"),
        ({"token_env": "UNSET_SCRAPE_TOKEN"}, "web.metrics.token_env", "not set"),
        ({"token_env": "SHORT_TOKEN"}, "web.metrics.token_env", "at least 16 characters"),
        ({"tokn_env": "SCRAPE_TOKEN"}, "web.metrics.tokn_env", "unknown key"),
        (["127.0.0.1"], "web.metrics", "mapping"),
    ],
)
def test_r4_a_bad_metrics_value_is_one_problem_naming_its_key_path(
    load: Loader, section: Any, path: str, words: str
) -> None:
    env = {**ENV, "SHORT_TOKEN": "short"}
    (problem,) = problems_of(load, with_metrics(section), env)
    assert problem.startswith(f"{path}: ") and words in problem
    # S5: the secret itself is never echoed.
    assert TOKEN not in problem and "short" not in problem


def test_r4_check_config_warns_where_the_address_alone_guards_the_metrics(
    load: Loader, tmp_path: Path
) -> None:
    def web_warnings(web: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
        config = load(mutate(lambda d: d.update(web=web)), env)
        return [w for w in config_warnings(config) if w.startswith("web.metrics")]

    assert web_warnings({}) == []
    (proxied,) = web_warnings({"host": "0.0.0.0", "behind_proxy": True})  # noqa: S104
    assert "reverse proxy" in proxied and "token_file" in proxied
    (tmp_path / "console.crt").write_text("certificate\n")
    (tmp_path / "console.key").write_text("key\n")
    tls = {"certificate": str(tmp_path / "console.crt"), "key": str(tmp_path / "console.key")}
    remote = {"host": "0.0.0.0", "tls": tls, "metrics": {"allow": ["10.0.5.0/24"]}}  # noqa: S104
    (alone,) = web_warnings(remote)
    assert alone.startswith("web.metrics.allow: 10.0.5.0/24 may scrape")
    env = {**ENV, "SCRAPE_TOKEN": TOKEN}
    with_token = {**remote, "metrics": {"allow": ["10.0.5.0/24"], "token_env": "SCRAPE_TOKEN"}}
    assert web_warnings(with_token, env) == []
