"""``reccontrol demo``. Part of the source checkout, not of the installed daemon (see
the README)."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli_support import CONTEXT, fail


@click.command(context_settings=CONTEXT)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/reccontrol/demo"),
    show_default=True,
    help="Where the demo writes its config, store, vault and logs (wiped at start).",
)
@click.option("--port", default=8088, show_default=True, help="HTTP port for the sandbox's ARI.")
@click.option("--keep", is_flag=True, help="Leave the sandbox Asterisk running afterwards.")
def demo(workdir: Path, port: int, keep: bool) -> None:
    """Run the demo: start the sandbox Asterisk (root and debootstrap needed), run the
    daemon on an embedded SQLite store, put scripted calls through it and print what
    happened to each."""
    from controller.demo.extras import DemoExtraMissing, require_demo_extra

    try:
        require_demo_extra()
    except DemoExtraMissing as exc:
        fail(str(exc))
    from controller.demo.run import run_demo
    from controller.sandbox import SandboxError

    try:
        run_demo(workdir, port, keep)
    except SandboxError as exc:
        fail(str(exc))
