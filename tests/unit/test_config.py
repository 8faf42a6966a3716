"""Config validation: every rule reports the YAML key path and the problem."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.config import ConfigError, load_config
from controller.config.model import Config
from controller.demo.payment_api import make_certificates
from tests.example_site import example_environ

ENV = {"ARI_PW": "s3cret-ari", "HMAC_KEY": "0123456789abcdef0123456789"}
REPO = Path(__file__).resolve().parents[2]


def base() -> dict[str, Any]:
    return {
        "organisation": {
            "name": "ACME",
            "dpo": {"name": "Claire Dubois", "email": "dpo@acme.example"},
        },
        "ari": {"url": "http://127.0.0.1:8088", "username": "reccontrol", "password_env": "ARI_PW"},
        "store": {"path": "/tmp/reccontrol-test.sqlite3"},
        "recordings": {"asterisk_dir": "/tmp/ast", "vault_dir": "/tmp/vault"},
        "privacy": {"caller_hmac_key_env": "HMAC_KEY"},
        "legal": {"staff_representatives_informed": "2025-11-15"},
        "agents": {
            "alice": {
                "name": "Alice",
                "endpoints": ["PJSIP/alice"],
                "windows": [{"days": "mon-fri", "from": "09:00", "to": "17:00"}],
            }
        },
        "services": {
            "sales": {
                "language": "fr",
                "purposes": ["training"],
                "announcement": {"sound": "reccontrol/fr/announce", "version": "v1"},
                "full_notice": "reccontrol/fr/notice",
                "sampling": {"rate": 0.2},
                "target": "PJSIP/alice",
            }
        },
    }


Loader = Callable[..., Config]


@pytest.fixture
def load(tmp_path: Path) -> Loader:
    def _load(data: Any, env: dict[str, str] | None = None) -> Config:
        path = tmp_path / "reccontrol.yaml"
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return load_config(path, environ=ENV if env is None else env)

    return _load


def problems_of(load: Loader, data: Any, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(data, env)
    return [str(p) for p in info.value.problems]


def mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(base())
    change(data)
    return data


def test_valid_config_loads(load: Loader) -> None:
    config = load(base())
    sales = config.services["sales"]
    assert sales.sampling_rate == 0.2
    assert sales.retention_days == 90
    assert sales.caller_keys.opt_out == "9"
    assert config.ari.password.reveal() == "s3cret-ari"
    assert config.agents["alice"].windows[0].days == frozenset(range(5))


def test_shipped_example_is_valid(tmp_path: Path) -> None:
    config = load_config(REPO / "config" / "example.yaml", environ=example_environ(tmp_path))
    assert config.services["emergency"].exemption is not None
    assert config.services["emergency"].sampling_rate == 1.0


@pytest.mark.parametrize("rate", [0, 1, 1.5, -0.1])
def test_sampling_rate_out_of_range(load: Loader, rate: float) -> None:
    """A sampling rate must be strictly between 0 and 1 (P1, P2)."""
    data = mutate(lambda d: d["services"]["sales"]["sampling"].update(rate=rate))
    assert problems_of(load, data) == [
        "services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)"
    ]


def test_sampling_rate_not_a_number(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"]["sampling"].update(rate="half"))
    assert problems_of(load, data) == [
        "services.sales.sampling.rate: must be a number between 0 and 1; got 'half'"
    ]


def test_no_sampling_means_record_all_and_needs_exemption(load: Loader) -> None:
    """Recording every call needs an exemption (P2)."""
    data = mutate(lambda d: d["services"]["sales"].pop("sampling"))
    (problem,) = problems_of(load, data)
    assert problem.startswith("services.sales.sampling: is required: without sampling")
    assert "exemption" in problem


def test_exemption_allows_record_all_and_long_retention(load: Loader) -> None:
    """An exemption with a written legal basis allows record-all and longer retention (P2, T1)."""

    def change(d: dict[str, Any]) -> None:
        sales = d["services"]["sales"]
        sales.pop("sampling")
        sales["exemption"] = {
            "legal_basis": "Emergency-service obligation, article L.1",
            "max_retention_days": 400,
        }
        sales["retention_days"] = 400

    config = load(mutate(change))
    assert config.services["sales"].sampling_rate == 1.0
    assert config.services["sales"].retention_days == 400
    exemption = config.services["sales"].exemption
    assert exemption is not None and exemption.max_retention_days == 400


def test_exemption_needs_a_real_legal_basis(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(exemption={"legal_basis": "law"}))
    assert problems_of(load, data) == [
        "services.sales.exemption.legal_basis: must state the written legal basis in full "
        "(at least 20 characters)"
    ]


def test_retention_above_six_months_refused(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(retention_days=200))
    assert problems_of(load, data) == [
        "services.sales.retention_days: must be <= 183 (6 months); keeping recordings longer "
        "needs an exemption"
    ]


def test_unknown_key_suggests_the_right_one(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"]["sampling"].update(rat=0.1))
    assert "services.sales.sampling.rat: unknown key (did you mean 'rate'?)" in problems_of(
        load, data
    )


def test_missing_required_keys_are_all_reported(load: Loader) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["services"]["sales"]["target"]
        del d["services"]["sales"]["announcement"]["version"]
        del d["store"]

    problems = problems_of(load, mutate(change))
    assert "store: is required" in problems
    assert "services.sales.target: is required" in problems
    assert "services.sales.announcement.version: is required" in problems


def test_password_in_yaml_refused(load: Loader) -> None:
    def change(d: dict[str, Any]) -> None:
        d["ari"].pop("password_env")
        d["ari"]["password"] = "plain"

    problems = problems_of(load, mutate(change))
    assert problems[0].startswith("ari.password: secrets are not written in the YAML")
    assert not any("plain" in p for p in problems)


def test_secret_env_missing(load: Loader) -> None:
    assert problems_of(load, base(), env={"HMAC_KEY": ENV["HMAC_KEY"]}) == [
        "ari.password_env: environment variable ARI_PW is not set or is empty"
    ]


def test_secret_from_file(load: Loader, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    data = mutate(lambda d: d["ari"].update(password_env=None, password_file=str(secret)))
    data["ari"].pop("password_env")
    assert load(data).ari.password.reveal() == "from-file"


def test_secret_file_unreadable(load: Loader, tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["ari"].pop("password_env")
        d["ari"]["password_file"] = str(tmp_path / "absent")

    (problem,) = problems_of(load, mutate(change))
    assert problem.startswith(f"ari.password_file: cannot read {tmp_path / 'absent'}")


def test_secret_both_sources_refused(load: Loader) -> None:
    data = mutate(lambda d: d["ari"].update(password_file="/x"))
    assert problems_of(load, data) == [
        "ari.password_env: give either 'password_env' or 'password_file', not both"
    ]


def test_secret_never_in_repr(load: Loader) -> None:
    config = load(base())
    assert "s3cret" not in repr(config)
    assert "0123456789abcdef" not in repr(config)


def test_hmac_key_too_short(load: Loader) -> None:
    assert problems_of(load, base(), env={"ARI_PW": "x", "HMAC_KEY": "short"}) == [
        "privacy.caller_hmac_key_env: the key must be at least 16 characters long"
    ]


def test_ari_url_must_be_http(load: Loader) -> None:
    data = mutate(lambda d: d["ari"].update(url="ftp://asterisk"))
    assert problems_of(load, data) == [
        "ari.url: must be an http:// or https:// URL of Asterisk's HTTP server; "
        "got 'ftp://asterisk'"
    ]


def test_ari_url_must_not_carry_credentials(load: Loader) -> None:
    data = mutate(lambda d: d["ari"].update(url="http://u:p@127.0.0.1:8088"))
    assert problems_of(load, data) == [
        "ari.url: must not carry credentials; use 'username' and 'password_env'"
    ]


def test_reconnect_delays_ordered(load: Loader) -> None:
    data = mutate(lambda d: d["ari"].update(reconnect={"initial_delay": 5, "max_delay": 1}))
    assert problems_of(load, data) == ["ari.reconnect.max_delay: must be >= initial_delay (5)"]


def test_unknown_purpose(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(purposes=["training", "evidence"]))
    assert problems_of(load, data) == [
        "services.sales.purposes[1]: unknown purpose 'evidence'; use training, quality, mediation"
    ]


def test_caller_keys_must_differ(load: Loader) -> None:
    data = mutate(
        lambda d: d["services"]["sales"].update(caller_keys={"opt_out": 5, "full_notice": "5"})
    )
    assert problems_of(load, data) == [
        "services.sales.caller_keys.full_notice: must differ from opt_out ('5')"
    ]


def test_caller_key_must_be_one_dtmf_key(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(caller_keys={"opt_out": "12"}))
    assert problems_of(load, data) == [
        "services.sales.caller_keys.opt_out: must be one DTMF key: 0-9, * or #"
    ]


def test_campaign_dates(load: Loader) -> None:
    data = mutate(
        lambda d: d["services"]["sales"].update(
            campaign={"start": dt.date(2026, 6, 1), "end": "2026-05-01"}
        )
    )
    assert problems_of(load, data) == [
        "services.sales.campaign.end: must not be before start (2026-06-01)"
    ]
    data = mutate(lambda d: d["services"]["sales"].update(campaign={"start": "June"}))
    assert problems_of(load, data) == [
        "services.sales.campaign.start: must be a date written YYYY-MM-DD; got 'June'"
    ]


def test_window_errors(load: Loader) -> None:
    data = mutate(
        lambda d: d["agents"]["alice"].update(
            windows=[{"days": "mon-fry", "from": "9h", "to": "17:00"}]
        )
    )
    problems = problems_of(load, data)
    assert (
        "agents.alice.windows[0].days: unknown day 'mon-fry'; use mon, tue, wed, thu, fri, "
        "sat, sun or ranges like mon-fri" in problems
    )
    assert 'agents.alice.windows[0].from: must be a time written HH:MM, e.g. "09:00"' in problems


def test_agent_needs_published_windows(load: Loader) -> None:
    """Every agent has published recording periods (A1)."""
    data = mutate(lambda d: d["agents"]["alice"].update(windows=[]))
    assert problems_of(load, data) == [
        "agents.alice.windows: must list at least one published recording period (A1)"
    ]


def test_protected_agent_needs_reason(load: Loader) -> None:
    data = mutate(lambda d: d["agents"]["alice"].update(protected=True))
    (problem,) = problems_of(load, data)
    assert problem.startswith("agents.alice.protection_reason: is required when protected")


def test_target_must_be_a_dial_string(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(target="alice"))
    (problem,) = problems_of(load, data)
    assert problem.startswith("services.sales.target: must be an Asterisk dial string")


def test_bad_names(load: Loader) -> None:
    data = mutate(lambda d: d["services"].update({"Sales Team": d["services"]["sales"]}))
    assert problems_of(load, data) == [
        "services.Sales Team: invalid service name: names use lower-case letters, digits, '-' "
        "and '_', start with a letter"
    ]


def test_timezone(load: Loader) -> None:
    data = mutate(lambda d: d.update(timezone="Mars/Olympus"))
    assert problems_of(load, data) == [
        "timezone: unknown time zone 'Mars/Olympus'; use a name like Europe/Paris"
    ]


def test_vault_must_differ_from_asterisk_dir(load: Loader) -> None:
    data = mutate(lambda d: d["recordings"].update(vault_dir="/tmp/ast"))
    (problem,) = problems_of(load, data)
    assert problem.startswith("recordings.vault_dir: must differ from asterisk_dir")


def test_wrong_types(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(answer_timeout="soon", purposes=3))
    problems = problems_of(load, data)
    assert "services.sales.answer_timeout: must be a whole number, not a string" in problems


def test_top_level_not_a_mapping(load: Loader) -> None:
    assert problems_of(load, "- just\n- a list\n") == ["must be a mapping of keys, not a list"]


def test_yaml_syntax_error_gives_line(load: Loader, tmp_path: Path) -> None:
    text = "organisation:\n  name: ACME\nari: [unclosed\nstore: {}\n"
    (problem,) = problems_of(load, text)
    assert problem.startswith(f"{tmp_path / 'reccontrol.yaml'}:4:")
    assert "YAML syntax error" in problem


def test_yaml_duplicate_key_refused(load: Loader, tmp_path: Path) -> None:
    text = "organisation:\n  name: A\n  name: B\n"
    (problem,) = problems_of(load, text)
    assert problem.startswith(f"{tmp_path / 'reccontrol.yaml'}:3:3: YAML syntax error")
    assert "duplicate key 'name'" in problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", environ={})
    assert str(info.value) == (
        f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"
    )


def test_empty_file_lists_required_sections(load: Loader) -> None:
    problems = problems_of(load, "")
    assert "organisation: is required" in problems
    assert "services: is required" in problems


def test_agent_key_defaults(load: Loader) -> None:
    keys = load(base()).agent_keys
    assert keys.sequences() == {
        "start": "*1",
        "pause": "*2",
        "resume": "*3",
        "private": "*7",
        "payment": "*8",
        "card": "*5",
        "notice_given": "*4",
    }
    assert load(base()).private_calls.dial_prefix == "*77"


def test_agent_sequences_must_not_overlap(load: Loader) -> None:
    data = mutate(lambda d: d.update(agent_keys={"pause": "*2", "resume": "*23"}))
    assert problems_of(load, data) == [
        "agent_keys.resume: overlaps pause ('*2'): one sequence must not begin with another"
    ]
    data = mutate(lambda d: d.update(agent_keys={"private": "*1"}))
    assert problems_of(load, data) == ["agent_keys.private: is the same sequence as start ('*1')"]


def test_agent_sequences_must_not_start_with_a_caller_key(load: Loader) -> None:
    data = mutate(lambda d: d.update(agent_keys={"start": "91"}))
    assert problems_of(load, data) == [
        "agent_keys.start: starts with '9', a caller key (services.sales.caller_keys.opt_out); "
        "agent sequences must not begin with a key callers press"
    ]


def test_agent_sequence_shape(load: Loader) -> None:
    data = mutate(lambda d: d.update(agent_keys={"pause": "2", "inter_digit_timeout": 0}))
    assert problems_of(load, data) == [
        'agent_keys.pause: must be 2 to 4 DTMF keys (0-9, * or #), e.g. "*2"',
        "agent_keys.inter_digit_timeout: must be >= 0.5; got 0",
    ]


def test_pause_settings(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(pause={"mode": "mute", "max_seconds": 2}))
    assert problems_of(load, data) == [
        "services.sales.pause.mode: must be one of skip, silence; got 'mute'",
        "services.sales.pause.max_seconds: must be >= 5; got 2",
    ]
    data = mutate(lambda d: d["services"]["sales"].update(pause={"mode": "silence"}))
    assert load(data).services["sales"].pause.mode == "silence"


def payment_section(**changes: Any) -> dict[str, Any]:
    prompts = {
        k: f"reccontrol/fr/pay-{k}"
        for k in ("number", "expiry", "cvv", "invalid", "approved", "declined", "unavailable")
    }
    section: dict[str, Any] = {"api_url": "https://pay.example/v1/payments", "prompts": prompts}
    section.update(changes)
    return section


def test_payment_section(load: Loader) -> None:
    data = mutate(lambda d: d.update(payment=payment_section(max_amount="250.50")))
    data["services"]["sales"]["payments"] = True
    config = load(data)
    assert config.payment is not None and str(config.payment.max_amount) == "250.50"
    assert config.payment.prompts.cvv == "reccontrol/fr/pay-cvv"
    assert config.services["sales"].payments


def test_payment_api_must_be_https(load: Loader) -> None:
    data = mutate(lambda d: d.update(payment=payment_section(api_url="http://pay.example/x")))
    assert problems_of(load, data) == [
        "payment.api_url: must be an https:// URL: card data only ever travels encrypted (M1)"
    ]


def test_payment_prompts_and_bundle(load: Loader, tmp_path: Path) -> None:
    section = payment_section(ca_bundle=str(tmp_path / "none.pem"))
    del section["prompts"]["cvv"]
    data = mutate(lambda d: d.update(payment=section))
    assert problems_of(load, data) == [
        f"payment.ca_bundle: {tmp_path / 'none.pem'} is not a readable file",
        "payment.prompts.cvv: is required",
    ]


def test_service_payments_need_the_payment_section(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(payments=True))
    assert problems_of(load, data) == [
        "services.sales.payments: needs a top-level 'payment' section (the payment API and IVR "
        "prompts)"
    ]


def test_payment_token_never_in_yaml(load: Loader) -> None:
    data = mutate(lambda d: d.update(payment=payment_section(token="abc")))
    (problem,) = problems_of(load, data)
    assert problem.startswith("payment.token: secrets are not written in the YAML")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("ari", "request_timeout"), float("nan")),
        (("ari", "reconnect", "initial_delay"), float("nan")),
        (("services", "sales", "answer_timeout"), float("inf")),
        (("services", "sales", "sampling", "rate"), float("nan")),
        (("payment", "timeout"), float("nan")),
        (("payment", "digit_timeout"), float("-inf")),
        (("payment", "max_amount"), float("inf")),
        (("payment", "max_amount"), float("nan")),
    ],
    ids=lambda v: ".".join(v) if isinstance(v, tuple) else str(v),
)
def test_non_finite_numbers_refused(load: Loader, path: tuple[str, ...], value: float) -> None:
    """Regression (R2): .nan and .inf passed every range check; every number must be finite."""

    def change(data: dict[str, Any]) -> None:
        data["payment"] = payment_section()
        data["services"]["sales"]["payments"] = True
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    problems = problems_of(load, mutate(change))
    assert len(problems) == 1 and problems[0].startswith(".".join(path) + ": "), problems


def test_ari_url_errors_never_echo_the_password(load: Loader) -> None:
    """Regression (S5): a malformed ari.url was echoed whole, password included."""
    data = mutate(lambda d: d["ari"].update(url="ftp://admin:hunter2@pbx.example"))
    problems = problems_of(load, data)
    assert problems == [
        "ari.url: must be an http:// or https:// URL of Asterisk's HTTP server; "
        "got 'ftp://***@pbx.example'",
        "ari.url: must not carry credentials; use 'username' and 'password_env'",
    ]
    broken = mutate(lambda d: d["ari"].update(url="http://admin:hunter2@[::1:8088"))
    (problem,) = problems_of(load, broken)
    assert problem.startswith("ari.url: is not a valid URL") and "hunter2" not in problem


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://pbx.example:8088", True),
        ("http://192.0.2.10:8088", True),
        ("https://pbx.example:8089", False),
        ("http://127.0.0.1:8088", False),
        ("http://localhost:8088", False),
        ("http://[::1]:8088", False),
    ],
)
def test_plain_http_to_a_remote_ari_host_is_warned(load: Loader, url: str, warned: bool) -> None:
    """Regression (S5): plain http:// to another machine sends the ARI password in clear."""
    from controller.config.warnings import config_warnings

    warnings = config_warnings(load(mutate(lambda d: d["ari"].update(url=url))))
    assert bool(warnings) == warned
    assert all(w.startswith("ari.url: plain http://") and "in clear" in w for w in warnings)


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the config must refuse


