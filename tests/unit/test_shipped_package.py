"""What the daemon installs from: the test Asterisk builder and the demo stay in the
source checkout, out of the package, and the command line works without them: the
daemon's install carries only what it runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _shipped() -> set[str]:
    """The packages setuptools' ``packages.find`` picks with the project's patterns."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    found = pyproject["tool"]["setuptools"]["packages"]["find"]
    packages = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "controller").rglob("__init__.py")
    }
    return {
        package
        for package in packages
        if any(fnmatch(package, p) for p in found["include"])
        and not any(fnmatch(package, p) for p in found.get("exclude", ()))
    }


def test_the_package_leaves_the_sandbox_and_the_demo_out() -> None:
    shipped = _shipped()
    assert "controller" in shipped and "controller.calls" in shipped
    assert not {p for p in shipped if p.startswith(("controller.sandbox", "controller.demo"))}


def _help(hide: bool) -> str:
    script = textwrap.dedent(
        f"""
        import sys
        if {hide!r}:
            sys.modules["controller.sandbox"] = None  # as in an installed package
            sys.modules["controller.demo"] = None
        from controller.cli import cli
        print("loaded:", sorted(m for m in sys.modules
                                if m.startswith(("controller.sandbox", "controller.demo"))
                                and sys.modules[m] is not None))
        cli(["--help"], standalone_mode=False)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    return result.stdout


def test_the_command_line_lists_the_dev_commands_only_from_a_checkout() -> None:
    checkout = _help(hide=False)
    assert "  sandbox " in checkout and "  demo " in checkout
    # Importing the command line (as ``reccontrol run`` does) loads neither.
    assert "loaded: []" in checkout
    installed = _help(hide=True)
    assert "  sandbox " not in installed and "  demo " not in installed
    assert "  run " in installed and "loaded: []" in installed
