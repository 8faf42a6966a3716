"""The command line: every command has help text; check-config's exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from controller.cli import cli
from controller.sandbox.templates import PLACEHOLDER
from tests.example_site import example_environ

REPO = Path(__file__).resolve().parents[2]


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


def test_there_are_commands_to_check() -> None:
    names = all_commands(cli)
    assert ("run",) in names and ("check-config",) in names and ("sandbox", "up") in names


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command: click.Command = cli
    ctx = click.Context(cli)
    for name in path:
        assert isinstance(command, click.Group)
        sub = command.get_command(ctx, name)
        assert sub is not None
        command = sub
    assert command.help and len(command.help.strip()) > 20, f"{' '.join(path)} lacks help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            assert param.help, f"{' '.join(path)} {param.opts[0]} lacks help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_check_config_valid(tmp_path: Path) -> None:
    env = example_environ(tmp_path)
    result = CliRunner().invoke(cli, ["check-config", str(REPO / "config/example.yaml")], env=env)
    assert result.exit_code == 0, result.output
    assert "valid (2 service(s), 2 agent(s))" in result.output


def test_check_config_invalid_prints_one_line_per_problem(tmp_path: Path) -> None:
    text = (REPO / "config/example.yaml").read_text()
    text = text.replace("rate: 0.2", "rate: 1").replace("retention_days: 90", "retention_days: 300")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    env = example_environ(tmp_path)
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=env)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)",
        "error: services.sales.retention_days: must be <= 183 (6 months); keeping recordings "
        "longer needs an exemption",
    ]


def test_sandbox_render_writes_the_same_configuration(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("s3cret-for-ari\n")
    out = tmp_path / "etc"
    result = CliRunner().invoke(
        cli,
        [
            "sandbox",
            "render",
            "--out",
            str(out),
            "--ari-password-file",
            str(password),
            "--instance-dir",
            "/var/lib/x",
            "--http-port",
            "8099",
            "--sip-port",
            "5070",
        ],
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    templates = {p.name for p in (REPO / "config" / "asterisk").glob("*.conf")}
    snippets = {p.name for p in (REPO / "dialplan").glob("*.conf")}
    assert names == templates | snippets
    ari = (out / "ari.conf").read_text()
    assert "password = s3cret-for-ari" in ari
    assert "bindport = 8099" in (out / "http.conf").read_text().replace("\t", " ")
    assert "astspooldir => /var/lib/x/spool" in (out / "asterisk.conf").read_text()
    pjsip = (out / "pjsip.conf").read_text()
    assert "bind = 127.0.0.1:5070" in pjsip
    # Each simulated phone on its own port after the transport's.
    contacts = [line for line in pjsip.splitlines() if line.startswith("contact = ")]
    assert len(contacts) == 4 and len({c.rsplit(":", 1)[1] for c in contacts}) == 4
    assert "contact = sip:alice@127.0.0.1:5071" in contacts
    for path in out.iterdir():
        assert path.stat().st_mode & 0o007 == 0
        assert not PLACEHOLDER.search(path.read_text()), path.name
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("5000-digit int", "organisation: " + "1" * 5000 + "\n", "5000 digits is too long"),
        ("non-string key", "? [a, b]\n: 1\n", "a key must be a plain name"),
        ("deep nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 64"),
        ("deep mappings", "".join(f"{' ' * i}k{i}:\n" for i in range(200)), "nested deeper"),
    ],
)
def test_hostile_config_gives_exit_2_and_one_line(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    """Regression (R2): hostile YAML gave a traceback (exit 1); it is one line and exit 2."""
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=example_environ(tmp_path))
    assert result.exit_code == 2, (name, result.output, result.exception)
    (line,) = result.output.splitlines()
    assert line.startswith(f"error: {path}:") and says in line


def test_check_config_warns_about_plain_http_to_a_remote_ari_host(tmp_path: Path) -> None:
    """Regression (S5): accepted silently before; a warning now, and the config stays valid."""
    text = (REPO / "config/example.yaml").read_text()
    path = tmp_path / "remote.yaml"
    path.write_text(text.replace("http://127.0.0.1:8088", "http://pbx.example:8088"))
    assert "http://pbx.example:8088" in path.read_text()
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=example_environ(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: ari.url: plain http:// to pbx.example" in result.output


def test_s5_check_config_refuses_web_host_0_0_0_0_unless_behind_a_proxy(tmp_path: Path) -> None:
    """S5, R2: ``web.host: 0.0.0.0`` passed check-config silently. Now exit 2 naming
    ``web.host``; with ``behind_proxy: true`` it is valid, with a warning."""
    text = (REPO / "config/example.yaml").read_text()
    assert "  host: 127.0.0.1\n" in text
    path = tmp_path / "open.yaml"
    path.write_text(text.replace("  host: 127.0.0.1\n", "  host: 0.0.0.0\n"))
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=example_environ(tmp_path))
    assert result.exit_code == 2, result.output
    assert "web.host: '0.0.0.0' is not a loopback address" in result.output
    path.write_text(
        text.replace("  host: 127.0.0.1\n", "  host: 0.0.0.0\n").replace(
            "  behind_proxy: false\n", "  behind_proxy: true\n"
        )
    )
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=example_environ(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: web.host: the web API listens on '0.0.0.0'" in result.output


# Nothing the example could read its secrets from.
NO_SECRETS: dict[str, str | None] = {"CREDENTIALS_DIRECTORY": None}


@pytest.mark.parametrize(
    "command", [["register"], ["notice", "callers"], ["notice", "agents"], ["dpia"]], ids=" ".join
)
def test_documents_need_no_secrets(command: list[str]) -> None:
    """Regression (D1, D2, S5): a DPO produces the register, the notices and the DPIA on a
    laptop that holds none of the daemon's secrets: documents never read them."""
    example = str(REPO / "config/example.yaml")
    result = CliRunner().invoke(cli, [*command, "-c", example], env=NO_SECRETS)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("#") and "is not set" not in result.output


def test_check_config_offline_checks_all_but_the_secrets(tmp_path: Path) -> None:
    """Regression (S5): --offline validates everything except that secrets resolve."""
    example = REPO / "config/example.yaml"
    result = CliRunner().invoke(cli, ["check-config", "--offline", str(example)], env=NO_SECRETS)
    assert result.exit_code == 0, result.output
    assert "valid (2 service(s), 2 agent(s))" in result.output
    assert "secrets and credentials not checked (--offline)" in result.output
    online = CliRunner().invoke(cli, ["check-config", str(example)], env=NO_SECRETS)
    assert online.exit_code == 2
    assert "ari.password_file: names ${CREDENTIALS_DIRECTORY}, which is not set" in online.output

    text = example.read_text().replace("rate: 0.2", "rate: 1")
    text = text.replace("password_file: ${CREDENTIALS_DIRECTORY}/ari_password", "password: hunter2")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = CliRunner().invoke(cli, ["check-config", "--offline", str(bad)], env=NO_SECRETS)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: ari.password: secrets are not written in the YAML; name an environment "
        "variable with 'password_env' or a file with 'password_file'",
        "error: services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)",
    ]
