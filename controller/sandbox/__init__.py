"""A real Asterisk 22 in a Debian sid chroot, for the integration tests and the demo.

Needs root (chroot, mount) and debootstrap. See :class:`Sandbox`.
"""

from controller.sandbox.chroot import DEFAULT_ROOT, PACKAGES, default_root
from controller.sandbox.errors import SandboxError
from controller.sandbox.host import debian_mirror
from controller.sandbox.instance import SandboxInstance
from controller.sandbox.sandbox import ARI_USERNAME, Sandbox

__all__ = [
    "ARI_USERNAME",
    "DEFAULT_ROOT",
    "PACKAGES",
    "Sandbox",
    "SandboxError",
    "SandboxInstance",
    "debian_mirror",
    "default_root",
]
