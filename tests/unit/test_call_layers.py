"""The call machines stay pure: no HTTP stack and no SQLite stack behind them, and every
command they can return has exactly one kind that the executor handles."""

from __future__ import annotations

import subprocess
import sys
import typing

from controller.calls import commands as c

MACHINES = (
    "controller.calls.call",
    "controller.calls.call_state",
    "controller.calls.parties",
    "controller.calls.starting",
    "controller.calls.ids",
    "controller.calls.deciding",
    "controller.calls.inbound",
    "controller.calls.outbound",
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
    "controller.records",
)
FORBIDDEN = (
    "m.split('.')[0] in ('aiohttp', 'sqlite_utils', 'sqlite3')"
    " or m in ('controller.ari.client', 'controller.payments.gateway')"
    " or m.startswith('controller.store')"
)


def _loaded(modules: tuple[str, ...]) -> str:
    """What importing ``modules`` loads of the HTTP and SQLite stacks, in a fresh
    interpreter: this test process has them loaded already."""
    script = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + f"loaded = sorted(m for m in sys.modules if {FORBIDDEN})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_call_machines_import_no_http_stack() -> None:
    assert _loaded(MACHINES) == ""


def test_call_machines_import_no_sqlite_stack() -> None:
    """The records a call machine returns live outside the store: a pure machine never
    loads sqlite_utils. The check does see the store when it is imported."""
    assert _loaded(MACHINES) == ""
    assert "sqlite_utils" in _loaded(("controller.store.records",)).split(",")


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
