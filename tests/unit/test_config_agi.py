"""The ``agi`` section: absent means no FastAGI server; every bad value is one problem
naming its key path (R2); an address off the loopback is refused unless the site states
that only its Asterisk hosts reach it, since FastAGI has no authentication."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config.model import AgiSettings
from controller.config.warnings import config_warnings
from tests.unit.test_config import ALL_INTERFACES, Loader, load, mutate, problems_of

__all__ = ["load"]


def with_agi(section: Any) -> dict[str, Any]:
    return mutate(lambda d: d.update(agi=section))


def test_r2_no_agi_section_means_no_fastagi_server(load: Loader) -> None:
    assert load(mutate(lambda d: None)).agi is None


def test_r2_an_empty_agi_section_listens_on_the_loopback_with_the_defaults(load: Loader) -> None:
    assert load(with_agi({})).agi == AgiSettings()
    assert AgiSettings() == AgiSettings("127.0.0.1", 4573, 100, 10.0, False)


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:4573", "127.0.0.1", 4573),
        ("[::1]:5000", "::1", 5000),
        ("localhost:1", "localhost", 1),
    ],
)
def test_r2_listen_is_host_and_port(load: Loader, listen: str, host: str, port: int) -> None:
    config = load(with_agi({"listen": listen, "max_connections": 5, "read_timeout_seconds": 2.5}))
    assert config.agi == AgiSettings(host, port, 5, 2.5, False)
    assert not [w for w in config_warnings(config) if w.startswith("agi.")]


@pytest.mark.parametrize(
    ("section", "path", "words"),
    [
        ({"listen": "127.0.0.1"}, "agi.listen", "HOST:PORT"),
        ({"listen": "127.0.0.1:0"}, "agi.listen", "HOST:PORT"),
        ({"listen": "127.0.0.1:70000"}, "agi.listen", "HOST:PORT"),
        ({"listen": "127.0.0.1:45a"}, "agi.listen", "HOST:PORT"),
        ({"listen": "::1:4573"}, "agi.listen", "HOST:PORT"),
        ({"listen": "[::1:4573"}, "agi.listen", "HOST:PORT"),
        ({"listen": 4573}, "agi.listen", "HOST:PORT"),
        ({"listen": ["x"]}, "agi.listen", "must be a string"),
        ({"max_connections": 0}, "agi.max_connections", ">= 1"),
        ({"max_connections": "many"}, "agi.max_connections", "whole number"),
        ({"read_timeout_seconds": 0}, "agi.read_timeout_seconds", "> 0"),
        ({"read_timeout_seconds": float("nan")}, "agi.read_timeout_seconds", "finite"),
        ({"read_timeout_seconds": 301}, "agi.read_timeout_seconds", "<= 300"),
        ({"allow_remote": "yes"}, "agi.allow_remote", "true or false"),
        ({"port": 4573}, "agi.port", "unknown key"),
        ("127.0.0.1:4573", "agi", "mapping"),
    ],
)
def test_r2_a_bad_agi_value_is_one_problem_naming_its_key_path(
    load: Loader, section: Any, path: str, words: str
) -> None:
    (problem,) = problems_of(load, with_agi(section))
    assert problem.startswith(f"{path}: ") and words in problem


@pytest.mark.parametrize("host", [ALL_INTERFACES, "[::]", "192.0.2.10", "pbx.example"])
def test_r2_fastagi_off_the_loopback_is_refused_unless_stated(load: Loader, host: str) -> None:
    (problem,) = problems_of(load, with_agi({"listen": f"{host}:4573"}))
    assert problem.startswith("agi.listen: ") and "not a loopback address" in problem
    assert "allow_remote: true" in problem and "no authentication" in problem


def test_r2_fastagi_off_the_loopback_with_allow_remote_loads_and_is_warned(load: Loader) -> None:
    config = load(with_agi({"listen": "192.0.2.10:4573", "allow_remote": True}))
    assert config.agi == AgiSettings("192.0.2.10", 4573, 100, 10.0, True)
    [warning] = [w for w in config_warnings(config) if w.startswith("agi.")]
    assert "firewall port 4573" in warning