@pytest.mark.parametrize(
    "host", [ALL_INTERFACES, "::", "192.0.2.10", "pbx.example", "127.0.0.1.nip.io"]
)
def test_s5_web_host_off_the_loopback_is_refused_without_a_proxy(load: Loader, host: str) -> None:
    """S5, R2: ``web.host: 0.0.0.0`` loaded silently and put bearer tokens on the network
    in plain HTTP. Any address that is not surely this machine is refused, naming
    ``web.host``, unless the site states a TLS reverse proxy fronts the daemon."""
    data = mutate(lambda d: d.update(web={"host": host, "port": 8090}))
    (problem,) = problems_of(load, data)
    assert problem.startswith("web.host: ") and "not a loopback address" in problem
    assert "behind_proxy: true" in problem


def test_s5_web_host_off_the_loopback_loads_with_tls_and_names_missing_files(
    load: Loader, tmp_path: Path
) -> None:
    """S5: the daemon's own TLS (``web.tls``) lets it listen off the loopback, unwarned;
    a certificate or key that is not there is refused, naming its key path."""
    from controller.config.warnings import config_warnings

    certificate, key = tmp_path / "console.crt", tmp_path / "console.key"
    certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    tls = {"certificate": str(certificate), "key": str(key)}
    config = load(mutate(lambda d: d.update(web={"host": ALL_INTERFACES, "tls": tls})))
    assert config.web.tls_certificate == certificate and config.web.secure
    assert not [w for w in config_warnings(config) if w.startswith("web.")]
    missing = {"certificate": str(tmp_path / "nope.crt"), "key": "relative.key"}
    problems = problems_of(load, mutate(lambda d: d.update(web={"tls": missing})))
    assert sorted(p.split(":")[0] for p in problems) == ["web.tls.certificate", "web.tls.key"]
    idle = problems_of(load, mutate(lambda d: d.update(web={"session_idle_seconds": 0})))
    assert [p.split(":")[0] for p in idle] == ["web.session_idle_seconds"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_s5_web_host_on_the_loopback_loads_without_a_warning(load: Loader, host: str) -> None:
    from controller.config.warnings import config_warnings

    config = load(mutate(lambda d: d.update(web={"host": host})))
    assert (config.web.host, config.web.behind_proxy) == (host, False)
    assert not [w for w in config_warnings(config) if w.startswith("web.")]


def test_s5_web_host_behind_a_proxy_loads_and_is_warned(load: Loader) -> None:
    """S5: with ``behind_proxy: true`` the config loads; the warning names ``web.host``."""
    from controller.config.warnings import config_warnings

    data = mutate(lambda d: d.update(web={"host": ALL_INTERFACES, "behind_proxy": True}))
    config = load(data)
    assert (config.web.host, config.web.behind_proxy) == (ALL_INTERFACES, True)
    # (web.metrics has its own warning behind a proxy: tests/unit/test_config_metrics.py.)
    [warning] = [w for w in config_warnings(config) if w.startswith("web.host")]
    assert warning.startswith("web.host: the web API listens on '0.0.0.0'")
    problems = problems_of(load, mutate(lambda d: d.update(web={"behind_proxy": "yes"})))
    assert problems == ["web.behind_proxy: must be true or false, not a string"]


PEM_CERTIFICATE = REPO / "tests" / "golden" / "ca.pem"


@pytest.mark.parametrize("key", ["verify", "insecure", "tls_verify"])
def test_payment_tls_verification_cannot_be_turned_off(load: Loader, key: str) -> None:
    """Regression (S6, PCI DSS 4.2.1): no setting weakens TLS for card data; the refusal
    names the key path and says why."""
    value = True if key == "insecure" else False
    data = mutate(lambda d: d.update(payment=payment_section(**{key: value})))
    (problem,) = problems_of(load, data)
    assert problem.startswith(f"payment.{key}: certificate verification cannot be turned off")


def test_payment_api_url_must_not_carry_credentials(load: Loader) -> None:
    """Regression (S6): credentials in api_url are refused, and never echoed."""
    url = "https://shop:hunter2@pay.example/v1/payments"
    data = mutate(lambda d: d.update(payment=payment_section(api_url=url)))
    (problem,) = problems_of(load, data)
    assert problem.startswith("payment.api_url: must not carry credentials")
    assert "hunter2" not in problem


def test_payment_ca_bundle_must_hold_a_certificate_nobody_else_can_change(
    load: Loader, tmp_path: Path
) -> None:
    """Regression (S6): a CA bundle that verifies nothing, or that others may write (and so
    add their own CA to), would weaken TLS: refused at load, naming the key path."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    garbage.chmod(0o644)
    data = mutate(lambda d: d.update(payment=payment_section(ca_bundle=str(garbage))))
    assert problems_of(load, data) == [
        f"payment.ca_bundle: {garbage} holds no PEM certificate to verify the payment API with (S6)"
    ]
    good = make_certificates(tmp_path / "ca").ca
    config = load(mutate(lambda d: d.update(payment=payment_section(ca_bundle=str(good)))))
    assert config.payment is not None and config.payment.ca_bundle == good
    good.chmod(0o666)
    data = mutate(lambda d: d.update(payment=payment_section(ca_bundle=str(good))))
    assert problems_of(load, data) == [
        f"payment.ca_bundle: {good} is writable by group or others; make it 0644 or stricter (S6)"
    ]


def test_outbound_section_and_notice_by_agent(load: Loader) -> None:
    """C6: a service's outbound dial string, and an announcement given by the agent."""

    def change(d: dict[str, Any]) -> None:
        sales = d["services"]["sales"]
        sales["outbound"] = {"dial": "PJSIP/{number}@trunk", "caller_id": "+33140000001"}
        sales["announcement"]["by"] = "agent"

    service = load(mutate(change)).services["sales"]
    assert service.outbound is not None
    assert service.outbound.endpoint("0612345678") == "PJSIP/0612345678@trunk"
    assert (service.outbound.caller_id, service.outbound.ring_timeout) == ("+33140000001", 30)
    assert service.announcement.by == "agent"
    assert load(base()).services["sales"].outbound is None
    assert load(base()).services["sales"].announcement.by == "system"


@pytest.mark.parametrize(
    ("outbound", "expected"),
    [
        ({"dial": "PJSIP/trunk"}, "services.sales.outbound.dial: must be an Asterisk dial string"),
        (
            {"dial": "PJSIP/{number}@t&PJSIP/{number}@u"},
            "services.sales.outbound.dial: must be an Asterisk dial string",
        ),
        (
            {"dial": "PJSIP/{number}@t", "caller_id": "ACME"},
            "services.sales.outbound.caller_id: must be a phone number",
        ),
        (
            {"dial": "PJSIP/{number}@t", "ring_timeout": 1},
            "services.sales.outbound.ring_timeout:",
        ),
        ({"caller_id": "+33140000001"}, "services.sales.outbound.dial: is required"),
    ],
)
def test_outbound_errors_name_the_key(
    load: Loader, outbound: dict[str, Any], expected: str
) -> None:
    """C6: a bad outbound section is refused with its key path."""
    data = mutate(lambda d: d["services"]["sales"].update(outbound=outbound))
    (problem,) = problems_of(load, data)
    assert problem.startswith(expected)


def test_c6_outbound_service_name_without_dash(load: Loader) -> None:
    """C6, R2: agents dial <service>-<number> and the dialplan splits at the first '-',
    so a service with an outbound section cannot have '-' in its name; one without an
    outbound section may."""

    def add(data: dict[str, Any], outbound: bool) -> None:
        service = copy.deepcopy(data["services"]["sales"])
        if outbound:
            service["outbound"] = {"dial": "PJSIP/{number}@trunk"}
        data["services"]["sales-fr"] = service

    problems = problems_of(load, mutate(lambda d: add(d, outbound=True)))
    assert problems == [
        "services.sales-fr.outbound: service 'sales-fr' takes outbound calls, so its name "
        "cannot contain '-' (the dialplan splits <service>-<number> at the first '-'); use "
        "'_' instead"
    ]
    assert load(mutate(lambda d: add(d, outbound=False))).services["sales-fr"].outbound is None


def test_announcement_by_must_be_system_or_agent(load: Loader) -> None:
    """C6: who gives the notice is one of two choices."""
    data = mutate(lambda d: d["services"]["sales"]["announcement"].update(by="robot"))
    (problem,) = problems_of(load, data)
    assert problem.startswith("services.sales.announcement.by:")


def test_r1_watchdog_and_sweep_settings(load: Loader) -> None:
    def change(data: dict[str, Any]) -> None:
        data["ari"]["watchdog"] = {"interval": 30, "timeout": 2.5}
        data["recordings"]["sweep_minutes"] = 5

    config = load(mutate(change))
    assert (config.ari.watchdog.interval, config.ari.watchdog.timeout) == (30, 2.5)
    assert config.recordings.sweep_minutes == 5
    defaults = load(base())
    assert (defaults.ari.watchdog.interval, defaults.ari.watchdog.timeout) == (15.0, 5.0)
    assert defaults.recordings.sweep_minutes == 10.0


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("ari", "watchdog", "interval"), 0),
        (("ari", "watchdog", "timeout"), -1),
        (("ari", "watchdog", "probe"), 1),
        (("recordings", "sweep_minutes"), 0),
    ],
)
def test_r1_bad_watchdog_or_sweep_setting_names_its_key(
    load: Loader, path: tuple[str, ...], value: float
) -> None:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    problems = problems_of(load, mutate(change))
    assert len(problems) == 1 and problems[0].startswith(".".join(path)), problems


