"""The shipped dialplan against what a phone or a trunk may put in an extension (C6, A2,
R2), on the real Asterisk and with no controller connected: the contexts then hand the
call to the site's own fallback, which the test dialplan writes as many sites do (the
number straight into ``Dial()``). A number carrying a second target
(``0612345678&Local/900@siminjected/n``) must be refused before anything is dialled,
and a clean number must still go out.

Each test runs its calls one after the other through one probe, and waits for every
channel to be gone before the next: see ``AriProbe.until_channels_gone``."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from controller.sandbox import SandboxInstance
from tests.integration.ari_probe import AriProbe, Event, ari_app
from tests.waiting import until

INJECTED = "0612345678&Local/900@siminjected/n"
"""A customer's number followed by a second Dial() target: the siminjected context."""
DID = "+33140000101"
INVALID_NUMBER_FORMAT = 28
"""The Q.850 cause the shipped contexts hang up with (SIP 484 Address Incomplete)."""


def entered(context: str) -> Callable[[Event], bool]:
    def matches(e: Event) -> bool:
        return e["type"] == "ChannelDialplan" and bool(
            e["channel"]["dialplan"]["context"] == context
        )

    return matches


def destroyed(channel_id: str) -> Callable[[Event], bool]:
    return lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == channel_id


def started(channel_id: str) -> Callable[[Event], bool]:
    return lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == channel_id


@pytest.fixture
def asterisk(own_asterisk: SandboxInstance) -> SandboxInstance:
    """An Asterisk for each test of this file: its quick originate and hang-up cycles
    were twice followed by a sandbox Asterisk 22 that stopped answering, and the other
    tests of the worker must not inherit one."""
    return own_asterisk


class Calls:
    """One probe, and the calls a test places through it one at a time."""

    def __init__(self, ari: AriProbe) -> None:
        self.ari = ari
        self.since = 0
        self.channels: tuple[str, str] = ("", "")

    async def place(self, endpoint: str, variables: dict[str, str], **where: str) -> str:
        """Originates ``endpoint``; returns the id of its far half (``;2``), the one that
        runs the dialplan. Events before this call are out of :meth:`first_of`'s sight."""
        near, far = str(uuid.uuid4()), str(uuid.uuid4())
        self.since = len(self.ari.events)
        self.channels = (near, far)
        await self.ari.originate(
            endpoint, variables=variables, channelId=near, otherChannelId=far, **where
        )
        return far

    def events(self) -> list[Event]:
        return self.ari.events[self.since :]

    async def first_of(self, *wanted: Callable[[Event], bool]) -> Event:
        """The first event of the current call, in arrival order, matching any of
        ``wanted``."""

        def matching() -> Event | None:
            return next((e for e in self.events() if any(w(e) for w in wanted)), None)

        try:
            await until(lambda: matching() is not None, "the call's first telling event")
        except AssertionError as exc:
            seen = [(e["type"], e.get("channel", {}).get("name")) for e in self.events()]
            raise AssertionError(f"{exc}; events seen: {seen}") from None
        found = matching()
        assert found is not None
        return found

    def contexts_reached(self) -> set[str]:
        return {
            e["channel"]["dialplan"]["context"]
            for e in self.events()
            if e["type"] == "ChannelDialplan"
        }

    async def hang_up(self) -> None:
        """Hangs the current call up and waits until every channel it made is gone."""
        for channel in self.channels:
            await self.ari.call("DELETE", f"/channels/{channel}")
        await self.ari.until_channels_gone(since=self.since)


def phone(context: str, dialled: str) -> tuple[str, dict[str, str]]:
    """Alice's phone dialling ``dialled`` from ``context`` (sim-outphone: through
    reccontrol-outbound; sim-phone: through reccontrol-private-outbound)."""
    return f"Local/alice-phone@{context}", {"SIM_DIAL": dialled}


