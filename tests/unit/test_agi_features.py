"""The agents' keys of the FastAGI path as Asterisk's feature map, written from the YAML
(A2, A4, A5, M2): ``reccontrol agi features-conf`` prints it, the shipped snippet is
what it prints for the default keys, and ``--check`` names what an installed one gets
wrong."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from controller.agi.features import differences, features, features_conf
from controller.cli import cli
from controller.config.service_model import AgentKeys

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "dialplan" / "reccontrol-features.conf"
EXAMPLE = REPO / "config" / "example.yaml"


def example_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a5_m2_the_shipped_feature_map_is_what_the_command_prints_for_the_default_keys() -> None:
    result = CliRunner().invoke(cli, ["agi", "features-conf"])
    assert result.exit_code == 0, result.output
    assert result.output == SHIPPED.read_text(encoding="utf-8")
    assert result.output == features_conf(AgentKeys())


def test_a2_a4_a5_m2_the_map_has_one_feature_per_key_script_with_the_yaml_sequence() -> None:
    entries = re.findall(r"^(reccontrol-\w+) => (\S+)$", features_conf(AgentKeys()), re.M)
    assert entries == [
        ("reccontrol-pause", "*2,self,Gosub(reccontrol-agi-key,pause,1)"),
        ("reccontrol-resume", "*3,self,Gosub(reccontrol-agi-key,resume,1)"),
        ("reccontrol-record", "*1,self,Gosub(reccontrol-agi-key,record,1)"),
        ("reccontrol-private", "*7,self,Gosub(reccontrol-agi-key,private,1)"),
        ("reccontrol-card", "*5,self,Gosub(reccontrol-agi-key,card,1)"),
    ]
    # The payment IVR is the ARI path's alone: no feature for its key.
    assert "*8" not in features_conf(AgentKeys())


def test_m2_the_connected_subroutine_offers_every_feature_of_the_map() -> None:
    """The shipped subroutines add the map's features to the agent's DYNAMIC_FEATURES
    (reccontrol-agi-connected, and reccontrol-agi-outbound on an agent's outbound call,
    C6): a feature of the map missing there would never be offered to the agent."""
    text = (REPO / "dialplan" / "reccontrol-agi.conf").read_text(encoding="utf-8")
    connected, outbound = re.findall(r"\)\}(reccontrol-[a-z#-]+)\)$", text, re.M)
    names = [f.name for f in features(AgentKeys())]
    assert connected.split("#") == names and outbound.split("#") == names


def test_a5_m2_the_map_follows_the_configured_keys(tmp_path: Path) -> None:
    path = example_with(tmp_path, 'card: "*5"', 'card: "*69"')
    result = CliRunner().invoke(cli, ["agi", "features-conf", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "reccontrol-card => *69,self,Gosub(reccontrol-agi-key,card,1)\n" in result.output
    assert "reccontrol-pause => *2,self," in result.output

    # The shipped snippet no longer matches that YAML: --check names the key path.
    checked = CliRunner().invoke(
        cli, ["agi", "features-conf", "--config", str(path), "--check", str(SHIPPED)]
    )
    assert checked.exit_code == 3
    assert checked.output.splitlines() == [
        f"{SHIPPED}: reccontrol-card: keys '*5', but agent_keys.card is '*69'"
    ]


def test_m2_a_key_that_is_no_feature_sequence_is_a_config_error_naming_its_path(
    tmp_path: Path,
) -> None:
    path = example_with(tmp_path, 'card: "*5"', 'card: "*5A"')
    result = CliRunner().invoke(cli, ["agi", "features-conf", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        'error: agent_keys.card: must be 2 to 4 DTMF keys (0-9, * or #), e.g. "*2"'
    ]
    assert "applicationmap" not in result.output


def test_m2_check_accepts_the_shipped_file_and_reports_each_wrong_feature(tmp_path: Path) -> None:
    ok = CliRunner().invoke(cli, ["agi", "features-conf", "--check", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    assert ok.output == f"{SHIPPED}: matches agent_keys\n"

    installed = tmp_path / "reccontrol-features.conf"
    installed.write_text(
        "[general]\nreccontrol-card => *9,self,Gosub(x,card,1)\n"
        "[applicationmap]\n"
        "; reccontrol-card => *5,self,Gosub(reccontrol-agi-key,card,1)\n"
        "reccontrol-pause => *2 , self , Gosub(reccontrol-agi-key,pause,1) ; the pause\n"
        "reccontrol-resume => *3,self,Gosub(reccontrol-agi-key,pause,1)\n"
        "reccontrol-record => *1,self,Gosub(reccontrol-agi-key,record,1)\n"
        "reccontrol-private => *77,self,Gosub(reccontrol-agi-key,private,1)\n"
        "site-transfer => #9,self,Goto(site,s,1)\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["agi", "features-conf", "--check", str(installed)])
    assert result.exit_code == 3
    assert [line.removeprefix(f"{installed}: ") for line in result.output.splitlines()] == [
        "reccontrol-resume: runs '*3,self,Gosub(reccontrol-agi-key,pause,1)', expected "
        "'*3,self,Gosub(reccontrol-agi-key,resume,1)'",
        "reccontrol-private: keys '*77', but agent_keys.private is '*7'",
        "reccontrol-card: missing (agent_keys.card is '*5')",
    ]


def test_check_of_a_file_that_cannot_be_read_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.conf"
    result = CliRunner().invoke(cli, ["agi", "features-conf", "--check", str(missing)])
    assert result.exit_code == 1
    assert result.output == f"error: {missing}: cannot be read (FileNotFoundError)\n"


def test_differences_ignore_spacing_and_the_sites_own_features() -> None:
    text = features_conf(AgentKeys()).replace(",self,", ", self, ") + "site => #9,self,X\n"
    assert differences(AgentKeys(), text) == []