# -- T1: an exemption states its own retention ceiling ---------------------------------
BASIS = "Emergency-service obligation, article L.1"


def exempted(retention: int, **exemption: Any) -> dict[str, Any]:
    def change(d: dict[str, Any]) -> None:
        sales = d["services"]["sales"]
        sales.pop("sampling")
        sales["exemption"] = {"legal_basis": BASIS, **exemption}
        sales["retention_days"] = retention

    return mutate(change)


def test_t1_exemption_without_its_own_maximum_keeps_the_183_day_ceiling(load: Loader) -> None:
    """An exemption no longer lifts the 183-day limit without a ceiling: keeping
    recordings 400 days needs the exemption to state its maximum (T1, P5)."""
    assert problems_of(load, exempted(400)) == [
        "services.sales.exemption.max_retention_days: is required when retention_days (400) "
        "is above 183: the exemption states the longest it lets recordings be kept (T1)"
    ]
    assert load(exempted(183)).services["sales"].retention_days == 183


def test_t1_retention_above_the_exemptions_maximum_is_refused(load: Loader) -> None:
    """retention_days above the exemption's own maximum is refused, naming both keys;
    a maximum below 183 binds too (T1, P5)."""
    assert problems_of(load, exempted(400, max_retention_days=365)) == [
        "services.sales.retention_days: must be <= 365, the exemption's maximum "
        "(services.sales.exemption.max_retention_days) (T1)"
    ]
    assert problems_of(load, exempted(150, max_retention_days=120)) == [
        "services.sales.retention_days: must be <= 120, the exemption's maximum "
        "(services.sales.exemption.max_retention_days) (T1)"
    ]
    assert load(exempted(365, max_retention_days=365)).services["sales"].retention_days == 365


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (0, "must be >= 1; got 0"),
        ("a year", "must be a whole number, not a string"),
        (10**6, "must be <= 3650; got 1000000"),
    ],
)
def test_t1_exemption_maximum_must_be_a_number_of_days(
    load: Loader, value: Any, says: str
) -> None:
    """A malformed maximum is refused with its key path, never a traceback (T1, R2)."""
    problems = problems_of(load, exempted(100, max_retention_days=value))
    assert f"services.sales.exemption.max_retention_days: {says}" in problems


