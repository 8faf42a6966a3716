"""Listening in a real browser to a call the sandbox Asterisk recorded (S2, S4): the
purpose is stated on the call's page before any audio loads, the page's ``<audio>``
element reaches ``canplay``, its source answers a Range request with 206 and exactly
those bytes of the stored file, and the listen is one access-log entry however many
ranges the player asks for."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.audio import plaintext
from tests.browser.pages import CAN_PLAY, sign_in
from tests.browser.site import Account, ConsoleDaemon, RecordedCall

LISTEN_FORM = "form[action='/recordings/{recording}/listen']"


def listen_on_the_call_page(page: Page, base: str, call: RecordedCall, purpose: str) -> str:
    """Opens the call's page, states the purpose and asks to listen; the audio's URL."""
    page.goto(f"{base}/calls/{call.call_id}")
    form = page.locator(LISTEN_FORM.format(recording=call.recording_id))
    assert page.locator("audio").count() == 0, "audio offered before a purpose is stated"
    form.locator("select[name=purpose]").select_option(purpose)
    form.locator("input[name=detail]").fill("écoute de contrôle")
    form.locator("button[name=action][value=listen]").click()
    page.wait_for_load_state()
    source = page.locator("audio").get_attribute("src")
    assert source is not None
    return source


@pytest.mark.parametrize("pid", ["snguyen", "mleroy"])
def test_s2_s4_the_players_audio_element_can_play_a_real_recording(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    page: Page,
    pid: str,
) -> None:
    """S2, S4: the quality analyst and the supervisor of ``sales`` state a purpose on
    the call's page; the ``<audio>`` element reaches ``canplay`` on the file Asterisk
    recorded, and the listen is one access-log entry with that purpose."""
    call = recorded["sales"]
    sign_in(page, console.url, accounts[pid])
    before = console.last_seq()

    listen_on_the_call_page(page, console.url, call, "quality")
    state = page.locator("audio").evaluate(CAN_PLAY)

    assert state >= 3
    duration = page.locator("audio").evaluate("audio => audio.duration")
    assert duration == pytest.approx(call.summary["recordings"][0]["duration_seconds"], abs=0.1)
    listens = [e for e in console.access_entries(before) if e.action != "view"]
    assert [(e.actor, e.action, e.target, e.result) for e in listens] == [
        (pid, "listen", f"recording:{call.recording_id}", "ok")
    ]
    assert listens[0].purpose == "quality: écoute de contrôle"


def test_s4_a_range_of_the_recording_is_206_with_exactly_those_bytes(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    page: Page,
) -> None:
    """S4: the player's source answers ``Range: bytes=1000-1999`` with 206, the right
    ``Content-Range`` and the file's bytes 1000 to 1999; an open range and a suffix too;
    still one access-log entry for the listen."""
    call = recorded["sales"]
    stored = plaintext(Path(call.summary["recordings"][0]["path"]))
    sign_in(page, console.url, accounts["mleroy"])
    before = console.last_seq()
    source = listen_on_the_call_page(page, console.url, call, "training")
    url = f"{console.url}{source}"

    for asked, first, last in (
        ("bytes=1000-1999", 1000, 1999),
        (f"bytes={len(stored) - 300}-", len(stored) - 300, len(stored) - 1),
        ("bytes=-44", len(stored) - 44, len(stored) - 1),
    ):
        answer = page.request.get(url, headers={"Range": asked})
        assert answer.status == 206, asked
        assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(stored)}"
        assert answer.body() == stored[first : last + 1]

    listens = [e for e in console.access_entries(before) if e.action == "listen"]
    assert len(listens) == 1


def test_s11_the_dpo_redacts_a_span_from_the_call_page_in_a_browser(
    console: ConsoleDaemon,
    accounts: dict[str, Account],
    recorded: dict[str, RecordedCall],
    page: Page,
) -> None:
    """S11: on the page of a call the sandbox Asterisk recorded, the DPO fills the
    redaction form (span and purpose) and sends it; the answer shows the span silenced
    and the new version's hash, which the store now names, and the access log has the
    redaction. Last in this file: the recording's file changes."""
    call = recorded["sales"]
    sign_in(page, console.url, accounts["cdubois"])
    before = console.last_seq()
    page.goto(f"{console.url}/calls/{call.call_id}")
    form = page.locator(f"form[action='/calls/{call.call_id}/redact']")
    form.locator("select[name=recording]").select_option(call.recording_id)
    form.locator("input[name=from]").fill("0.2")
    form.locator("input[name=to]").fill("0.4")
    form.locator("input[name=purpose]").fill("the caller read a card number aloud")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()

    assert page.locator("dd.span").inner_text() == "0.200 s à 0.400 s"
    row = console.query(lambda s: s.recording(call.recording_id))
    assert row is not None and row.sha256 is not None
    assert page.locator("code.new-sha256").inner_text() == row.sha256
    assert row.sha256 != call.summary["recordings"][0]["sha256"]
    redactions = [e for e in console.access_entries(before) if e.action == "redact"]
    assert [(e.actor, e.target, e.result) for e in redactions] == [
        ("cdubois", f"recording:{call.recording_id}", "ok")
    ]
