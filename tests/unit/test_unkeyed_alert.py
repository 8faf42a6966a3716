"""``check-config`` says, as an ALERT, when a site's access log would run without its key
(S7): the line a person reads before starting the daemon."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from controller.cli import cli
from tests.sites import ENV, site_config, write_site


def check_config(path: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["check-config", str(path), *extra], env=ENV)
    return result.exit_code, result.output.splitlines()


def test_check_config_alerts_on_an_unkeyed_access_log_S7(tmp_path: Path) -> None:
    """S7: valid (exit 0), but an ALERT line names the key to set, also offline."""
    data = site_config(tmp_path)
    data["audit"] = {"retention_days": 365}
    path = write_site(tmp_path, data)
    for extra in ((), ("--offline",)):
        code, lines = check_config(path, *extra)
        assert code == 0, lines
        alerts = [line for line in lines if line.startswith("ALERT: ")]
        assert len(alerts) == 1, lines
        assert alerts[0].startswith("ALERT: audit.checkpoint_key_file: not set")
        assert "not keyed" in alerts[0]


def test_check_config_keyed_site_has_no_alert_S7(tmp_path: Path) -> None:
    """S7: with the key (here from the environment) there is nothing to say."""
    code, lines = check_config(write_site(tmp_path))
    assert code == 0, lines
    assert not [line for line in lines if "ALERT" in line]
