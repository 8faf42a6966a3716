"""What the staff and the regulator are owed before and while calls are recorded: the
staff representatives informed first (A8), near-systematic sampling only under an
exemption (P5), an exemption's own retention ceiling (T1), and the private-call counts
in the register (A2), as ``check-config`` and the generated documents say them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from controller.cli import cli
from controller.config import load_config
from controller.documents import build_agent_notice, build_register, render

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ENV = {"ARI_PW": "x", "HMAC_KEY": "k" * 32}


def golden_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GOLDEN / "site.yaml").read_text(encoding="utf-8"))
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "reccontrol.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def check_config(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_a8_check_config_refuses_a_config_without_the_date(tmp_path: Path) -> None:
    """``check-config`` exits 2 and names ``legal.staff_representatives_informed`` when
    the date is missing (A8)."""
    data = golden_data()
    del data["legal"]["staff_representatives_informed"]
    code, out, err = check_config(write(tmp_path, data))
    assert code == 2 and "valid" not in out
    assert err.splitlines() == [
        "error: legal.staff_representatives_informed: is required: the system is presented "
        "to the staff representatives before any call is recorded; give the date they were "
        "informed, e.g. 2025-11-15 (A8)"
    ]


def test_a8_check_config_says_from_which_day_calls_may_be_recorded(tmp_path: Path) -> None:
    """A past date: ``check-config`` says calls may be recorded; a date to come: valid,
    with a warning that nothing is recorded before that day (A8)."""
    code, out, err = check_config(write(tmp_path, golden_data()))
    assert code == 0, err
    assert "staff representatives informed on 2026-01-20: calls may be recorded (A8)" in out
    assert "A8" not in err

    data = golden_data()
    data["legal"]["staff_representatives_informed"] = "2999-01-04"
    code, out, err = check_config(write(tmp_path, data))
    assert code == 0, err
    assert "calls may be recorded" not in out
    (warning,) = [line for line in err.splitlines() if "A8" in line]
    assert warning.startswith(
        "warning: legal.staff_representatives_informed: 2999-01-04 is after today ("
    )
    assert warning.endswith(
        "no call is recorded before that day, the staff representatives must be informed "
        "first (A8)"
    )


def test_a8_documents_show_the_date_and_that_nothing_is_recorded_before(tmp_path: Path) -> None:
    """The register and the agent notice give the day the staff representatives were
    informed, and say no call is recorded before it (A8, A6, D1)."""
    data = golden_data()
    data["legal"]["staff_representatives_informed"] = "2026-03-09"
    config = load_config(write(tmp_path, data), environ=ENV)
    register = render(build_register(config), "md")
    assert (
        "Instances représentatives du personnel informées le 09/03/2026, avant tout "
        "enregistrement : aucun appel n'est enregistré avant cette date." in register
    )
    notice = render(build_agent_notice(config), "md")
    assert "informées du dispositif le 09/03/2026" in notice
    assert "aucun appel n'est enregistré avant cette date" in notice
    html = render(build_agent_notice(config, "alice"), "html")
    assert "09/03/2026" in html


def test_p5_register_states_the_threshold_and_the_sites_reason(tmp_path: Path) -> None:
    """The register says above which rate sampling counts as systematic recording, and
    the site's reason when it states its own threshold (P5, D1)."""
    config = load_config(GOLDEN / "site.yaml", environ=ENV)
    register = render(build_register(config), "md")
    assert "Au-delà de 50 % des appels, l'enregistrement est considéré comme systématique" in (
        register
    )
    data = golden_data()
    reason = "Campagne qualité renforcée validée par le CSE le 2026-01-20"
    data["proportionality"] = {"max_rate_without_exemption": 0.3, "reason": reason}
    config = load_config(write(tmp_path, data), environ=ENV)
    register = render(build_register(config), "md")
    assert "Au-delà de 30 % des appels" in register
    assert f"Seuil retenu au lieu de 50 % : {reason}" in register


def test_p5_check_config_refuses_near_systematic_sampling(tmp_path: Path) -> None:
    """``rate: 0.999`` without an exemption: exit 2, naming the rate's key path (P5)."""
    data = golden_data()
    data["services"]["adhesions"]["sampling"]["rate"] = 0.999
    code, _, err = check_config(write(tmp_path, data))
    assert code == 2
    assert err.startswith(
        "error: services.adhesions.sampling.rate: 0.999 is above 0.5 "
        "(proportionality.max_rate_without_exemption)"
    )


def test_t1_register_prints_each_exemptions_retention_ceiling(tmp_path: Path) -> None:
    """The register gives, for each exemption, the longest retention it allows: its
    own maximum, or 183 days when it states none (T1, P2)."""
    data = golden_data()
    urgences = data["services"]["urgences"]
    urgences["exemption"]["max_retention_days"] = 365
    urgences["retention_days"] = 300
    config = load_config(write(tmp_path, data), environ=ENV)
    register = render(build_register(config), "md")
    assert "| Service | Base légale écrite de la dérogation | Conservation maximale permise |" in (
        register
    )
    assert "article R.9-9 du code exemple | 365 jours |" in register
    assert "| Enregistrements : Assistance urgente (urgences) | 300 jours |" in register

    golden = render(build_register(load_config(GOLDEN / "site.yaml", environ=ENV)), "md")
    assert "article R.9-9 du code exemple | 183 jours |" in golden


def test_a2_t5_register_lists_private_call_counts_and_their_retention(tmp_path: Path) -> None:
    """The register says that a count of private calls per agent and per day is kept,
    and for how long (``privacy.call_metadata_days``); the agent notice says so too
    (A2, T5)."""
    data = golden_data()
    data["privacy"]["call_metadata_days"] = 200
    config = load_config(write(tmp_path, data), environ=ENV)
    register = render(build_register(config), "md")
    assert (
        "| Nombre d'appels privés par téléconseiller et par jour (seule trace conservée "
        "d'un appel privé) | 200 jours |" in register
    )
    assert "nombre d'appels privés par jour" in register
    notice = render(build_agent_notice(config), "md")
    assert "Nombre de vos appels privés par jour (rien d'autre n'en est gardé) : 200 jours." in (
        notice
    )
