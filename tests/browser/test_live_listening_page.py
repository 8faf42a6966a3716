"""Live listening from the ``/live`` page in a real browser, on the sandbox Asterisk (S8,
S2): a supervisor whose phone records what it hears (``sim-listener``) watches a call
appear and change state without a reload (Server-Sent Events), states a purpose and
presses "listen live"; the phone hears both parties until the agent's pause or private
key, which hangs it up at once. The audio the phone recorded is the evidence."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from controller.ari.errors import AriNotFound
from controller.calls.ids import listener_leg, snoop_channel
from tests.audio import read_wav, tone_seconds
from tests.browser.conftest import StartConsole
from tests.browser.pages import sign_in
from tests.browser.site import Account, ConsoleDaemon
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE
from tests.integration.listening import (
    MARKER,
    agent_presses,
    agent_waiting_for_keys,
    cut_after_key,
    gone,
    heard_by,
    heard_for,
    phone_hung_up,
    supervisor_phone,
)

CALLER_NUMBER = "+33611119999"
PURPOSE = "accompagnement d'un nouvel agent"
SUPERVISOR = "mleroy"
WITHIN_MS = 30_000
"""Playwright's waits: far beyond the normal time, as ``tests/waiting.py``'s."""


@dataclasses.dataclass(frozen=True)
class Listening:
    console: ConsoleDaemon
    supervisor: Account
    tag: str
    """Names the supervisor's phone and the agent's key trigger."""

    @property
    def phone(self) -> str:
        return supervisor_phone(self.tag)

    @property
    def heard(self) -> Path:
        return heard_by(self.console.site.instance, self.tag)


@pytest.fixture
def listening(start_console: StartConsole, accounts: dict[str, Account]) -> Iterator[Listening]:
    """The console's daemon of this test: the supervisor of ``sales`` has a phone that
    records what it hears, and ``sales`` calls reach an agent who presses keys when the
    test says. A daemon per test: the agent's trigger stays set once pulled."""
    tag = f"lvb{secrets.token_hex(4)}"
    supervisor = dataclasses.replace(accounts[SUPERVISOR], phone=supervisor_phone(tag))
    persons = accounts | {SUPERVISOR: supervisor}
    targets = {"sales": agent_waiting_for_keys(tag)}
    with start_console(tag, persons=persons, targets=targets) as console:
        yield Listening(console, supervisor, tag)


def state_text(page: Page, state: str) -> str:
    """What the page shows for ``state``, in the page's language."""
    text = page.locator("#live-calls").get_attribute(f"data-state-{state}")
    assert text, f"no text for the state {state}"
    return text


def open_live_page(page: Page, base: str) -> None:
    page.goto(f"{base}/live")
    status = page.locator("#live-status")
    connected = status.get_attribute("data-connected")
    assert connected
    expect(status).to_have_text(connected, timeout=WITHIN_MS)


def listen_live(page: Page, row: Locator, purpose: str) -> None:
    """States the purpose in the call's row and presses "listen live"."""
    row.locator("form.listen input[name=purpose]").fill(purpose)
    with page.expect_navigation():
        row.locator("form.listen button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize(
    ("key", "state"), [("*2", "paused"), ("*7", "private")], ids=["pause", "private"]
)
def test_s8_s2_the_supervisor_listens_from_the_live_page_until_the_agents_key(
    listening: Listening, page: Page, key: str, state: str
) -> None:
    """S8, S2: the call shows up on the open ``/live`` page by itself; the supervisor
    states a purpose and presses "listen live"; their phone is dialled and hears the
    caller and the agent. The agent's pause (A5) or private (A2) key hangs the phone up
    at once (nothing the agent hums after the key reaches it) and the page shows the
    call paused or private, then gone once the caller hangs up, with no reload. The
    listening is one access-log entry with the purpose; no number reaches the page."""
    console, base = listening.console, listening.console.url
    sign_in(page, base, listening.supervisor)
    before = console.last_seq()
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    open_live_page(page, base)
    rows = page.locator("#live-calls tbody tr")
    expect(rows).to_have_count(0)

    caller = console.on_asterisk(lambda board: board.call("sales", "c-talk-90", CALLER_NUMBER))
    try:
        expect(rows).to_have_count(1, timeout=WITHIN_MS)
        call_id = rows.first.get_attribute("data-call")
        assert call_id
        row = page.locator(f"#live-calls tbody tr[data-call='{call_id}']")
        expect(row.locator(".state")).to_have_text(state_text(page, "recording"), timeout=WITHIN_MS)
        assert loads == [f"{base}/live"], "the call appeared by a reload"

        listen_live(page, row, PURPOSE)
        assert page.url == f"{base}/live?outcome=dialling"
        console.run(heard_for(listening.heard, 3.0))
        console.on_asterisk(lambda board: agent_presses(board.client, listening.tag, key))

        console.on_asterisk(lambda board: gone(board.client, listener_leg(call_id, 1)))
        console.on_asterisk(lambda board: gone(board.client, snoop_channel(call_id, 1)))
        console.on_asterisk(lambda board: phone_hung_up(board.client, listening.phone))
        shown = state_text(page, state)
        expected = f"{shown} (agent_key)" if state == "paused" else shown
        expect(row.locator(".state")).to_have_text(expected, timeout=WITHIN_MS)
        assert CALLER_NUMBER not in page.content()
        console.on_asterisk(lambda board: board.client.hangup(caller.id))
        expect(row).to_have_count(0, timeout=WITHIN_MS)
    finally:
        with contextlib.suppress(AriNotFound):
            console.on_asterisk(lambda board: board.client.hangup(caller.id))
    assert loads == [f"{base}/live", f"{base}/live?outcome=dialling"], "a state came by a reload"

    audio = read_wav(listening.heard)
    assert tone_seconds(audio, CALLER_VOICE) >= 2.0 and tone_seconds(audio, AGENT_VOICE) >= 2.0
    leaked = tone_seconds(audio, MARKER)
    cut = cut_after_key(audio)
    print(f"measured live_page_{state} marker_heard_s={leaked:.3f} cut_after_key_s={cut:.3f}")
    assert leaked == 0.0
    listens = [
        (e.actor, e.action, e.target, e.result, e.purpose)
        for e in console.access_entries(before)
        if e.action.startswith("live_listen")
    ]
    assert listens == [(SUPERVISOR, "live_listen", f"call:{call_id}", "ok", PURPOSE)]