# -- P5: near-systematic sampling needs an exemption ---------------------------------
def rate(value: float, **extra: Any) -> dict[str, Any]:
    data = mutate(lambda d: d["services"]["sales"]["sampling"].update(rate=value))
    data.update(extra)
    return data


P5_REFUSAL = (
    "services.sales.sampling.rate: {rate} is above {limit} "
    "(proportionality.max_rate_without_exemption): recording nearly every call is "
    "systematic recording and needs an exemption with a written legal basis "
    "(services.sales.exemption.legal_basis) (P5)"
)


@pytest.mark.parametrize("value", [0.999, 0.51])
def test_p5_rate_above_one_half_needs_an_exemption(load: Loader, value: float) -> None:
    """rate: 0.999 loaded with no exemption: it is systematic recording in all but name.
    Above 0.5 a rate needs the same written exemption as rate: 1 (P5)."""
    assert problems_of(load, rate(value)) == [P5_REFUSAL.format(rate=value, limit=0.5)]


def test_p5_rate_at_the_threshold_or_with_an_exemption_loads(load: Loader) -> None:
    """0.5 itself is allowed; an exemption allows any rate up to 1 (P5, P2)."""
    assert load(rate(0.5)).services["sales"].sampling_rate == 0.5
    data = rate(0.999)
    data["services"]["sales"]["exemption"] = {"legal_basis": BASIS}
    assert load(data).services["sales"].sampling_rate == 0.999


