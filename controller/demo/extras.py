"""The demo needs packages the daemon does not: they come with ``reccontrol[demo]``."""

from __future__ import annotations

import importlib

DEMO_PACKAGES = ("cryptography",)


class DemoExtraMissing(ImportError):
    pass


def require_demo_extra() -> None:
    """Raises :class:`DemoExtraMissing`, naming the extra to install, if a package the
    demo needs is missing."""
    missing = []
    for name in DEMO_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise DemoExtraMissing(
            f"the demo needs {', '.join(missing)}, which the daemon does not: install "
            "it with pip install 'reccontrol[demo]' (or run it from a checkout with ./dev demo)"
        )
