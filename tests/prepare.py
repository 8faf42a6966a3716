"""What the suite builds once, before its first call: ``python -m tests.prepare``.

The sandbox chroot (Asterisk 22, about a minute on a fresh machine) and the two container
images (about 30 s for the Debian base, then over a minute of package installs) are
cached, but on a fresh machine the first test that needs them builds them. Run inside the
parallel suite, those builds take the CPU from the calls other workers are playing in
real time; built here first, every call in the suite meets a machine doing nothing else
but the suite. ``make test`` runs this before pytest; the fixtures still build what is
missing, so a single test file runs without it.

It first checks that Debian's Chromium, which the console's browser tests drive, is
installed (``./dev`` installs it), and says so before building anything.
"""

from __future__ import annotations

import sys
import time

from controller.sandbox import Sandbox, SandboxError, default_root
from tests import podman
from tests.browser.chromium import ChromiumMissing, chromium_path
from tests.integration.conftest import REPOSITORY


def suite_sandbox() -> Sandbox:
    """The sandbox chroot the tests use, with this repository's configuration and dialplan."""
    return Sandbox(default_root(), REPOSITORY / "config" / "asterisk", REPOSITORY / "dialplan")


def main() -> int:
    # First, as it takes no time: without the browser, the console's tests cannot run.
    try:
        chromium_path()
    except ChromiumMissing as exc:
        print(f"tests.prepare: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        suite_sandbox().ensure_built()
    except SandboxError as exc:
        print(f"tests.prepare: the sandbox Asterisk could not be built: {exc}", file=sys.stderr)
        return 1
    chroot = time.monotonic() - started
    try:
        built = podman.build_images()
    except podman.PodmanError as exc:
        print(f"tests.prepare: the container images could not be built: {exc}", file=sys.stderr)
        return 1
    images = ", ".join(f"{tag} {seconds:.0f} s" for tag, seconds in built.seconds.items())
    print(f"tests.prepare: sandbox chroot ready in {chroot:.0f} s; images: {images}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