def test_p5_the_site_states_its_own_threshold_with_a_reason(load: Loader) -> None:
    """``proportionality.max_rate_without_exemption`` moves the threshold, only with a
    reason; the refusal names the threshold in force (P5)."""
    reason = "Campagne qualité validée par le CSE et le DPO le 2026-01-20"
    stricter = {"max_rate_without_exemption": 0.3, "reason": reason}
    assert problems_of(load, rate(0.4, proportionality=stricter)) == [
        P5_REFUSAL.format(rate=0.4, limit=0.3)
    ]
    looser = {"max_rate_without_exemption": 0.7, "reason": reason}
    config = load(rate(0.6, proportionality=looser))
    assert config.services["sales"].sampling_rate == 0.6
    assert config.proportionality.max_rate_without_exemption == 0.7
    assert config.proportionality.reason == reason


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"max_rate_without_exemption": 0.7},
            [
                "proportionality.reason: is required: state why this site's threshold of "
                "systematic recording differs from 0.5 (P5)"
            ],
        ),
        (
            {"max_rate_without_exemption": 0.7, "reason": "because"},
            ["proportionality.reason: must state the reason in full (at least 20 characters)"],
        ),
        (
            {"max_rate_without_exemption": 1, "reason": "x" * 30},
            ["proportionality.max_rate_without_exemption: must be <= 0.99; got 1"],
        ),
        (
            {"max_rate_without_exemption": 0, "reason": "x" * 30},
            ["proportionality.max_rate_without_exemption: must be > 0; got 0"],
        ),
        (
            {"reason": "x" * 30},
            ["proportionality.max_rate_without_exemption: is required"],
        ),
        (
            {"max_rate": 0.7, "max_rate_without_exemption": 0.7, "reason": "x" * 30},
            ["proportionality.max_rate: unknown key"],
        ),
    ],
)
def test_p5_threshold_refusals_name_the_key_path(
    load: Loader, section: dict[str, Any], expected: list[str]
) -> None:
    """A threshold without a reason, or out of range, is refused with its key path (P5)."""
    assert problems_of(load, rate(0.2, proportionality=section)) == expected