async def test_c6_a2_a_second_dial_target_in_the_number_is_never_dialled(
    asterisk: SandboxInstance,
) -> None:
    """C6, A2, R2: with the controller down, reccontrol-outbound and the private ``*77``
    path hang the agent's call up with cause 28 before any fallback runs; the target
    added after the number never runs."""
    dialled = [
        ("sim-outphone", f"sales-{INJECTED}"),
        ("sim-outphone", f"sales-*77{INJECTED}"),
        ("sim-phone", f"*77{INJECTED}"),
    ]
    async with ari_app(asterisk, app="observer", subscribe_all=True) as ari:
        calls = Calls(ari)
        for context, extension in dialled:
            endpoint, variables = phone(context, extension)
            far = await calls.place(endpoint, variables, app="observer")
            try:
                first = await calls.first_of(entered("siminjected"), destroyed(far))
                assert first["type"] == "ChannelDestroyed", (
                    f"{extension} from {context}: the injected target ran "
                    f"({first['channel']['name']})"
                )
                assert first["cause"] == INVALID_NUMBER_FORMAT, (extension, first)
                assert calls.contexts_reached().isdisjoint(
                    {"siminjected", "sim-world", "reccontrol-outbound-fallback",
                     "reccontrol-private-dial"}
                ), (extension, calls.contexts_reached())
            finally:
                await calls.hang_up()


async def test_c6_a2_a_clean_number_still_goes_out(asterisk: SandboxInstance) -> None:
    """C6, A2: with the controller down, a number of digits (a leading + included)
    still reaches the site's fallback and is dialled, as it is."""
    dialled = [
        ("sim-outphone", "sales-0612345678", "0612345678"),
        ("sim-outphone", "sales-+33612345678", "+33612345678"),
        ("sim-outphone", "sales-*770612345678", "0612345678"),
        ("sim-phone", "*770612345678", "0612345678"),
        ("sim-phone", "*77+33612345678", "+33612345678"),
    ]
    async with ari_app(asterisk, app="observer", subscribe_all=True) as ari:
        calls = Calls(ari)
        for context, extension, number in dialled:
            endpoint, variables = phone(context, extension)
            far = await calls.place(endpoint, variables, app="observer")
            try:
                first = await calls.first_of(entered("sim-world"), destroyed(far))
                assert first["type"] == "ChannelDialplan", (
                    f"{extension} from {context}: the call ended instead: {first}"
                )
                assert first["channel"]["dialplan"]["exten"] == number
            finally:
                await calls.hang_up()


async def test_r2_inbound_extension_and_did_add_no_stasis_argument(
    asterisk: SandboxInstance,
) -> None:
    """R2, A2: what the trunk sends never becomes an extra argument of the application
    (a third argument is the dialled number that makes a call private). The probe plays
    the controller: it holds the reccontrol application."""
    target = {"RECCONTROL_PRIVATE_TARGET": "Local/alice-talk@sim-agent"}
    cases: list[tuple[str, dict[str, str], list[str] | None]] = [
        # The number a caller dialled (RECCONTROL_DID) with an argument of its own: not
        # passed on, and the call goes on.
        ("Local/sales@sim-entry", {"SIM_DID": "0140000101,0140000102"}, ["inbound", "sales", ""]),
        ("Local/sales@sim-entry", {"SIM_DID": "+33140000101"}, ["inbound", "sales", DID]),
        # A service name carrying a private line's number as a third argument: refused.
        ("Local/sales,0140000101@reccontrol-inbound", {}, None),
        # A private line's number with an argument of its own: refused.
        ("Local/0140000101,x@reccontrol-private-line", target, None),
        ("Local/+33140000101@reccontrol-private-line", target, ["private-line", "+33140000101"]),
    ]
    async with ari_app(asterisk, app="reccontrol", subscribe_all=True) as ari:
        calls = Calls(ari)
        for endpoint, variables, expected in cases:
            far = await calls.place(endpoint, variables, context="sim-caller", extension="silent")
            try:
                first = await calls.first_of(started(far), destroyed(far))
                if expected is None:
                    assert first["type"] == "ChannelDestroyed", (
                        f"{endpoint} {variables}: entered with {first.get('args')}"
                    )
                    assert first["cause"] == INVALID_NUMBER_FORMAT, (endpoint, first)
                else:
                    assert first["type"] == "StasisStart", (
                        f"{endpoint} {variables}: the call ended instead: {first}"
                    )
                    assert first["args"] == expected, (endpoint, variables)
            finally:
                await calls.hang_up()
