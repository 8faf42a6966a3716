"""The code's shape: layers point one way, and the shipped daemon carries no demo,
sandbox or test tooling: what the daemon runs is only what it needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests import import_graph
from tests.sites import ENV, write_site

REPO = Path(__file__).resolve().parents[2]
# Installed by the test extra only: the daemon must run without any of them.
# (cryptography is the daemon's own since the vault seals its files, S10; psycopg is the
# postgresql extra's, for a store several nodes share.)
TEST_ONLY = ("numpy", "pytest", "mypy", "ruff", "psycopg")


def test_every_package_has_a_layer() -> None:
    packages = {import_graph.package_of(m) for m in import_graph.module_graph()} - {""}
    for package in packages:
        import_graph.layer_of(package)  # raises for a package with no layer


def test_layers_point_one_way() -> None:
    assert import_graph.upward_edges() == []
    assert import_graph.package_cycles() == []
    assert import_graph.module_cycles() == []


def test_the_daemon_packages_import_no_demo_sandbox_or_command_line() -> None:
    graph = import_graph.package_graph()
    for package in import_graph.DAEMON_PACKAGES:
        assert not graph.get(package, set()) - import_graph.DAEMON_PACKAGES, package


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_daemon_runs_without_test_tooling_and_never_imports_demo_or_sandbox(
    tmp_path: Path,
) -> None:
    """``pip install .`` without extras: the daemon's whole import path (the ``run``
    command, the app with every route) loads with the test-only packages hidden, and
    loads neither ``controller.demo`` nor ``controller.sandbox``."""
    config = write_site(tmp_path)
    result = _run(
        f"""
        import sys
        for name in {TEST_ONLY!r}:
            sys.modules[name] = None  # import fails, as if not installed
        from controller.cli import cli
        from controller.config import load_config
        from controller.daemon import build_app
        build_app(load_config({str(config)!r}, {ENV!r}))
        loaded = sorted(
            name for name, module in sys.modules.items() if module is not None
            and (name.startswith(("controller.demo", "controller.sandbox"))
                 or name.split(".")[0] in {TEST_ONLY!r}))
        print("loaded:", loaded)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


def test_the_demo_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    result = _run(
        """
        import sys
        from controller.cli import cli
        sys.modules["cryptography"] = None  # the demo's check looks for it again
        cli.main(["demo", "--workdir", "unused"])
        """,
        tmp_path,
    )
    assert result.returncode == 1
    assert "pip install 'reccontrol[demo]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "unused").exists()


def test_the_shipped_dependencies_hold_no_test_tooling() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    shipped = " ".join(project["dependencies"]).lower()
    assert not [name for name in TEST_ONLY if name in shipped]
    assert any(d.startswith("cryptography") for d in project["optional-dependencies"]["demo"])
