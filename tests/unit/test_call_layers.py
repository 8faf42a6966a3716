"""The call machines stay pure: no HTTP stack behind them, and every command they can
return has exactly one kind that the executor handles."""

from __future__ import annotations

import subprocess
import sys
import typing

from controller.calls import commands as c

MACHINES = (
    "controller.calls.inbound",
    "controller.calls.announcement",
    "controller.calls.recording",
    "controller.calls.conversation",
    "controller.calls.payment",
    "controller.calls.snapshot",
    "controller.calls.commands",
    "controller.calls.messages",
    "controller.payments.charge",
    "controller.payments.ivr",
    "controller.policy",
)


def test_call_machines_import_no_http_stack() -> None:
    """Checked in a fresh interpreter: this test process has aiohttp loaded already."""
    script = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in MACHINES)
        + "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'"
        " or m in ('controller.ari.client', 'controller.payments.gateway'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_the_check_would_see_the_http_stack() -> None:
    """The same check, on a module that does use aiohttp, does see it."""
    script = "import sys\nimport controller.payments.gateway\nprint('aiohttp' in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "True"


KINDS: dict[type, object] = {
    c.RestCommand: c.Rest,
    c.StoreCommand: c.Store,
    c.WorkCommand: c.Work,
    c.TimerCommand: c.Timer,
    c.ControlCommand: c.Control,
}


def _members(union: object) -> set[type]:
    return set(typing.get_args(union))


def test_every_command_class_is_in_the_union_of_its_kind() -> None:
    for base, union in KINDS.items():
        subclasses = {
            cls
            for cls in vars(c).values()
            if isinstance(cls, type) and issubclass(cls, base) and cls is not base
        }
        assert subclasses == _members(union), base.__name__
    assert _members(c.Command) == set().union(*(_members(u) for u in KINDS.values()))


def test_no_command_has_two_kinds() -> None:
    for cls in _members(c.Command):
        assert sum(issubclass(cls, base) for base in KINDS) == 1, cls.__name__