# -- A8: staff representatives informed first ------------------------------------------
def test_a8_config_without_the_staff_representatives_date_is_refused(load: Loader) -> None:
    """Every service records, so a config with no date for the staff representatives'
    information is refused, naming the key path, with or without a legal section (A8)."""
    expected = [
        "legal.staff_representatives_informed: is required: the system is presented to "
        "the staff representatives before any call is recorded; give the date they were "
        "informed, e.g. 2025-11-15 (A8)"
    ]
    assert problems_of(load, mutate(lambda d: d.pop("legal"))) == expected
    assert problems_of(load, mutate(lambda d: d.update(legal={"notice_url": None}))) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("last spring", "must be a date written YYYY-MM-DD; got 'last spring'"),
        (dt.datetime(2025, 11, 15, 9, 0), "must be a date (YYYY-MM-DD), not a date and time"),
    ],
)
def test_a8_malformed_date_is_refused_once_with_its_key_path(
    load: Loader, value: Any, says: str
) -> None:
    """A malformed date is one problem, with its key path (A8, R2)."""
    data = mutate(lambda d: d["legal"].update(staff_representatives_informed=value))
    assert problems_of(load, data) == [f"legal.staff_representatives_informed: {says}"]


def test_a8_date_loads_into_the_config(load: Loader) -> None:
    """The date is kept for the policy and the documents (A8)."""
    assert load(base()).legal.staff_representatives_informed == dt.date(2025, 11, 15)
